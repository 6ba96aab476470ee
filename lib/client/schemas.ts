import type { ErrorCode } from '../domain/errors.ts';
import { LeaseSchema, SessionSchema, SessionStatusSchema } from '../domain/session.ts';
import * as z from '../domain/zod.ts';

/** The HTTP status each code of the contract is sent with; the `Record` type makes it list every `ErrorCode`. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  session_not_found: 404,
  session_not_active: 409,
  session_full: 409,
  invalid_transition: 409,
  job_finished: 409,
  versioning_disabled: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  lease_held: 409,
  lease_lost: 409,
  lease_required: 428,
  conflict_retry: 503,
  storage_unavailable: 503,
  internal_error: 500,
};

/** Every `code` of the HTTP contract, at run time (the `ErrorCode` union exists only for the type checker). */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/**
 * The body of every error response. `code` is read as a plain string so that a
 * client keeps working when a newer service adds codes.
 */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string().check(z.minLength(1)),
    message: z.string(),
    details: z._default(z.record(z.string(), z.unknown()), {}),
  }),
});

/** The error body as the service sends it, with the contract's codes (for the OpenAPI document). */
export const ContractErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

/** `GET /sessions`: a page of sessions, newest first, and where the next page starts. */
export const SessionListSchema = z.object({
  sessions: z.array(SessionSchema),
  next_cursor: z.nullable(z.string()),
});
export type SessionList = z.infer<typeof SessionListSchema>;

/** One entry of a session's history: a stored version, when and by whom it was written, and what it changed. */
export const HistoryEntrySchema = z.object({
  version_id: z.string(),
  at: z.number().check(z.int(), z.nonnegative()),
  actor: z.nullable(z.string()),
  change: z.string(),
  session: SessionSchema,
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

/** `GET /sessions/{id}/history`: a page of versions, newest first, and where the next (older) page starts. */
export const SessionHistorySchema = z.object({
  versions: z.array(HistoryEntrySchema),
  next_cursor: z.nullable(z.string()),
});

/** `POST /sessions/{id}/heartbeat`: the lease, extended. */
export const HeartbeatAnswerSchema = z.looseObject({
  lease: LeaseSchema,
});

/** A change's answer under `Prefer: return=minimal`: the session's identity, status, job count, time and lease. */
export const SessionSummarySchema = z.looseObject({
  id: z.string(),
  status: SessionStatusSchema,
  job_count: z.number(),
  updated_at: z.number(),
  lease: z.nullable(LeaseSchema),
});
export type SessionSummary = z.infer<typeof SessionSummarySchema>;
