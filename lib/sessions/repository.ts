/**
 * The session operations as one object for the route handlers, the sweeper
 * and the composition roots: it builds the shared collaborators
 * (lib/sessions/context.ts) from the stores, clock and limits it is given, and
 * hands each call to its use case:
 *
 * - create.ts — create, idempotent create, the name index entry;
 * - appends.ts — job appends, group-committed;
 * - status.ts — status changes (change.ts: every compare-and-swap, with the status index settled);
 * - leases.ts — acquire, heartbeat, the lapsed lease's pause;
 * - restore.ts — history and restore;
 * - listing.ts — the listing modes and the status index backfill;
 * - adopt.ts — an operator's adoption of a session (its owner).
 *
 * Reads take the caller too: under `readers: owner` a session the caller may not read is answered as missing.
 *
 * @module
 */

import { type Clock, systemClock } from '../common/clock.ts';
import { readServiceConfig, type ServiceConfig } from '../domain/config.ts';
import { SessionNotFound } from '../domain/errors.ts';
import { newestFirstId, sessionKey } from '../domain/ids.ts';
import { type Caller, mayRead } from '../domain/owner.ts';
import type { Lease, Session, SessionStatus } from '../domain/session.ts';
import { CompareAndSwap } from '../storage/compare-and-swap.ts';
import type { ObjectStore, PrunableObjectStore } from '../storage/port.ts';
import { adoptSession } from './adopt.ts';
import { type AddJobOptions, JobAppends } from './appends.ts';
import {
  type ChangeResult,
  type RepositoryWarning,
  readSession,
  requireId,
  SESSION_CODEC,
  type SessionChangeOptions,
  type SessionsContext,
  type SessionVersion,
  withCurrentLease,
} from './context.ts';
import { type CreateOptions, type CreateResult, createSession } from './create.ts';
import type { SessionHistoryOptions, SessionHistoryPage } from './history.ts';
import { IdempotencyRecords } from './idempotency.ts';
import { type AcquireOptions, acquireLease, expireLapsedLease, heartbeat } from './leases.ts';
import { backfillStatusIndex, type ListResult, type ListSessionsOptions, listSessions, type StatusBackfill } from './listing.ts';
import { OwnerIndex } from './owner-index.ts';
import { RenewalRecords } from './renewals.ts';
import { type RestoreOptions, restoreVersion, sessionHistory } from './restore.ts';
import { setStatus } from './status.ts';
import { StatusIndex } from './status-index.ts';

export type {
  AcquireOptions,
  ChangeResult,
  CreateOptions,
  CreateResult,
  ListResult,
  ListSessionsOptions,
  RepositoryWarning,
  RestoreOptions,
  SessionChangeOptions,
  SessionVersion,
  StatusBackfill,
};

export interface SessionRepositoryOptions {
  /** The sessions and their name index (deployed: the versioned sessions bucket). */
  store: ObjectStore;
  /** The lease renewal records and the status index: a store without versions (deployed: the leases bucket). */
  renewals: PrunableObjectStore;
  /** The limits; any not given are the defaults of lib/domain/config.ts. */
  config?: Partial<ServiceConfig>;
  /** Milliseconds since the epoch (default: the system clock's). */
  clock?: () => number;
  /** Uniform in [0, 1), for backoff jitter (default: the system clock's). */
  random?: () => number;
  /** Waits between compare-and-swap attempts (default: the system clock's). */
  sleep?: (ms: number) => Promise<void>;
  newId?: (unixMs: number) => string;
  onWarning?: (warning: RepositoryWarning) => void;
}

/**
 * The session operations, on the stores given. Creation is a create-only
 * write; every change is a compare-and-swap of lib/storage/compare-and-swap.ts
 * retried with capped exponential backoff and full jitter when another writer
 * wins. Store faults (`StoreFault`) pass through unchanged.
 */
export class SessionRepository {
  readonly #context: SessionsContext;
  readonly #appends: JobAppends;

  constructor(options: SessionRepositoryOptions) {
    const config = { ...readServiceConfig({}), ...options.config };
    const clock: Clock = {
      now: options.clock ?? systemClock.now,
      random: options.random ?? systemClock.random,
      sleep: options.sleep ?? systemClock.sleep,
    };
    const policy = { maxAttempts: config.casMaxAttempts, baseDelayMs: config.casBaseDelayMs, maxDelayMs: config.casMaxDelayMs };
    this.#context = {
      store: options.store,
      config,
      clock,
      newId: options.newId ?? ((unixMs) => newestFirstId(unixMs)),
      onWarning: options.onWarning ?? (() => {}),
      sessions: new CompareAndSwap({ store: options.store, codec: SESSION_CODEC, clock, cacheSize: config.sessionCacheSize, policy }),
      idempotency: new IdempotencyRecords({
        store: options.store,
        windowSeconds: config.idempotencyWindowSeconds,
        clock: () => clock.now(),
      }),
      renewals: new RenewalRecords({ store: options.renewals, clock, cacheSize: config.sessionCacheSize }),
      statusIndex: new StatusIndex(options.renewals),
      ownerIndex: new OwnerIndex(options.renewals),
    };
    this.#appends = new JobAppends(this.#context);
  }

  get config(): Readonly<ServiceConfig> {
    return this.#context.config;
  }

  /** The status index (see lib/sessions/status-index.ts). */
  get statusIndex(): StatusIndex {
    return this.#context.statusIndex;
  }

  /** The lease renewal records (the sweeper reads them). */
  get renewals(): RenewalRecords {
    return this.#context.renewals;
  }

  /** See lib/sessions/create.ts. */
  createSession(options: CreateOptions = {}): Promise<CreateResult> {
    return createSession(this.#context, options);
  }

  /**
   * The session with this ID; a held session's lease shows the expiry its
   * heartbeats extended it to (one more read, of its renewal record).
   * A `caller` who may not read it (`readers: owner`) hears that there is none.
   * @throws SessionNotFound
   */
  async getSession(id: string, caller?: Caller): Promise<SessionVersion> {
    const current = await readSession(this.#context, requireId(id));
    if (caller !== undefined && !mayRead(current.value.owner, caller, this.#context.config.readers)) throw new SessionNotFound(id);
    return { session: await withCurrentLease(this.#context, current.value), etag: current.etag };
  }

  /** The session exactly as stored (the sweeper's view), or undefined when there is none. */
  async storedSession(id: string): Promise<Session | undefined> {
    return (await this.#context.sessions.read(sessionKey(requireId(id))))?.value;
  }

  /** See lib/sessions/appends.ts. */
  addJob(id: string, jobId: string, options: AddJobOptions = {}): Promise<ChangeResult> {
    return this.#appends.add(id, jobId, options);
  }

  /** See lib/sessions/status.ts. */
  setStatus(id: string, status: SessionStatus, options: SessionChangeOptions = {}): Promise<ChangeResult> {
    return setStatus(this.#context, id, status, options);
  }

  /** See lib/sessions/leases.ts. */
  acquireLease(id: string, options: AcquireOptions = {}): Promise<ChangeResult> {
    return acquireLease(this.#context, id, options);
  }

  /** See lib/sessions/leases.ts. */
  heartbeat(id: string, epoch: number, seconds?: number, caller?: Caller): Promise<Lease> {
    return heartbeat(this.#context, id, epoch, seconds, caller);
  }

  /** See lib/sessions/leases.ts. */
  expireLapsedLease(id: string, epoch: number, graceSeconds: number): Promise<ChangeResult> {
    return expireLapsedLease(this.#context, id, epoch, graceSeconds);
  }

  /**
   * See lib/sessions/restore.ts. Under `readers: owner`, a `caller` who is no operator reads the session first
   * (one more request): another owner's session is answered as missing.
   */
  async sessionHistory(id: string, { caller, ...options }: SessionHistoryOptions & { caller?: Caller } = {}): Promise<SessionHistoryPage> {
    if (caller !== undefined && this.#context.config.readers === 'owner' && !caller.operator) {
      const current = await readSession(this.#context, requireId(id));
      if (!mayRead(current.value.owner, caller, 'owner')) throw new SessionNotFound(id);
    }
    return sessionHistory(this.#context, id, options);
  }

  /** See lib/sessions/restore.ts. */
  restoreVersion(id: string, versionId: string, options: RestoreOptions = {}): Promise<ChangeResult> {
    return restoreVersion(this.#context, id, versionId, options);
  }

  /**
   * See lib/sessions/listing.ts. Under `readers: owner`, a `caller` who is no operator lists through the owner
   * index, its own sessions only, whatever it asks for.
   */
  listSessions(options: ListSessionsOptions = {}, caller?: Caller): Promise<ListResult> {
    const restricted = caller !== undefined && this.#context.config.readers === 'owner' && !caller.operator;
    return listSessions(this.#context, restricted ? { ...options, owner: caller.owner } : options);
  }

  /** See lib/sessions/adopt.ts. */
  adoptSession(id: string, owner: string, options: Pick<SessionChangeOptions, 'ifMatch' | 'actor' | 'caller'> = {}): Promise<ChangeResult> {
    return adoptSession(this.#context, id, owner, options);
  }

  /** See lib/sessions/listing.ts. */
  backfillStatusIndex(options: { limit?: number } = {}): Promise<StatusBackfill> {
    return backfillStatusIndex(this.#context, options);
  }
}
