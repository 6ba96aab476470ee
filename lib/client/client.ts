import { randomUUID } from 'node:crypto';
import type { JobCounts } from '../domain/job-outcome.ts';
import type { Lease, SessionStatus } from '../domain/session.ts';
import { defaultHolder, type HeldLease, type HoldLeaseOptions, holdLease } from './held-lease.ts';
import { appendJobCall } from './job-calls.ts';
import { acquireLeaseCall, heartbeatCall, mayBeOwnRelease, passOverEnded, takeNewest } from './lease-calls.ts';
import { pagesFrom } from './paging.ts';
import {
  HeartbeatAnswerSchema,
  type HistoryEntry,
  type Session,
  SessionHistorySchema,
  SessionListSchema,
  SessionSchema,
  type SessionSummary,
  SessionSummarySchema,
} from './schemas.ts';
import { type Answer, changeHeaders, definedFields, ifMatchHeader, parse, sessionPath, Transport } from './transport.ts';
import type {
  AcquireByNameOptions,
  AcquireLeaseOptions,
  AppendJobOptions,
  ChangeOptions,
  CreatedSession,
  CreateSessionOptions,
  HeartbeatOptions,
  HistoryOptions,
  HistoryPage,
  ListSessionsOptions,
  RestoreOptions,
  ResumedSession,
  SessionFilter,
  SessionPage,
  SessionsClientOptions,
  VersionedSession,
} from './types.ts';

export { defaultHolder } from './held-lease.ts';
export { jobCountsOf } from './job-calls.ts';
export type * from './types.ts';

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
  readonly #transport: Transport;

  constructor(options: SessionsClientOptions) {
    this.#transport = new Transport(options);
    this.baseUrl = this.#transport.baseUrl;
  }

  /**
   * `POST /sessions`: opens an active session with no jobs. Sent with an
   * `Idempotency-Key` (the one given, else a new random UUID) that every retry
   * repeats, so a retry after a lost answer gets the same session, not a second one.
   * @throws SessionsApiError `invalid_request` (400) when the key was already used for another name
   */
  async createSession({ name, idempotencyKey = randomUUID(), leaseSeconds, holder }: CreateSessionOptions = {}): Promise<CreatedSession> {
    const answer = await this.#transport.send({
      method: 'POST',
      path: '/sessions',
      body: definedFields({ name, lease_seconds: leaseSeconds, holder: leaseSeconds === undefined ? holder : (holder ?? defaultHolder()) }),
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
    return this.#versioned(await this.#transport.send({ method: 'GET', path: sessionPath(id), retryable: true }));
  }

  /**
   * `POST /sessions/{id}/jobs`: appends a job ID, and records how it runs or ended when `state` is given:
   * `running`, then a final `succeeded`, `failed` or `cancelled` (with `exitCode`, `signal`), or a final state
   * at once. A job already there changes nothing, nor does repeating its final outcome, so a retry is safe.
   * @throws JobFinishedError (409 `job_finished`) when the job already ended with another outcome, or `running` is asked of a finished job
   * @throws SessionsApiError `session_not_active`, `session_full` (409), `precondition_failed` (412), `session_not_found` (404),
   *   `forbidden` (403: the caller neither owns the session nor is an operator)
   * @throws LeaseLostError, LeaseRequiredError
   */
  async addJob(id: string, jobId: string, options: AppendJobOptions = {}): Promise<VersionedSession> {
    return this.#versioned(await this.#transport.send(appendJobCall(id, jobId, options, false)));
  }

  /**
   * `POST /sessions/{id}/jobs` with `Prefer: return=minimal`: as {@link addJob}, but answers only the session's
   * summary (`id`, `status`, `job_count`, `job_counts`, `updated_at`, `lease`) and ETag, so that what each append
   * downloads does not grow with the session. For runners that append and need not read the session back.
   * @example
   * await client.appendJob(id, 'build-42', { state: 'running', leaseEpoch });
   * await client.appendJob(id, 'build-42', { state: 'failed', exitCode: 2, leaseEpoch });
   * @throws as {@link addJob}
   */
  async appendJob(
    id: string,
    jobId: string,
    options: AppendJobOptions = {},
  ): Promise<{ summary: SessionSummary; jobCounts: JobCounts | undefined; etag: string | undefined }> {
    const answer = await this.#transport.send(appendJobCall(id, jobId, options, true));
    const summary = parse(SessionSummarySchema, answer, 'a session summary');
    return { summary, jobCounts: summary.job_counts, etag: answer.response.headers.get('etag') ?? undefined };
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
        await this.#transport.send({
          method: 'PATCH',
          path: sessionPath(id),
          body: { status },
          headers: changeHeaders(options),
          retryable: true,
        }),
      );
    } catch (error) {
      // A retry after a lost answer finds the lease released by the change it repeats: that is the change done, not a loss.
      if (mayBeOwnRelease(error, options)) {
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
   * A live lease is taken only with `force`, or by its holder presenting its epoch (`leaseEpoch`, sent as
   * `Lease-Epoch`): a re-acquire, with a new epoch and length. The holder defaults to `HOST:PID`.
   * @throws LeaseHeldError (409) when a lease is live, `force` is not set and `leaseEpoch` is not its epoch
   * @throws SessionsApiError `invalid_transition` (409) on a completed or terminated session, `session_not_found` (404)
   */
  async acquireLease(id: string, options: AcquireLeaseOptions = {}): Promise<VersionedSession> {
    return this.#versioned(await this.#transport.send(acquireLeaseCall(id, options)));
  }

  /**
   * `POST /sessions/{id}/heartbeat`: extends the lease of epoch `epoch` to now + `seconds`, and answers it.
   * Safe to repeat for the same epoch, so it is retried like a read.
   * @throws LeaseLostError (409) when that lease is no longer live: superseded, expired or released
   */
  async heartbeat(id: string, epoch: number, options: HeartbeatOptions = {}): Promise<Lease> {
    return parse(HeartbeatAnswerSchema, await this.#transport.send(heartbeatCall(id, epoch, options)), 'a lease').lease;
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
  async listSessions({ limit, cursor, status, name, owner }: ListSessionsOptions = {}): Promise<SessionPage> {
    const answer = await this.#transport.send({
      method: 'GET',
      path: '/sessions',
      query: { limit, cursor, status, name, owner },
      retryable: true,
    });
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
    owner,
    pageSize,
    cursor,
  }: SessionFilter & { cursor?: string | undefined } = {}): AsyncGenerator<SessionPage, void, undefined> {
    yield* pagesFrom((after) => this.listSessions({ limit: pageSize, cursor: after, status, name, owner }), cursor);
  }

  /**
   * What a runner does when it reconnects: finds the newest session named
   * `name` that is paused or active, resumes it if it is paused, and answers
   * it, active, with its ETag.
   * @throws NoResumableSession when no session of that name is paused or active.
   * @throws SessionsApiError `invalid_transition` (409) when it was completed or terminated meanwhile.
   */
  resumeByName(name: string, { pageSize }: { pageSize?: number | undefined } = {}): Promise<ResumedSession> {
    // For an active session this is a no-op that writes nothing and answers the current ETag.
    return takeNewest(this.sessions({ name, pageSize }), name, (session) => this.resume(session.id));
  }

  /**
   * What a runner does when it reconnects, under a lease: finds the newest session named `name` that is
   * paused or active and acquires its lease (which resumes it). A session completed or terminated meanwhile
   * is passed over for the next older one.
   * @throws NoResumableSession when no session of that name is paused or active.
   * @throws LeaseHeldError when another holder's lease on it is live (and `force` is not set).
   */
  acquireByName(name: string, { pageSize, ...lease }: AcquireByNameOptions = {}): Promise<ResumedSession> {
    return takeNewest(this.sessions({ name, pageSize }), name, (session) => this.acquireLease(session.id, lease).catch(passOverEnded));
  }

  /**
   * `GET /sessions/{id}/history`: one page of the session's versions, newest
   * first, each with when and by whom it was written and what it changed.
   * @throws SessionsApiError `session_not_found` (404), `versioning_disabled` (409), `invalid_request` (400) for a bad limit or cursor
   */
  async history(id: string, { limit, cursor }: HistoryOptions = {}): Promise<HistoryPage> {
    const answer = await this.#transport.send({
      method: 'GET',
      path: `${sessionPath(id)}/history`,
      query: { limit, cursor },
      retryable: true,
    });
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
    yield* pagesFrom((after) => this.history(id, { limit: pageSize, cursor: after }), cursor);
  }

  /**
   * `POST /sessions/{id}/restore`: makes the content of version `versionId` (a `version_id` of its history) current
   * again, as a new version. Safe to repeat: restoring content the session already has changes nothing. A session
   * whose lease is live is restored only with `force`: an operator's take-over, which fences the holder out (its
   * next change hears `lease_lost`, reason `restored`).
   * @throws LeaseHeldError (409) when a lease is live and `force` is not set
   * @throws SessionsApiError `invalid_request` (400) for a version the session does not have, `session_not_found` (404),
   *   `versioning_disabled` (409), `precondition_failed` (412), `forbidden` (403)
   */
  async restoreSession(id: string, versionId: string, { ifMatch, force }: RestoreOptions = {}): Promise<VersionedSession> {
    return this.#versioned(
      await this.#transport.send({
        method: 'POST',
        path: `${sessionPath(id)}/restore`,
        body: definedFields({ version_id: versionId, force }),
        headers: ifMatchHeader(ifMatch),
        retryable: true,
      }),
    );
  }

  /** @deprecated The same as {@link restoreSession}. */
  restore(id: string, versionId: string, options?: RestoreOptions): Promise<VersionedSession> {
    return this.restoreSession(id, versionId, options);
  }

  /**
   * `POST /sessions/{id}/owner` (operators only): makes `owner` the session's owner — how a session stored before
   * owners were kept is adopted, so that its owner's runners may change it again. Recorded in its history.
   * Safe to repeat: adopting for the owner it has changes nothing.
   * @throws SessionsApiError `forbidden` (403) for a caller who is not an operator, `invalid_request` (400),
   *   `session_not_found` (404), `precondition_failed` (412)
   */
  async adoptSession(id: string, owner: string, { ifMatch }: Pick<ChangeOptions, 'ifMatch'> = {}): Promise<VersionedSession> {
    return this.#versioned(
      await this.#transport.send({
        method: 'POST',
        path: `${sessionPath(id)}/owner`,
        body: { owner },
        headers: ifMatchHeader(ifMatch),
        retryable: true,
      }),
    );
  }

  #versioned(answer: Answer): VersionedSession {
    return { session: parse(SessionSchema, answer, 'a session'), etag: answer.response.headers.get('etag') ?? undefined };
  }
}
