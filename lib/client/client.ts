import { randomUUID } from 'node:crypto';
import { type Lease, type Session, SessionSchema, type SessionStatus } from '../domain/session.ts';
import type * as z from '../domain/zod.ts';
import { apiErrorFor, LeaseLostError, NoResumableSession, SessionsApiError, SessionsConfigError, SessionsNetworkError } from './errors.ts';
import { type HeldLease, type HoldLeaseOptions, holdLease } from './held-lease.ts';
import { DEFAULT_RETRY, parseRetryAfter, type RetryOptions, retryDelay } from './retry.ts';
import {
  ErrorBodySchema,
  HeartbeatAnswerSchema,
  type HistoryEntry,
  SessionHistorySchema,
  SessionListSchema,
  type SessionSummary,
  SessionSummarySchema,
} from './schemas.ts';
import { type AwsCredentials, type AwsCredentialsProvider, isLoopback, RequestSigner, resolveRegion } from './signing.ts';

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
  /** Sign with SigV4. Default: true, except for loopback URLs (the local server). */
  sign?: boolean | undefined;
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
  /** Who holds that lease (default: the caller's IAM principal, `local` locally). */
  holder?: string | undefined;
}

/** Options of `acquireLease`. */
export interface AcquireLeaseOptions {
  /** The runner's name for itself, 1–256 characters (default: the caller's IAM principal, `local` locally). */
  holder?: string | undefined;
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

interface Call {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * `true`: safe to send again when an attempt failed or the answer was lost. `'unapplied'`: sent again only
   * after an answer that says nothing was done (429, 503 `conflict_retry`), never after a lost answer.
   */
  retryable: boolean | 'unapplied';
  /** Ends this call besides the client's own signal. */
  signal?: AbortSignal | undefined;
}

interface Answer {
  response: Response;
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A typed client for the runner-sessions HTTP API (v1). One method per route;
 * responses are validated against the zod schemas; failures are thrown as
 * `SessionsApiError` (the API answered with an error), `SessionsNetworkError`
 * (no answer) or `SessionsConfigError` (cannot sign).
 *
 * Every call but `acquireLease` is safe to repeat — reads, add-job (idempotent
 * by job ID), status changes (idempotent), heartbeats (idempotent for one epoch)
 * and creates (each sent with an `Idempotency-Key`) — and is retried on 503,
 * 429 and network errors with capped exponential backoff and full jitter,
 * honouring `Retry-After`. An acquire is retried only after an answer that says
 * nothing was done (429, 503 `conflict_retry`): repeated after a lost answer it
 * would bump the epoch again and fence out its own first attempt.
 *
 * @example
 * const client = new SessionsClient({ baseUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com' });
 * const { session } = await client.createSession({ name: 'ssh-import' });
 * await client.addJob(session.id, 'job-123');
 * for await (const s of client.sessions({ status: 'active' })) console.log(s.id);
 */
export class SessionsClient {
  /** The API's base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #signer: RequestSigner | undefined;

  constructor(options: SessionsClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new SessionsConfigError(`the API URL must be http:// or https://, got ${base.protocol}`);
    }
    if (base.username !== '' || base.password !== '') {
      throw new SessionsConfigError('the API URL must not contain a user name or password');
    }
    this.#origin = base.origin;
    this.#basePath = base.pathname.replace(/\/+$/, '');
    this.baseUrl = this.#origin + this.#basePath;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = { ...DEFAULT_RETRY, ...definedFields(options.retry ?? {}) };
    if (!Number.isInteger(this.#retry.maxAttempts) || this.#retry.maxAttempts < 1) {
      throw new SessionsConfigError(`retry.maxAttempts must be a positive integer, got ${this.#retry.maxAttempts}`);
    }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#signal = options.signal;
    const sign = options.sign ?? !isLoopback(base);
    this.#signer = sign
      ? new RequestSigner({ region: resolveRegion(base, options.region, options.env ?? process.env), credentials: options.credentials })
      : undefined;
  }

  /**
   * `POST /sessions`: opens an active session with no jobs. Sent with an
   * `Idempotency-Key` (the one given, else a new random UUID) that every retry
   * repeats, so a retry after a lost answer gets the same session, not a second one.
   * @throws SessionsApiError `invalid_request` (400) when the key was already used for another name
   */
  async createSession({ name, idempotencyKey = randomUUID(), leaseSeconds, holder }: CreateSessionOptions = {}): Promise<CreatedSession> {
    const answer = await this.#send({
      method: 'POST',
      path: '/sessions',
      body: definedFields({ name, lease_seconds: leaseSeconds, holder }),
      headers: { 'idempotency-key': idempotencyKey },
      retryable: true,
    });
    return {
      ...this.#versioned(answer),
      location: answer.response.headers.get('location') ?? undefined,
      replayed: answer.response.headers.get('idempotent-replayed') === 'true',
      idempotencyKey,
    };
  }

  /** `GET /sessions/{id}`. @throws SessionsApiError `session_not_found` (404), `invalid_request` (400) */
  async getSession(id: string): Promise<VersionedSession> {
    return this.#versioned(await this.#send({ method: 'GET', path: sessionPath(id), retryable: true }));
  }

  /**
   * `POST /sessions/{id}/jobs`: appends a job ID; one already in the session changes nothing.
   * @throws SessionsApiError `session_not_active`, `session_full` (409), `precondition_failed` (412), `session_not_found` (404)
   */
  async addJob(id: string, jobId: string, options: ChangeOptions = {}): Promise<VersionedSession> {
    return this.#versioned(
      await this.#send({
        method: 'POST',
        path: `${sessionPath(id)}/jobs`,
        body: { job_id: jobId },
        headers: changeHeaders(options),
        retryable: true,
      }),
    );
  }

  /**
   * `POST /sessions/{id}/jobs` with `Prefer: return=minimal`: appends a job ID and answers only the session's
   * summary (`id`, `status`, `job_count`, `updated_at`, `lease`) and ETag, so that what each append downloads does
   * not grow with the session. For runners that append and need not read the session back.
   * @throws as {@link addJob}
   */
  async appendJob(id: string, jobId: string, options: ChangeOptions = {}): Promise<{ summary: SessionSummary; etag: string | undefined }> {
    const answer = await this.#send({
      method: 'POST',
      path: `${sessionPath(id)}/jobs`,
      body: { job_id: jobId },
      headers: { ...changeHeaders(options), prefer: 'return=minimal' },
      retryable: true,
    });
    return { summary: parse(SessionSummarySchema, answer, 'a session summary'), etag: answer.response.headers.get('etag') ?? undefined };
  }

  /**
   * `PATCH /sessions/{id}`: moves the session to `status`; the status it already has is a no-op.
   * With `leaseEpoch`, a move to paused, completed or terminated releases the lease.
   * @throws SessionsApiError `invalid_transition` (409), `precondition_failed` (412), `session_not_found` (404)
   * @throws LeaseLostError, LeaseRequiredError
   */
  async setStatus(id: string, status: SessionStatus, options: ChangeOptions = {}): Promise<VersionedSession> {
    try {
      return this.#versioned(
        await this.#send({ method: 'PATCH', path: sessionPath(id), body: { status }, headers: changeHeaders(options), retryable: true }),
      );
    } catch (error) {
      // A retry after a lost answer finds the lease released by the change it repeats: that is the change done, not a loss.
      if (error instanceof LeaseLostError && error.attempts > 1 && error.reason === 'released' && error.epoch === options.leaseEpoch) {
        const current = await this.getSession(id);
        if (current.session.status === status) return current;
      }
      throw error;
    }
  }

  /**
   * `POST /sessions/{id}/lease`: takes the session's lease, with an epoch one above the last; a paused
   * session becomes active (this is the resume). Not repeated after a lost answer, since a second acquire
   * would supersede the first: after a `SessionsNetworkError`, read the session to see who holds it.
   * @throws LeaseHeldError (409) when another holder's lease is live and `force` is not set
   * @throws SessionsApiError `invalid_transition` (409) on a completed or terminated session, `session_not_found` (404)
   */
  async acquireLease(id: string, { holder, seconds, force }: AcquireLeaseOptions = {}): Promise<VersionedSession> {
    return this.#versioned(
      await this.#send({
        method: 'POST',
        path: `${sessionPath(id)}/lease`,
        body: definedFields({ holder, seconds, force }),
        retryable: 'unapplied',
      }),
    );
  }

  /**
   * `POST /sessions/{id}/heartbeat`: extends the lease of epoch `epoch` to now + `seconds`, and answers it.
   * Safe to repeat for the same epoch, so it is retried like a read.
   * @throws LeaseLostError (409) when that lease is no longer live: superseded, expired or released
   */
  async heartbeat(id: string, epoch: number, { seconds, signal }: HeartbeatOptions = {}): Promise<Lease> {
    const answer = await this.#send({
      method: 'POST',
      path: `${sessionPath(id)}/heartbeat`,
      body: definedFields({ seconds }),
      headers: { 'lease-epoch': String(epoch) },
      retryable: true,
      signal,
    });
    return parse(HeartbeatAnswerSchema, answer, 'a lease').lease;
  }

  /**
   * Keeps the session's lease alive in the background until `stop()` — acquiring it first unless `epoch`
   * or `lease` says it is held — and aborts `signal` when it is lost. See `holdLease`.
   */
  holdLease(id: string, options: HoldLeaseOptions = {}): Promise<HeldLease> {
    return holdLease(this, id, options);
  }

  /** `setStatus(id, 'paused')`: the runner lost its connection. */
  pause(id: string, options?: ChangeOptions): Promise<VersionedSession> {
    return this.setStatus(id, 'paused', options);
  }

  /** `setStatus(id, 'active')`: the runner is back; jobs can be added again. */
  resume(id: string, options?: ChangeOptions): Promise<VersionedSession> {
    return this.setStatus(id, 'active', options);
  }

  /** `setStatus(id, 'completed')` (final). */
  complete(id: string, options?: ChangeOptions): Promise<VersionedSession> {
    return this.setStatus(id, 'completed', options);
  }

  /** `setStatus(id, 'terminated')` (final). */
  terminate(id: string, options?: ChangeOptions): Promise<VersionedSession> {
    return this.setStatus(id, 'terminated', options);
  }

  /** `GET /sessions`: one page, newest first. @throws SessionsApiError `invalid_request` (400) for a bad limit, cursor or status */
  async listSessions({ limit, cursor, status, name }: ListSessionsOptions = {}): Promise<SessionPage> {
    const answer = await this.#send({ method: 'GET', path: '/sessions', query: { limit, cursor, status, name }, retryable: true });
    const page = parse(SessionListSchema, answer, 'a session list');
    return { sessions: page.sessions, nextCursor: page.next_cursor };
  }

  /**
   * Every session, newest first, fetching pages of `pageSize` as the loop
   * asks for them: `for await (const s of client.sessions({ status: 'active' }))`.
   */
  async *sessions(filter: SessionFilter = {}): AsyncGenerator<Session, void, undefined> {
    for await (const page of this.sessionPages(filter)) yield* page.sessions;
  }

  /**
   * Every page of sessions, newest first, each fetched when the loop asks for
   * it, from `cursor` (the first page when undefined) to the last.
   */
  async *sessionPages({
    status,
    name,
    pageSize,
    cursor,
  }: SessionFilter & { cursor?: string | undefined } = {}): AsyncGenerator<SessionPage, void, undefined> {
    do {
      const page = await this.listSessions({ limit: pageSize, cursor, status, name });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * What a runner does when it reconnects: finds the newest session named
   * `name` that is paused or active, resumes it if it is paused, and answers
   * it, active, with its ETag.
   * @throws NoResumableSession when no session of that name is paused or active.
   * @throws SessionsApiError `invalid_transition` (409) when it was completed or terminated meanwhile.
   */
  async resumeByName(name: string, { pageSize }: { pageSize?: number | undefined } = {}): Promise<ResumedSession> {
    for await (const session of this.sessions({ name, pageSize })) {
      if (session.status !== 'paused' && session.status !== 'active') continue;
      // For an active session this is a no-op that writes nothing and answers the current ETag.
      const resumed = await this.resume(session.id);
      return { ...resumed, wasPaused: session.status === 'paused' };
    }
    throw new NoResumableSession(name);
  }

  /**
   * What a runner does when it reconnects, under a lease: finds the newest session named `name` that is
   * paused or active and acquires its lease (which resumes it). A session completed or terminated meanwhile
   * is passed over for the next older one.
   * @throws NoResumableSession when no session of that name is paused or active.
   * @throws LeaseHeldError when another holder's lease on it is live (and `force` is not set).
   */
  async acquireByName(name: string, { pageSize, ...lease }: AcquireByNameOptions = {}): Promise<ResumedSession> {
    for await (const session of this.sessions({ name, pageSize })) {
      if (session.status !== 'paused' && session.status !== 'active') continue;
      try {
        const acquired = await this.acquireLease(session.id, lease);
        return { ...acquired, wasPaused: session.status === 'paused' };
      } catch (error) {
        if (error instanceof SessionsApiError && error.code === 'invalid_transition') continue;
        throw error;
      }
    }
    throw new NoResumableSession(name);
  }

  /**
   * `GET /sessions/{id}/history`: one page of the session's versions, newest
   * first, each with when and by whom it was written and what it changed.
   * @throws SessionsApiError `session_not_found` (404), `versioning_disabled` (409), `invalid_request` (400) for a bad limit or cursor
   */
  async history(id: string, { limit, cursor }: HistoryOptions = {}): Promise<HistoryPage> {
    const answer = await this.#send({ method: 'GET', path: `${sessionPath(id)}/history`, query: { limit, cursor }, retryable: true });
    const page = parse(SessionHistorySchema, answer, 'a session history');
    return { versions: page.versions, nextCursor: page.next_cursor };
  }

  /**
   * The session's whole history, newest first, fetching pages of `pageSize`
   * as the loop asks for them: `for await (const entry of client.versions(id))`.
   */
  async *versions(id: string, { pageSize }: { pageSize?: number | undefined } = {}): AsyncGenerator<HistoryEntry, void, undefined> {
    for await (const page of this.historyPages(id, { pageSize })) yield* page.versions;
  }

  /** Every page of the session's history, newest first, each fetched when the loop asks for it, from `cursor` on. */
  async *historyPages(
    id: string,
    { pageSize, cursor }: { pageSize?: number | undefined; cursor?: string | undefined } = {},
  ): AsyncGenerator<HistoryPage, void, undefined> {
    do {
      const page = await this.history(id, { limit: pageSize, cursor });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * `POST /sessions/{id}/restore`: makes the content of version `versionId`
   * (a `version_id` of its history) current again, as a new version. Safe to
   * repeat: restoring content the session already has changes nothing.
   * @throws SessionsApiError `invalid_request` (400) for a version the session does not have, `session_not_found` (404),
   *   `versioning_disabled` (409), `precondition_failed` (412)
   */
  async restore(id: string, versionId: string, { ifMatch }: Pick<ChangeOptions, 'ifMatch'> = {}): Promise<VersionedSession> {
    return this.#versioned(
      await this.#send({
        method: 'POST',
        path: `${sessionPath(id)}/restore`,
        body: { version_id: versionId },
        headers: ifMatchHeader(ifMatch),
        retryable: true,
      }),
    );
  }

  readonly #redact = (text: string): string => this.#signer?.redact(text) ?? text;

  #versioned(answer: Answer): VersionedSession {
    return { session: parse(SessionSchema, answer, 'a session'), etag: answer.response.headers.get('etag') ?? undefined };
  }

  async #send(call: Call): Promise<Answer> {
    const maxAttempts = call.retryable === false ? 1 : this.#retry.maxAttempts;
    const deadline =
      call.signal !== undefined && this.#signal !== undefined
        ? AbortSignal.any([call.signal, this.#signal])
        : (call.signal ?? this.#signal);
    const gaveUp = (attempt: number, cause?: unknown): SessionsNetworkError =>
      new SessionsNetworkError(`${call.method} ${call.path}`, cause === undefined ? abortReason(deadline) : errnoOf(cause), attempt, {
        cause,
      });
    for (let attempt = 1; ; attempt++) {
      if (deadline?.aborted) throw gaveUp(attempt - 1);
      // Signed per attempt: each one carries its own x-amz-date.
      const request = await this.#request(call);
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      let answer: Answer;
      try {
        const response = await this.#fetch(request.url, {
          ...request.init,
          signal: deadline ? AbortSignal.any([timeout, deadline]) : timeout,
        });
        answer = { response, body: parseJson(await response.text()) };
      } catch (error) {
        if (call.retryable === true && attempt < maxAttempts && !deadline?.aborted) {
          await sleep(retryDelay(attempt, undefined, this.#retry), deadline);
          continue;
        }
        throw gaveUp(attempt, error);
      }
      if (answer.response.ok) return answer;
      const error = apiError(answer, attempt, this.#redact);
      const retry = call.retryable === 'unapplied' ? error.status === 429 || error.code === 'conflict_retry' : error.retryable;
      if (!retry || attempt >= maxAttempts || deadline?.aborted) throw error;
      await sleep(retryDelay(attempt, error.retryAfter, this.#retry), deadline);
    }
  }

  /** The URL and fetch options of `call`, signed when the client signs. */
  async #request(call: Call): Promise<{ url: URL; init: RequestInit }> {
    const url = new URL(this.#basePath + call.path, this.#origin);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...call.headers,
    };
    const sent = this.#signer === undefined ? headers : await this.#signer.sign({ method: call.method, url, headers, body });
    return { url, init: { method: call.method, headers: sent, body } };
  }
}

/** Waits `ms`, or less when `signal` aborts first; never rejects. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `TimeoutError` for a deadline (`AbortSignal.timeout`), `AbortError` for a cancellation. */
function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError';
}

function sessionPath(id: string): string {
  return `/sessions/${encodeURIComponent(id)}`;
}

function ifMatchHeader(ifMatch: string | undefined): Record<string, string> {
  return ifMatch === undefined ? {} : { 'if-match': ifMatch };
}

function changeHeaders({ ifMatch, leaseEpoch }: ChangeOptions): Record<string, string> {
  return { ...ifMatchHeader(ifMatch), ...(leaseEpoch === undefined ? {} : { 'lease-epoch': String(leaseEpoch) }) };
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** The body as JSON, or `undefined` when it is empty or not JSON (an error answer from a proxy). */
function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parse<T extends z.ZodMiniType>(schema: T, answer: Answer, what: string): z.infer<T> {
  const parsed = schema.safeParse(answer.body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new SessionsApiError({
    code: 'unexpected_response',
    status: answer.response.status,
    message: `the API answered ${answer.response.status} but the body is not ${what}${issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : ''}`,
    requestId: headerRequestId(answer.response),
  });
}

/** The typed error for a non-2xx answer: the contract's error body when there is one, else a code from the status. */
function apiError(answer: Answer, attempts: number, redact: (text: string) => string): SessionsApiError {
  const { response } = answer;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  const contract = ErrorBodySchema.safeParse(answer.body);
  if (contract.success) {
    const { code, message, details } = contract.data.error;
    const requestId = typeof details.request_id === 'string' ? details.request_id : headerRequestId(response);
    return apiErrorFor({ code, status: response.status, message: redact(message), details, requestId, retryAfter, attempts });
  }
  const given = messageOf(answer.body);
  const gatewayMessage =
    given === undefined ? `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` : redact(given);
  const code =
    response.status === 401 || response.status === 403 ? 'access_denied' : response.status === 429 ? 'throttled' : 'unexpected_response';
  return new SessionsApiError({
    code,
    status: response.status,
    message: gatewayMessage,
    requestId: headerRequestId(response),
    retryAfter,
    attempts,
  });
}

function headerRequestId(response: Response): string | undefined {
  return response.headers.get('apigw-requestid') ?? response.headers.get('x-amzn-requestid') ?? undefined;
}

/**
 * API Gateway's own errors are `{"message": "..."}` (sometimes `Message`). Only
 * the first paragraph is kept: a signature mismatch goes on to quote the
 * canonical request.
 */
function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { message, Message } = body as { message?: unknown; Message?: unknown };
  const text = typeof message === 'string' ? message : typeof Message === 'string' ? Message : undefined;
  return text
    ?.split(/\n\s*\n/, 1)[0]
    ?.trim()
    .slice(0, 500);
}

/** `ECONNREFUSED`, `TimeoutError`, `bad port`…: the most specific account of what went wrong, from fetch's error or its causes. */
function errnoOf(error: unknown): string | undefined {
  let deepest: string | undefined;
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return current.name;
    deepest = current.message || deepest;
  }
  return deepest;
}
