import { z } from 'zod';
import { MAX_HISTORY_LIMIT, VERSION_ID_PATTERN } from '../history.ts';
import { isSessionId } from '../ids.ts';
import { JobIdSchema, SessionNameSchema, SessionStatusSchema } from '../session.ts';

/** A session ID in the path: exactly `^[0-9a-f]{32}$`, checked before anything touches storage. */
export const SessionIdSchema = z.string().refine(isSessionId, { message: 'must be 32 lowercase hexadecimal characters' });

/** `/sessions/{id}`. */
export const SessionPathSchema = z.object({ id: SessionIdSchema });

/** One entity tag (quoted, weak or bare); `*` means "any version" and sets no condition. */
const IfMatchSchema = z
  .string()
  .trim()
  .refine((value) => value === '*' || /^(W\/)?"[^"]*"$/.test(value) || /^[^\s",]+$/.test(value), {
    message: 'must be * or a single entity tag',
  })
  .transform((value) => (value === '*' ? undefined : value));

/** The optional `If-Match` of a change: apply it only to that version of the session (412 otherwise). */
export const IfMatchHeadersSchema = z.object({ 'if-match': IfMatchSchema.optional() });

/** `POST /sessions` body: an optional name; no body at all is the same as `{}`. */
export const CreateSessionBodySchema = z.strictObject({ name: SessionNameSchema.nullable().optional() });

/** An `Idempotency-Key`: 1–255 printable ASCII characters (it is hashed, never stored or echoed). */
export const IdempotencyKeySchema = z.string().regex(/^[\x20-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters');

/** `POST /sessions` headers: the optional `Idempotency-Key` that makes a repeat answer the same session. */
export const CreateSessionHeadersSchema = z.object({ 'idempotency-key': IdempotencyKeySchema.optional() });

/** `POST /sessions/{id}/jobs` body. */
export const AddJobBodySchema = z.strictObject({ job_id: JobIdSchema });

/** `PATCH /sessions/{id}` body. */
export const SetStatusBodySchema = z.strictObject({ status: SessionStatusSchema });

/** `GET /sessions` query; unknown parameters are refused so that a typo cannot widen a listing. */
export const ListSessionsQuerySchema = z.strictObject({
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .refine((limit) => limit >= 1 && limit <= 100, 'must be an integer from 1 to 100')
    .optional(),
  cursor: z.string().min(1).optional(),
  status: SessionStatusSchema.optional(),
  name: SessionNameSchema.optional(),
});

/** `GET /sessions/{id}/history` query: page size (1–100, default 20) and the previous page's cursor; nothing else. */
export const SessionHistoryQuerySchema = z.strictObject({
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, `must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
    .transform(Number)
    .refine((limit) => limit >= 1 && limit <= MAX_HISTORY_LIMIT, `must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
    .optional(),
  cursor: z.string().min(1).optional(),
});

/** A version ID as the history lists it: 1–1024 printable ASCII characters without spaces. */
export const VersionIdSchema = z.string().regex(VERSION_ID_PATTERN, 'must be a version_id from the session history (1-1024 printable ASCII characters)');

/** `POST /sessions/{id}/restore` body: the version to make current again. */
export const RestoreSessionBodySchema = z.strictObject({ version_id: VersionIdSchema });
