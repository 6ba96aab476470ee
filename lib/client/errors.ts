import type { ErrorCode } from '../domain/errors.ts';
import { type JobOutcome, JobOutcomeSchema } from '../domain/job-outcome.ts';

/**
 * What a `SessionsApiError` can carry in `code`: a code of the contract, one
 * of the client's own for answers that do not carry a contract error body,
 * or (from a newer service) a code this version does not know yet.
 *
 * - `access_denied` — 401/403 from API Gateway: the signature or the IAM
 *   principal was refused before the request reached the service.
 * - `throttled` — 429 from API Gateway.
 * - `unexpected_response` — any other answer that is not what the contract
 *   promises (an unknown route, a body that does not parse or validate).
 */
export type ApiErrorCode = ErrorCode | 'forbidden' | 'job_finished' | 'access_denied' | 'throttled' | 'unexpected_response';

/** Base class of every error the client throws. */
export class SessionsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The fields of a `SessionsApiError`. */
export interface SessionsApiErrorInit {
  code: ApiErrorCode | (string & {});
  status: number;
  message: string;
  details?: Record<string, unknown>;
  requestId?: string | undefined;
  retryAfter?: number | undefined;
  attempts?: number;
}

/**
 * The API answered with an error. `code` is the contract's stable code;
 * `message` is the service's own, safe to show.
 */
export class SessionsApiError extends SessionsError {
  /** The contract's snake_case code (see `ApiErrorCode`). */
  readonly code: ApiErrorCode | (string & {});
  /** The HTTP status. */
  readonly status: number;
  /** The error body's `details` (`{}` when there were none). */
  readonly details: Record<string, unknown>;
  /** `details.request_id`, else the `apigw-requestid` or `x-amzn-requestid` header. */
  readonly requestId: string | undefined;
  /** Seconds the service asked to wait (`Retry-After`), when it did. */
  readonly retryAfter: number | undefined;
  /** Requests sent before giving up (1 when the call was not retried). */
  readonly attempts: number;

  constructor(init: SessionsApiErrorInit) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.attempts = init.attempts ?? 1;
  }

  /** True for the codes the service answers when it could not do the work now but may later. */
  get retryable(): boolean {
    return this.status === 503 || this.status === 429;
  }
}

function numberField(details: Record<string, unknown>, name: string): number | undefined {
  const value = details[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * 409 `lease_held`: another holder's lease on the session is live and the acquire did not force it.
 * Wait until `expiresAt`, or acquire with `force: true` to fence that holder out.
 */
export class LeaseHeldError extends SessionsApiError {
  /** Who holds the lease (`details.holder`), when the service said. */
  readonly holder: string | undefined;
  /** When that lease runs out, in Unix seconds (`details.expires_at`), when the service said. */
  readonly expiresAt: number | undefined;

  constructor(init: SessionsApiErrorInit) {
    super(init);
    this.holder = typeof this.details.holder === 'string' ? this.details.holder : undefined;
    this.expiresAt = numberField(this.details, 'expires_at');
  }
}

/** Why a lease is gone, as the service says it in `lease_lost`'s `details.reason`. */
export type LeaseLostReason = 'superseded' | 'expired' | 'released' | 'restored';

const LEASE_LOST_REASONS: readonly string[] = ['superseded', 'expired', 'released', 'restored'] satisfies LeaseLostReason[];

/**
 * 409 `lease_lost`: the `Lease-Epoch` sent names a lease that is no longer live; nothing was written.
 * The caller is fenced out: it must stop acting on the session.
 */
export class LeaseLostError extends SessionsApiError {
  /**
   * `superseded` (another acquire took it), `expired`, `released` or `restored` (an operator's forced restore ended it);
   * undefined if the service sent something else.
   */
  readonly reason: LeaseLostReason | undefined;
  /** The session's current epoch (`details.epoch`), when it has one. */
  readonly epoch: number | undefined;

  constructor(init: SessionsApiErrorInit) {
    super(init);
    const reason = this.details.reason;
    this.reason = typeof reason === 'string' && LEASE_LOST_REASONS.includes(reason) ? (reason as LeaseLostReason) : undefined;
    this.epoch = numberField(this.details, 'epoch');
  }
}

/** 428 `lease_required`: the session is held under a live lease, so the change must carry its `Lease-Epoch`. */
export class LeaseRequiredError extends SessionsApiError {
  /** The live lease's epoch (`details.epoch`), when the service said. */
  readonly epoch: number | undefined;

  constructor(init: SessionsApiErrorInit) {
    super(init);
    this.epoch = numberField(this.details, 'epoch');
  }
}

/**
 * 409 `job_finished`: the job already has a final outcome, and this one differs (or asks it to run again);
 * nothing was written. An outcome once recorded is kept.
 */
export class JobFinishedError extends SessionsApiError {
  /** The job (`details.job_id`), when the service said. */
  readonly jobId: string | undefined;
  /** The outcome recorded for it (`details.recorded`, or `details` itself), when the service sent one. */
  readonly recorded: JobOutcome | undefined;

  constructor(init: SessionsApiErrorInit) {
    super(init);
    this.jobId = typeof this.details.job_id === 'string' ? this.details.job_id : undefined;
    const recorded = JobOutcomeSchema.safeParse(this.details.recorded ?? this.details.outcome ?? this.details);
    this.recorded = recorded.success ? recorded.data : undefined;
  }
}

/** The error class for an API error with this `code`: the lease codes and `job_finished` have their own, every other code is a `SessionsApiError`. */
export function apiErrorFor(init: SessionsApiErrorInit): SessionsApiError {
  switch (init.code) {
    case 'job_finished':
      return new JobFinishedError(init);
    case 'lease_held':
      return new LeaseHeldError(init);
    case 'lease_lost':
      return new LeaseLostError(init);
    case 'lease_required':
      return new LeaseRequiredError(init);
    default:
      return new SessionsApiError(init);
  }
}

/**
 * No HTTP answer: the connection failed, was reset or timed out. For a
 * change, the request may or may not have been applied.
 */
export class SessionsNetworkError extends SessionsError {
  /** `METHOD /path` of the request, without host, query or credentials. */
  readonly request: string;
  /** The underlying system code when there is one (`ECONNREFUSED`, `ETIMEDOUT`…). */
  readonly errno: string | undefined;
  /** Requests sent before giving up. */
  readonly attempts: number;

  constructor(request: string, errno: string | undefined, attempts: number, options?: ErrorOptions) {
    super(`${request} failed: ${errno ?? 'network error'}`, options);
    this.request = request;
    this.errno = errno;
    this.attempts = attempts;
  }
}

/** The client cannot sign: no AWS region could be determined, or no credentials were found. */
export class SessionsConfigError extends SessionsError {}

/** `resumeByName` found no session of that name that is paused or active. */
export class NoResumableSession extends SessionsError {
  /** The name looked for. */
  readonly sessionName: string;

  constructor(sessionName: string) {
    super(`no paused or active session named ${JSON.stringify(sessionName)}`);
    this.sessionName = sessionName;
  }
}

/** Why a `HeldLease` ended without `stop()`: the service fenced it out, or no heartbeat got through before it ran out. */
export type LeaseLossReason = LeaseLostReason | 'refused';

/**
 * A held lease is gone: the `reason` of `HeldLease.signal`. `reason` is the service's (`superseded`,
 * `released`, `expired`, `restored`), or `expired` when no heartbeat was accepted before the lease ran out on the
 * client's own reckoning, or `refused` when a heartbeat was refused for another reason (the cause says which).
 */
export class LeaseLoss extends SessionsError {
  readonly sessionId: string;
  readonly reason: LeaseLossReason;
  /** The epoch that was held. */
  readonly heldEpoch: number;
  /** The session's current epoch, when the service said (the one that superseded `heldEpoch`). */
  readonly epoch: number | undefined;

  constructor(sessionId: string, reason: LeaseLossReason, heldEpoch: number, epoch: number | undefined, options?: ErrorOptions) {
    super(`lease on session ${sessionId} lost: ${describeLoss(reason, epoch, options?.cause)}`, options);
    this.sessionId = sessionId;
    this.reason = reason;
    this.heldEpoch = heldEpoch;
    this.epoch = epoch;
  }
}

function describeLoss(reason: LeaseLossReason, epoch: number | undefined, cause: unknown): string {
  const because = cause instanceof Error ? ` (${cause.message})` : '';
  switch (reason) {
    case 'superseded':
      return epoch === undefined ? 'superseded by another holder' : `superseded by epoch ${epoch}`;
    case 'released':
      return 'released (the session was paused, completed or terminated)';
    case 'restored':
      return "ended by an operator's restore";
    case 'expired':
      return `expired before a heartbeat got through${because}`;
    case 'refused':
      return `a heartbeat was refused${because}`;
  }
}
