import type { JobOutcome } from './job-outcome.ts';

/** The stable, snake_case error codes of the HTTP contract. */
export type ErrorCode =
  | 'invalid_request'
  | 'session_not_found'
  | 'session_not_active'
  | 'session_full'
  | 'invalid_transition'
  | 'job_finished'
  | 'versioning_disabled'
  | 'precondition_failed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'lease_held'
  | 'lease_lost'
  | 'lease_required'
  | 'conflict_retry'
  | 'storage_unavailable'
  | 'internal_error';

export type ErrorDetails = Record<string, unknown>;

/** The body of every error response: `{"error": {"code", "message", "details"}}`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: ErrorDetails };
}

/**
 * Base of every error the service reports to callers: a stable `code`, the
 * HTTP status it maps to, a message safe to show, and structured details.
 * Internals (stacks, AWS messages, bucket names) travel only in `cause`,
 * which is logged and never serialised.
 */
export abstract class ServiceError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly statusCode: number;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** One reason a request was refused: which field (`body.job_id`, `path.id`, `query.cursor`…) and why. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** A field failed validation; `details.issues` names each field and why. */
export class InvalidRequest extends ServiceError {
  readonly code = 'invalid_request';
  readonly statusCode = 400;
  constructor(issues: FieldIssue[], message = describe(issues)) {
    super(message, { issues });
  }

  /** A request refused for one field. */
  static field(field: string, message: string): InvalidRequest {
    return new InvalidRequest([{ field, message }]);
  }
}

function describe(issues: FieldIssue[]): string {
  const [first] = issues;
  if (first === undefined) return 'invalid request';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `${first.field}: ${first.message}${more}`;
}

export class SessionNotFound extends ServiceError {
  readonly code = 'session_not_found';
  readonly statusCode = 404;
  constructor(id: string) {
    super(`no session ${id}`, { id });
  }
}

export class SessionNotActive extends ServiceError {
  readonly code = 'session_not_active';
  readonly statusCode = 409;
  constructor(id: string, status: string) {
    super(`session ${id} is ${status}; jobs can be added only while it is active`, { id, status });
  }
}

export class SessionFull extends ServiceError {
  readonly code = 'session_full';
  readonly statusCode = 409;
  constructor(id: string, maxJobs: number) {
    super(`session ${id} already holds the maximum of ${maxJobs} jobs`, { id, max_jobs: maxJobs });
  }
}

export class InvalidTransition extends ServiceError {
  readonly code = 'invalid_transition';
  readonly statusCode = 409;
  constructor(id: string, from: string, to: string) {
    super(`session ${id} cannot go from ${from} to ${to}`, { id, from, to });
  }
}

/** The job has finished with another outcome than the one reported (or is reported running again): `details` is the recorded outcome. */
export class JobFinished extends ServiceError {
  readonly code = 'job_finished';
  readonly statusCode = 409;
  constructor(id: string, jobId: string, recorded: JobOutcome) {
    super(`job ${jobId} of session ${id} has already finished: ${recorded.state}`, { id, job_id: jobId, ...recorded });
  }
}

export class VersioningDisabled extends ServiceError {
  readonly code = 'versioning_disabled';
  readonly statusCode = 409;
  constructor() {
    super('the session store does not keep versions; history and restore need a versioned bucket');
  }
}

/** The caller's `If-Match` names a version that is no longer current. */
export class PreconditionFailed extends ServiceError {
  readonly code = 'precondition_failed';
  readonly statusCode = 412;
  constructor(id: string, ifMatch: string) {
    super(`session ${id} has changed since version ${ifMatch}; read it again and retry`, { id, if_match: ifMatch });
  }
}

export class PayloadTooLarge extends ServiceError {
  readonly code = 'payload_too_large';
  readonly statusCode = 413;
  constructor(limit: number) {
    super(`request body exceeds ${limit} bytes`, { limit_bytes: limit });
  }
}

export class UnsupportedMediaType extends ServiceError {
  readonly code = 'unsupported_media_type';
  readonly statusCode = 415;
  constructor(contentType: string | undefined) {
    super('request body must be application/json', { content_type: contentType ?? null });
  }
}

/** Why a holder's lease is gone: another acquire took it, it ran out, a status change released it, or a forced restore ended it. */
export type LeaseLostReason = 'superseded' | 'expired' | 'released' | 'restored';

/** Another holder's lease is live and the acquire did not ask to force it. */
export class LeaseHeld extends ServiceError {
  readonly code = 'lease_held';
  readonly statusCode = 409;
  constructor(id: string, holder: string, expiresAt: number) {
    super(`session ${id} is held by ${holder} until ${new Date(expiresAt * 1000).toISOString()}; wait, or acquire with force`, {
      id,
      holder,
      expires_at: expiresAt,
    });
  }
}

/** The caller's `Lease-Epoch` names a lease that is no longer live: nothing was written. */
export class LeaseLost extends ServiceError {
  readonly code = 'lease_lost';
  readonly statusCode = 409;
  constructor(id: string, reason: LeaseLostReason, epoch: number | null) {
    const why = {
      superseded: 'another holder took the lease over',
      expired: 'the lease expired',
      released: 'the lease was released',
      restored: 'an operator restored an earlier version',
    }[reason];
    super(`the lease on session ${id} is lost: ${why}`, { id, reason, epoch });
  }
}

/** The session's lease is live, so a change must carry its `Lease-Epoch`. */
export class LeaseRequired extends ServiceError {
  readonly code = 'lease_required';
  readonly statusCode = 428;
  constructor(id: string, epoch?: number) {
    super(
      epoch === undefined
        ? `a heartbeat of session ${id} must carry the Lease-Epoch of the lease it renews`
        : `session ${id} is held under a lease; send Lease-Epoch with the change, or take the lease over with force`,
      epoch === undefined ? { id } : { id, epoch },
    );
  }
}

/** Errors after which the caller should try again later (`Retry-After`, in seconds). */
export abstract class RetryableError extends ServiceError {
  readonly statusCode = 503;
  abstract readonly retryAfterSeconds: number;
}

/** The compare-and-swap loop ran out of attempts under contention. */
export class ConflictRetry extends RetryableError {
  readonly code = 'conflict_retry';
  readonly retryAfterSeconds = 1;
  constructor(id: string, attempts: number) {
    super(`session ${id} is being changed by other writers; retry shortly`, { id, attempts });
  }
}

/** The object store is throttling, failing or unreachable. */
export class StorageUnavailable extends RetryableError {
  readonly code = 'storage_unavailable';
  readonly retryAfterSeconds = 2;
  constructor(options?: ErrorOptions) {
    super('session storage is temporarily unavailable; retry shortly', {}, options);
  }
}

/** Anything unexpected. The message is generic on purpose; the cause is only logged. */
export class InternalError extends ServiceError {
  readonly code = 'internal_error';
  readonly statusCode = 500;
  constructor(requestId?: string, options?: ErrorOptions) {
    super('internal error', requestId ? { request_id: requestId } : {}, options);
  }
}
