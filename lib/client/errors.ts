import type { ErrorCode } from '../errors.ts';

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
export type ApiErrorCode = ErrorCode | 'access_denied' | 'throttled' | 'unexpected_response';

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
