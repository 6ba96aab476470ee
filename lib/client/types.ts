/** The options and results of `SessionsClient`'s calls. */
import type { JobReport } from '../domain/job-outcome.ts';
import type { SessionStatus } from '../domain/session.ts';
import type { RetryOptions } from './retry.ts';
import type { HistoryEntry, Session } from './schemas.ts';
import type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';

/** Options of `SessionsClient`. */
export interface SessionsClientOptions {
  /** Where the API is: `https://{api}.execute-api.{region}.amazonaws.com`, a custom domain, or `http://127.0.0.1:3000`. A path prefix (a stage) is kept. */
  baseUrl: string | URL;
  /** The region to sign for; by default the one in an execute-api hostname, else `AWS_REGION` / `AWS_DEFAULT_REGION`. */
  region?: string | undefined;
  /** Credentials or a provider; by default the standard AWS chain, resolved on the first signed request. */
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch | undefined;
  /** Retries of calls that are safe to repeat; any field left out keeps its default (4 attempts, 200 ms, 5 s). */
  retry?: Partial<RetryOptions> | undefined;
  /** Sign with SigV4. Default: true, except for loopback URLs (the local server) and when a `token` is given. */
  sign?: boolean | undefined;
  /**
   * A bearer token of a local server started with `LOCAL_TOKEN` or `LOCAL_TOKEN_FILE`, sent as `Authorization: Bearer`;
   * requests are then not signed. Whose token it is decides which sessions the caller owns (its tenant) and whether it
   * is an operator.
   */
  token?: string | undefined;
  /** Per-attempt timeout in ms (default 10,000); a timeout counts as a network error, and is retried. */
  timeoutMs?: number | undefined;
  /**
   * Ends every call still running, retries and backoff included, when it aborts: an overall deadline
   * (`AbortSignal.timeout(30_000)`) or a cancellation. The call then throws a `SessionsNetworkError`.
   */
  signal?: AbortSignal | undefined;
  /** Where `AWS_REGION` and `AWS_DEFAULT_REGION` are read (default: `process.env`). */
  env?: Record<string, string | undefined> | undefined;
}

/** A session with the ETag of the version it was read or written as: pass `etag` as `ifMatch` to change exactly that version. */
export interface VersionedSession {
  session: Session;
  /** The `ETag` header, as sent (quoted); undefined only if the server sent none. */
  etag: string | undefined;
}

/** `createSession`'s result: the new session, its ETag and the `Location` header (`/sessions/<id>`). */
export interface CreatedSession extends VersionedSession {
  location: string | undefined;
  /** True when the API had seen the idempotency key before (200 `Idempotent-Replayed`): the session an earlier request opened. */
  replayed: boolean;
  /** The `Idempotency-Key` the create was sent with: pass it again to get this same session. */
  idempotencyKey: string;
}

/** Options of `createSession`. */
export interface CreateSessionOptions {
  name?: string | undefined;
  /** 1–255 printable ASCII characters; by default a random UUID, reused by the client's own retries. */
  idempotencyKey?: string | undefined;
  /** Opens the session held: a lease of this many seconds (5–3600), epoch 1. */
  leaseSeconds?: number | undefined;
  /** Who holds that lease (default: `HOST:PID` of this process). */
  holder?: string | undefined;
}

/** Options of `acquireLease`. */
export interface AcquireLeaseOptions {
  /** The runner's name for itself, 1–256 characters (default: `HOST:PID` of this process, unique to it). */
  holder?: string | undefined;
  /** The epoch of the live lease the caller holds, sent as `Lease-Epoch`: re-acquires it (new epoch, new length) without `force`. */
  leaseEpoch?: number | undefined;
  /** Lease length, 5–3600 seconds (the API's default is 60). */
  seconds?: number | undefined;
  /** Take the lease even while another holder's is live: that holder is fenced out. */
  force?: boolean | undefined;
}

/** Options of `heartbeat`. */
export interface HeartbeatOptions {
  /** Extend the lease to now + this many seconds (5–3600; default: the lease's own length). */
  seconds?: number | undefined;
  /** Ends the call, retries included, when it aborts (besides the client's own `signal`). */
  signal?: AbortSignal | undefined;
}

/** `resumeByName`'s result: the session, now active. */
export interface ResumedSession extends VersionedSession {
  /** True when it was paused when found (and this call resumed it); false when it was already active. */
  wasPaused: boolean;
}

/** Conditions of a change. */
export interface ChangeOptions {
  /** Applies the change only to the version with this ETag (the API answers 412 `precondition_failed` otherwise). */
  ifMatch?: string | undefined;
  /** The epoch of the lease the caller holds, sent as `Lease-Epoch`: required while the session is held (428 `lease_required` otherwise). */
  leaseEpoch?: number | undefined;
}

/**
 * Options of `addJob` and `appendJob`: how the job runs or ended, besides the conditions of a change. `state` is
 * `running` or a final `succeeded`, `failed`, `cancelled`; `exitCode` (a 32-bit integer) and `signal` (`SIGKILL`)
 * go with a final state. Without `state` the job is only appended.
 */
export interface AppendJobOptions extends ChangeOptions, JobReport {}

/** Options of `restoreSession`. */
export interface RestoreOptions {
  /** Restores only the version with this ETag (412 `precondition_failed` otherwise). */
  ifMatch?: string | undefined;
  /** Restore even while a lease is live: its holder is fenced out (`lease_lost`, reason `restored`). */
  force?: boolean | undefined;
}

/** `acquireByName`'s options: the lease to take and how many sessions to read per page while looking. */
export interface AcquireByNameOptions extends AcquireLeaseOptions {
  pageSize?: number | undefined;
}

export interface ListSessionsOptions {
  /** 1–100 (the API's default is 50). */
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
  status?: SessionStatus | undefined;
  /** Only the sessions with exactly this name. */
  name?: string | undefined;
  /** `me`: only the caller's own sessions (`owner=me`). */
  owner?: 'me' | undefined;
}

/** One page of sessions, newest first. */
export interface SessionPage {
  sessions: Session[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Which sessions `sessions` and `sessionPages` walk through, and in pages of how many. */
export interface SessionFilter {
  status?: SessionStatus | undefined;
  /** Only the sessions with exactly this name. */
  name?: string | undefined;
  /** `me`: only the caller's own sessions. */
  owner?: 'me' | undefined;
  /** 1–100 sessions per request (the API's default is 50). */
  pageSize?: number | undefined;
}

export interface HistoryOptions {
  /** 1–100 (the API's default is 20). */
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

/** One page of a session's history, newest first. */
export interface HistoryPage {
  versions: HistoryEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}
