import { type BatchOutcome, KeyedBatches } from '../common/group-commit.ts';
import { readServiceConfig, type ServiceConfig } from '../domain/config.ts';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import {
  ConflictRetry,
  InvalidRequest,
  InvalidTransition,
  PreconditionFailed,
  SessionFull,
  SessionNotActive,
  SessionNotFound,
} from '../domain/errors.ts';
import { idFromKey, isSessionId, newestFirstId, SESSIONS_PREFIX, sessionKey } from '../domain/ids.ts';
import { hasJob, sessionJson, withJob } from '../domain/job-list.ts';
import {
  acquireLease,
  currentLease,
  extendLease,
  fence,
  LEASE_EXPIRY_ACTOR,
  leaseState,
  needsRenewal,
  openLease,
  type Renewal,
  releaseLease,
} from '../domain/lease.ts';
import { checkPageLimit, SESSION_LIST_LIMIT } from '../domain/limits.ts';
import {
  LEASE_SECONDS,
  type Lease,
  type Session,
  SessionNameSchema,
  SessionSchema,
  type SessionStatus,
  transition,
} from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import { type Clock, type Codec, CompareAndSwap, type StoredVersion, systemClock } from '../storage/compare-and-swap.ts';
import { MemoryObjectStore } from '../storage/memory.ts';
import { ConditionNotMet, MAX_LIST_KEYS, type ObjectStore, type PrunableObjectStore, StoreFault } from '../storage/port.ts';
import {
  landedAfter,
  readHistory,
  readRestoreTarget,
  restoredSession,
  type SessionHistoryOptions,
  type SessionHistoryPage,
  sameContent,
} from './history.ts';
import { IdempotencyRecords } from './idempotency.ts';
import { listingScope, nameIndexBody, nameIndexKey } from './name-index.ts';
import { RenewalRecords, type StoredRenewal } from './renewals.ts';
import { StatusIndex, statusListingScope } from './status-index.ts';

/** A session together with the ETag of the stored version it was read from or written as. */
export interface SessionVersion {
  session: Session;
  etag: string;
}

/** The outcome of a change: the session as it now stands and what it took to get there. */
export interface ChangeResult extends SessionVersion {
  /** False when the change was already in place and nothing was written. */
  changed: boolean;
  /** Conditional writes sent (0 when nothing needed writing). */
  attempts: number;
  /** Writes refused because another writer got there first. */
  conflicts: number;
}

/** How a change to a session is made. */
export interface SessionChangeOptions {
  /** Apply the change only to this version (the caller's `If-Match`). */
  ifMatch?: string | undefined;
  /** Who makes the change; stored as `updated_by`. */
  actor?: string | undefined;
  /** The caller's `Lease-Epoch`: the change is the lease holder's, and lands only while that epoch's lease is live. */
  leaseEpoch?: number | undefined;
}

/** What an acquire asks for. */
export interface AcquireOptions {
  /** The runner's name for itself; default: the actor. */
  holder?: string | undefined;
  /** Lease length, 5–3600 s; default 60. */
  seconds?: number | undefined;
  /** Take the lease even from a live holder, who is then fenced out. */
  force?: boolean | undefined;
  actor?: string | undefined;
}

export interface CreateOptions {
  name?: string | null | undefined;
  actor?: string | undefined;
  /** Open the session held: a lease of this many seconds, epoch 1. */
  leaseSeconds?: number | undefined;
  /** Holder of that lease; default: the actor. */
  holder?: string | undefined;
  /** The caller's `Idempotency-Key`: a repeat within the window answers the session the first request opened. */
  idempotencyKey?: string | undefined;
}

/** A created session, or the one an earlier request with the same idempotency key opened. */
export interface CreateResult extends SessionVersion {
  /** True when the idempotency key had been presented before: the session is the recorded one, as it now stands. */
  replayed: boolean;
}

/** Which page of sessions to list. */
export interface ListSessionsOptions {
  /** 1–100, default 50. */
  limit?: number | undefined;
  /** From a previous page's `nextCursor`. */
  cursor?: string | undefined;
  status?: SessionStatus | undefined;
  /** Only the sessions with exactly this name, read through the name index. */
  name?: string | undefined;
}

export interface ListResult {
  /** Newest first. */
  sessions: Session[];
  /** Where the next page starts, or null when there is none. */
  nextCursor: string | null;
  /** Keys examined to build this page. */
  scanned: number;
}

/** What one step of the status index backfill did. */
export interface StatusBackfill {
  /** Session keys walked in this step. */
  indexed: number;
  /** True once every session has its entry and the record says so. */
  complete: boolean;
}

/** Something worth a log line that is not an error of the request itself. */
export interface RepositoryWarning {
  message: string;
  key: string;
  error: unknown;
}

export interface SessionRepositoryOptions {
  store: ObjectStore;
  /**
   * Where heartbeats keep lease renewals: a store without versions (deployed,
   * the leases bucket). Default: in memory, which is only right for tests.
   */
  renewals?: PrunableObjectStore;
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

/** A change to a session: the new session, `undefined` when already in place, or a thrown refusal. */
type Change = (session: Session) => Session | undefined | Promise<Session | undefined>;

/** Sessions as stored: JSON that must match the session schema. */
const SESSION_CODEC: Codec<Session> = {
  parse(body, key) {
    const session = parseStoredObject(body, SessionSchema);
    if (session instanceof Error) throw new Error(`stored object ${key} is not a valid session`, { cause: session });
    return session;
  },
  // JSON.stringify(session), without re-encoding every job on each append.
  serialise: sessionJson,
};

const CREATE_ATTEMPTS = 3;
const LIST_READ_CONCURRENCY = 32;

/**
 * The session operations, on any object store. Creation is a create-only
 * write; every change is a compare-and-swap of `lib/storage/compare-and-swap.ts` (read the
 * version, apply the change in memory, write it back `If-Match` that version)
 * retried with capped exponential backoff and full jitter when another writer
 * wins. Store faults (`StoreFault`) pass through unchanged.
 */
export class SessionRepository {
  readonly #store: ObjectStore;
  readonly #config: ServiceConfig;
  readonly #clock: Clock;
  readonly #newId: (unixMs: number) => string;
  readonly #onWarning: (warning: RepositoryWarning) => void;
  readonly #sessions: CompareAndSwap<Session>;
  readonly #idempotency: IdempotencyRecords;
  readonly #renewals: RenewalRecords;
  readonly #statusIndex: StatusIndex;
  readonly #appends: KeyedBatches<PendingAppend, ChangeResult>;

  constructor(options: SessionRepositoryOptions) {
    this.#store = options.store;
    this.#config = { ...readServiceConfig({}), ...options.config };
    this.#clock = {
      now: options.clock ?? systemClock.now,
      random: options.random ?? systemClock.random,
      sleep: options.sleep ?? systemClock.sleep,
    };
    this.#newId = options.newId ?? ((unixMs) => newestFirstId(unixMs));
    this.#onWarning = options.onWarning ?? (() => {});
    this.#sessions = new CompareAndSwap({
      store: this.#store,
      codec: SESSION_CODEC,
      clock: this.#clock,
      cacheSize: this.#config.sessionCacheSize,
      policy: {
        maxAttempts: this.#config.casMaxAttempts,
        baseDelayMs: this.#config.casBaseDelayMs,
        maxDelayMs: this.#config.casMaxDelayMs,
      },
    });
    this.#appends = new KeyedBatches((_key, appends) => this.#appendBatch(appends));
    const softState = options.renewals ?? new MemoryObjectStore();
    this.#statusIndex = new StatusIndex(softState);
    this.#renewals = new RenewalRecords({
      store: softState,
      clock: this.#clock,
      cacheSize: this.#config.sessionCacheSize,
    });
    this.#idempotency = new IdempotencyRecords({
      store: this.#store,
      windowSeconds: this.#config.idempotencyWindowSeconds,
      clock: () => this.#clock.now(),
    });
  }

  get config(): Readonly<ServiceConfig> {
    return this.#config;
  }

  /** The status index (see lib/sessions/status-index.ts). */
  get statusIndex(): StatusIndex {
    return this.#statusIndex;
  }

  /** The lease renewal records (the sweeper reads them). */
  get renewals(): RenewalRecords {
    return this.#renewals;
  }

  /** Unix seconds now. */
  #now(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  /**
   * Creates an active session with no jobs. Never overwrites: the write is
   * `If-None-Match: *`. A named session gets its name index entry first.
   * With an `idempotencyKey`, a repeat of the key within the window answers
   * the session the first request opened (`replayed`), finishing its creation
   * if that request stopped half-way.
   * @throws InvalidRequest when the key was used for a different request.
   */
  async createSession({ name = null, actor, idempotencyKey, leaseSeconds, holder }: CreateOptions = {}): Promise<CreateResult> {
    const lease = leaseSeconds === undefined ? undefined : { holder: holder ?? actor ?? 'anonymous', seconds: leaseSeconds };
    if (idempotencyKey !== undefined) return this.#createOnce(name, actor, idempotencyKey, lease);
    const nowMs = this.#clock.now();
    const seconds = Math.floor(nowMs / 1000);
    for (let attempt = 1; ; attempt++) {
      const id = this.#newId(nowMs);
      const session = newSession(id, name, seconds, actor, lease);
      try {
        return { ...(await this.#writeNewSession(session)), replayed: false };
      } catch (error) {
        if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
        // Our own write (or an earlier attempt of it) may have landed with its answer lost: then the object is ours.
        const existing = await this.#store.get(sessionKey(id));
        if (existing?.body === SESSION_CODEC.serialise(session)) return { session, etag: existing.etag, replayed: false };
        if (error instanceof StoreFault) throw error;
        if (attempt >= CREATE_ATTEMPTS) throw new ConflictRetry(id, attempt);
      }
    }
  }

  /**
   * A create under an idempotency key: claim the key (its record names the
   * session ID), then write the name index entry and the session, each
   * create-only. Every step can be cut short: a repeat finds the record and
   * finishes the same session, and of two requests finishing it only one
   * session write can win.
   */
  async #createOnce(name: string | null, actor: string | undefined, idempotencyKey: string, lease?: NewLease): Promise<CreateResult> {
    const { record, claimed } = await this.#idempotency.claim({
      actor,
      key: idempotencyKey,
      request: lease === undefined ? { name } : { name, lease_seconds: lease.seconds, holder: lease.holder },
      draw: () => {
        const nowMs = this.#clock.now();
        return { id: this.#newId(nowMs), createdAt: Math.floor(nowMs / 1000) };
      },
    });
    const id = record.session_id;
    if (!claimed) {
      const existing = await this.#readSession(id).catch((error: unknown) => {
        if (error instanceof SessionNotFound) return undefined;
        throw error;
      });
      if (existing !== undefined) return { session: existing.value, etag: existing.etag, replayed: true };
    }
    try {
      return { ...(await this.#writeNewSession(newSession(id, name, record.created_at, actor, lease))), replayed: !claimed };
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
    // Another request finishing this create wrote it first, or our own write landed with its answer lost.
    const current = await this.#readSession(id);
    return { session: current.value, etag: current.etag, replayed: !claimed };
  }

  /** Writes a new session create-only, its name index entry first, and remembers the version written. */
  async #writeNewSession(session: Session): Promise<SessionVersion> {
    const key = sessionKey(session.id);
    const body = SESSION_CODEC.serialise(session);
    await this.#indexName(session.name, session.id);
    // Its status index entry first; nothing can delete it before the session exists (see lib/sessions/status-index.ts).
    await this.#statusIndex.enter(session.status, session.id);
    const etag = await this.#store.put(key, body, { ifNoneMatch: '*' });
    this.#sessions.remember(key, { value: session, etag, body });
    if (session.lease) await this.#startRenewals(session.id, session.lease, { fresh: true });
    return { session, etag };
  }

  /** Writes the name index entry of a session about to be created; an entry that is already there is an earlier attempt's. */
  async #indexName(name: string | null, id: string): Promise<void> {
    if (name === null) return;
    try {
      await this.#store.put(nameIndexKey(name, id), nameIndexBody(name, id), { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }

  /**
   * The session with this ID; a held session's lease shows the expiry its
   * heartbeats extended it to (one more read, of its renewal record).
   * @throws SessionNotFound
   */
  async getSession(id: string): Promise<SessionVersion> {
    const current = await this.#readSession(requireId(id));
    return { session: await this.#withCurrentLease(current.value), etag: current.etag };
  }

  /** The session exactly as stored (the sweeper's view), or undefined when there is none. */
  async storedSession(id: string): Promise<Session | undefined> {
    return (await this.#sessions.read(sessionKey(requireId(id))))?.value;
  }

  /** `session` with its lease as heartbeats extended it. */
  async #withCurrentLease(session: Session): Promise<Session> {
    const lease = openLease(session);
    if (lease === undefined) return session;
    const stored = await this.#renewals.read(session.id, lease.epoch, lease.seconds);
    return { ...session, lease: currentLease(session, stored?.renewal) };
  }

  /** The renewal record that decides whether the lease is live, read only when the session's own expiry has passed. */
  async #renewalFor(session: Session): Promise<Renewal | undefined> {
    if (!needsRenewal(session, this.#now())) return undefined;
    const lease = session.lease!;
    return (await this.#renewals.read(session.id, lease.epoch, lease.seconds))?.renewal;
  }

  /** The fencing check of a change (see `fence` in lib/domain/lease.ts), reading the renewal record only when it matters. */
  async #fence(session: Session, leaseEpoch: number | undefined): Promise<'holder' | 'operator'> {
    return fence(session, await this.#renewalFor(session), leaseEpoch, this.#now());
  }

  /**
   * Appends a job ID. Idempotent: a job already in the session changes
   * nothing and writes nothing.
   * @throws SessionNotActive, SessionFull, PreconditionFailed, ConflictRetry
   */
  addJob(id: string, jobId: string, options: SessionChangeOptions = {}): Promise<ChangeResult> {
    const checked = requireId(id);
    // An append conditioned on one version cannot share a write with others.
    if (options.ifMatch !== undefined)
      return this.#change(
        checked,
        options,
        async (session) => (await this.#appendJobs(session, [{ jobId, leaseEpoch: options.leaseEpoch }])).next,
      );
    return this.#appends.submit(`${checked}\u0000${options.actor ?? ''}`, {
      id: checked,
      jobId,
      leaseEpoch: options.leaseEpoch,
      actor: options.actor,
    });
  }

  /**
   * One compare-and-swap for a batch of appends to one session by one actor:
   * each append is judged on its own (fencing, status, room), in the order
   * they arrived, and those accepted are written together. An append refused
   * counts as refused only once the batch's version was current: when the
   * write lands, or when nothing needed writing on a fresh read.
   */
  async #appendBatch(appends: PendingAppend[]): Promise<BatchOutcome<ChangeResult>[]> {
    const [{ id, actor }] = appends as [PendingAppend, ...PendingAppend[]];
    let judged: AppendJudgement[] = [];
    const result = await this.#change(id, { actor }, async (session) => {
      const { next, outcomes } = await this.#appendJobs(session, appends);
      judged = outcomes;
      return next;
    });
    return judged.map((outcome) =>
      outcome.refusal !== undefined ? { error: outcome.refusal } : { result: { ...result, changed: outcome.appended } },
    );
  }

  /** The session with `appends` applied, and how each fared. */
  async #appendJobs(
    session: Session,
    appends: readonly Pick<PendingAppend, 'jobId' | 'leaseEpoch'>[],
  ): Promise<{ next: Session | undefined; outcomes: AppendJudgement[] }> {
    const maxJobs = this.#config.maxJobsPerSession;
    const renewal = await this.#renewalFor(session);
    const now = this.#now();
    let next = session;
    let holder = false;
    const outcomes = appends.map(({ jobId, leaseEpoch }): AppendJudgement => {
      try {
        const authority = fence(session, renewal, leaseEpoch, now);
        if (hasJob(next.job_ids, jobId)) return { appended: false };
        if (next.status !== 'active') throw new SessionNotActive(next.id, next.status);
        if (next.job_ids.length >= maxJobs) throw new SessionFull(next.id, maxJobs);
        next = { ...next, job_ids: withJob(next.job_ids, jobId) };
        holder ||= authority === 'holder';
        return { appended: true };
      } catch (refusal) {
        return { appended: false, refusal };
      }
    });
    if (next === session) {
      // Nothing to write: a lone append's refusal is thrown, so that a remembered version is confirmed by a fresh read.
      const refused = outcomes.find((outcome) => outcome.refusal !== undefined);
      if (appends.length === 1 && refused !== undefined) throw refused.refusal;
      return { next: undefined, outcomes };
    }
    // The holder's accepted change keeps its lease alive, as a heartbeat would.
    return { next: holder ? { ...next, lease: extendLease(session.lease!, now) } : next, outcomes };
  }

  async setStatus(id: string, status: SessionStatus, options: SessionChangeOptions = {}): Promise<ChangeResult> {
    const result = await this.#change(requireId(id), options, async (session) => {
      const authority = await this.#fence(session, options.leaseEpoch);
      switch (transition(session.status, status)) {
        case 'unchanged':
          return undefined;
        case 'refused':
          throw new InvalidTransition(session.id, session.status, status);
        case 'allowed':
          return { ...session, status, ...endedLease(session, status, authority, this.#now()) };
      }
    });
    if (result.changed && status !== 'active' && result.session.lease) await this.#pruneRenewals(result.session.id);
    return result;
  }

  // ---------------------------------------------------------------- leases

  /**
   * Takes the session's lease: a new lease one epoch above the last, and a
   * `paused` session `active` again (the resume). A compare-and-swap of the
   * session, so of racing acquirers of a free lease exactly one wins, and
   * forced take-overs get distinct, increasing epochs. Afterwards the older
   * epochs' renewal records are deleted, so that a fenced holder's next
   * heartbeat reads the session and hears `lease_lost`.
   * @throws LeaseHeld, InvalidTransition, SessionNotFound, ConflictRetry
   */
  async acquireLease(
    id: string,
    { holder, seconds = LEASE_SECONDS.default, force = false, actor }: AcquireOptions = {},
  ): Promise<ChangeResult> {
    const checked = requireId(id);
    const request = { holder: holder ?? actor ?? 'anonymous', seconds, force };
    // The renewal record is read once, before the compare-and-swap, and again only when the epoch moved: a read inside
    // every attempt would widen the window in which a busy holder's appends make the acquire lose its write.
    let known: { epoch: number; stored: StoredRenewal | undefined } | undefined;
    const result = await this.#change(checked, { actor }, async (session) => {
      const now = this.#now();
      const lease = openLease(session);
      if (lease !== undefined && known?.epoch !== lease.epoch)
        known = { epoch: lease.epoch, stored: await this.#renewals.read(checked, lease.epoch, lease.seconds) };
      const stored = lease === undefined ? undefined : known?.stored;
      const next = acquireLease(session, stored?.renewal, request, now);
      // Taking a lapsed lease without force must not race a late heartbeat: fence its record first; a heartbeat that
      // lands before the fence keeps the lease (the next attempt sees it live), one after it hears lease_lost.
      if (!force && stored !== undefined && leaseState(session, stored.renewal, now).kind !== 'live' && stored.renewal.expired !== true) {
        if (!(await this.#renewals.fence(stored))) throw new RenewalRaced();
      }
      return next;
    }).catch(async (error: unknown) => {
      if (!(error instanceof RenewalRaced)) throw error;
      return this.acquireLease(checked, { holder, seconds, force, actor });
    });
    const lease = result.session.lease!;
    await this.#startRenewals(checked, lease);
    return result;
  }

  /**
   * Extends the lease of epoch `epoch` to now + `seconds` (default: its
   * length) without writing the session: one conditional PUT of its renewal
   * record on a warm instance, a read of the session and the record otherwise.
   * @throws LeaseLost (superseded, expired, released), SessionNotFound, ConflictRetry
   */
  async heartbeat(id: string, epoch: number, seconds?: number): Promise<Lease> {
    const checked = requireId(id);
    const remembered = await this.#renewals.renewRemembered(checked, epoch, seconds);
    if (remembered !== undefined) {
      const { renewal, holder } = remembered;
      return { holder, epoch, seconds: renewal.seconds, expires_at: renewal.expires_at };
    }
    for (let attempt = 1; attempt <= this.#config.casMaxAttempts; attempt++) {
      const session = (await this.#readSession(checked)).value;
      const lease = session.lease;
      const stored = lease?.epoch === epoch ? await this.#renewals.read(checked, lease.epoch, lease.seconds) : undefined;
      const now = this.#now();
      fence(session, stored?.renewal, epoch, now);
      const expiresAt = now + (seconds ?? lease!.seconds);
      try {
        await this.#renewals.write(checked, lease!, expiresAt, stored);
        return { ...lease!, expires_at: Math.max(expiresAt, lease!.expires_at) };
      } catch (error) {
        if (!(error instanceof ConditionNotMet)) throw error;
      }
    }
    throw new ConflictRetry(checked, this.#config.casMaxAttempts);
  }

  /**
   * Pauses the session if its lease of epoch `epoch` has been expired for
   * longer than `graceSeconds`, as an ordinary compare-and-swap change by
   * `lease-expiry`. The caller (the sweeper) fenced the renewal record first,
   * so only the session's own expiry counts. A no-op when anything else
   * happened meanwhile: a heartbeat or a change by the holder, a release, an acquire.
   */
  async expireLapsedLease(id: string, epoch: number, graceSeconds: number): Promise<ChangeResult> {
    const result = await this.#change(requireId(id), { actor: LEASE_EXPIRY_ACTOR }, async (session) => {
      const lease = openLease(session);
      if (lease === undefined || lease.epoch !== epoch || lease.expires_at + graceSeconds > this.#now()) return undefined;
      return { ...session, status: 'paused', lease: { ...lease, ended: 'expired' } };
    });
    if (result.changed) await this.#pruneRenewals(id);
    return result;
  }

  /**
   * After a new lease: the older epochs' records go (none on a session just created: `fresh`), and the new epoch's
   * record is made so that its first heartbeat is one PUT.
   */
  async #startRenewals(id: string, lease: Lease, { fresh = false }: { fresh?: boolean } = {}): Promise<void> {
    try {
      if (!fresh) await this.#renewals.prune(id, lease.epoch);
      await this.#renewals.write(id, lease, lease.expires_at);
    } catch (error) {
      // The session is the authority: a missing record only costs the holder's first heartbeat a read.
      if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
      this.#onWarning({ message: 'could not prepare the renewal record of a new lease', key: id, error });
    }
  }

  /** After a lease ended: its records go (best effort; the sweeper removes what is left). */
  async #pruneRenewals(id: string): Promise<void> {
    try {
      await this.#renewals.prune(id);
    } catch (error) {
      if (!(error instanceof StoreFault)) throw error;
      this.#onWarning({ message: 'could not delete the renewal records of an ended lease', key: id, error });
    }
  }

  // ---------------------------------------------------------------- audit trail and undo

  /**
   * The session's history, newest first: each stored version with when it was
   * recorded, who wrote it and what it changed (see `lib/sessions/history.ts`). A page
   * of N costs one version listing and N + 1 version reads.
   * @throws SessionNotFound, VersioningDisabled, InvalidRequest (limit, cursor)
   */
  sessionHistory(id: string, options: SessionHistoryOptions = {}): Promise<SessionHistoryPage> {
    const checked = requireId(id);
    return readHistory(this.#store, sessionKey(checked), checked, options, this.#onWarning);
  }

  /**
   * Makes the content of an earlier version current again, as a new version
   * written by compare-and-swap (the caller's `If-Match` honoured) that
   * records `restored_from: versionId`. Restoring content the session already
   * has writes nothing. One version read, then the change.
   * @throws InvalidRequest when the session has no version `versionId`.
   * @throws SessionNotFound, VersioningDisabled, PreconditionFailed, ConflictRetry
   */
  async restoreVersion(id: string, versionId: string, options: SessionChangeOptions = {}): Promise<ChangeResult> {
    const checked = requireId(id);
    const target = await readRestoreTarget(this.#store, sessionKey(checked), checked, versionId);
    const result = await this.#change(
      checked,
      options,
      (session) => {
        if (sameContent(session, target)) return undefined;
        // The lease and its epoch are never part of what a restore brings back; a restore out of `active` ends a lease.
        const restored = restoredSession(target, session);
        return { ...restored, ...endedLease(session, restored.status, 'operator', this.#now()) };
      },
      versionId,
    );
    if (result.changed && result.session.status !== 'active' && result.session.lease) await this.#pruneRenewals(checked);
    return result;
  }

  /**
   * A page of sessions, newest first: a prefix listing in key order. With a
   * status filter it reads further until the page is full or the scan budget
   * is spent, then hands back a cursor. Objects that do not parse are skipped
   * and reported through `onWarning`. With a name it lists that name's index
   * entries instead (one LIST and one read per entry, however many other
   * sessions exist) and keeps an entry only when its session exists and
   * carries exactly that name. With a status (and no name), once the status
   * index is complete, it lists that status's index entries instead and keeps
   * an entry only when its session is in that status.
   */
  async listSessions({ limit = SESSION_LIST_LIMIT.default, cursor, status, name }: ListSessionsOptions = {}): Promise<ListResult> {
    checkPageLimit(limit, SESSION_LIST_LIMIT);
    // Callers other than the HTTP layer (which checked it already) get the same rule and message as the query schema.
    const checkedName = name === undefined ? undefined : SessionNameSchema.safeParse(name);
    if (checkedName?.success === false) {
      throw InvalidRequest.field('query.name', checkedName.error.issues[0]?.message ?? 'is not a valid name');
    }
    const indexed = status !== undefined && name === undefined && (await this.#statusIndex.isComplete());
    const scope = indexed ? statusListingScope(status) : listingScope(name);
    const keys = indexed ? this.#statusIndex.store : this.#store;
    let after = cursor === undefined ? undefined : scope.keyOf(decodeCursor(cursor));
    const budget = this.#config.listScanBudget;
    const sessions: Session[] = [];
    let scanned = 0;
    let lastId: string | undefined;
    let more = true;
    while (more && sessions.length < limit && scanned < budget) {
      // Unfiltered, every key is a match: list exactly what is missing. Filtered, list ahead
      // (one LIST returns up to 1,000 keys) and read only as many as the page still needs.
      const pageSize = Math.min(MAX_LIST_KEYS, status === undefined || indexed ? limit - sessions.length : budget - scanned);
      const page = await keys.list(scope.prefix, { limit: pageSize, ...(after === undefined ? {} : { startAfter: after }) });
      let consumed = 0;
      while (consumed < page.keys.length && sessions.length < limit && scanned < budget) {
        const width = Math.min(LIST_READ_CONCURRENCY, limit - sessions.length, budget - scanned);
        const chunk = page.keys.slice(consumed, consumed + width);
        const read = await Promise.all(chunk.map((key) => this.#readListed(scope.idOf(key))));
        for (const [offset, session] of read.entries()) {
          const key = chunk[offset]!;
          consumed++;
          scanned++;
          after = key;
          lastId = scope.idOf(key) ?? lastId;
          // An index entry counts only when its session exists with that very name (interrupted creates, hash collisions).
          const named = name === undefined || session?.name === name;
          if (session !== undefined && named && (status === undefined || session.status === status)) sessions.push(session);
          if (sessions.length >= limit) break;
        }
      }
      more = consumed < page.keys.length || (page.truncated && page.keys.length > 0);
    }
    const shown = await Promise.all(sessions.map((session) => this.#withCurrentLease(session)));
    return { sessions: shown, nextCursor: more && lastId !== undefined ? encodeCursor(lastId) : null, scanned };
  }

  /**
   * One step of the status index backfill: gives the sessions after the last
   * one walked (at most `limit` of them) the entry of their current status,
   * and records how far it got in `indexes/status.json` — complete once the
   * walk reached the end; status listings read the index from then on.
   * Re-runnable and resumable, and safe beside writers (they keep the entries
   * of what they change) and beside another backfill (compare-and-swap on the
   * record). A no-op once complete.
   */
  async backfillStatusIndex({ limit = Number.POSITIVE_INFINITY }: { limit?: number } = {}): Promise<StatusBackfill> {
    if (this.#statusIndex.knownComplete) return { indexed: 0, complete: true };
    const { record, etag } = await this.#statusIndex.progress();
    if (record?.complete) return { indexed: 0, complete: true };
    let startAfter = record?.after === undefined ? undefined : sessionKey(requireId(record.after));
    let indexed = 0;
    let complete = false;
    while (!complete && indexed < limit) {
      const page = await this.#store.list(SESSIONS_PREFIX, {
        limit: Math.min(MAX_LIST_KEYS, limit - indexed),
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      for (let start = 0; start < page.keys.length; start += LIST_READ_CONCURRENCY) {
        const chunk = page.keys.slice(start, start + LIST_READ_CONCURRENCY);
        const sessions = await Promise.all(chunk.map((key) => this.#readListed(idFromKey(key))));
        await Promise.all(sessions.map((session) => session && this.#statusIndex.enter(session.status, session.id)));
        indexed += chunk.length;
      }
      startAfter = page.keys.at(-1) ?? startAfter;
      complete = !page.truncated || page.keys.length === 0;
    }
    const after = startAfter === undefined ? undefined : idFromKey(startAfter);
    await this.#statusIndex.recordProgress({ complete, ...(complete ? {} : { after }), at: this.#now() }, etag);
    return { indexed, complete };
  }

  /** The session a listed key names, or undefined when there is none or it does not parse (then a warning). */
  async #readListed(id: string | undefined): Promise<Session | undefined> {
    if (id === undefined) return undefined;
    const key = sessionKey(id);
    const stored = await this.#store.get(key);
    if (stored === undefined) return undefined;
    const session = parseStoredObject(stored.body, SessionSchema);
    if (session instanceof Error) {
      this.#onWarning({ message: 'skipped a stored object that is not a valid session', key, error: session });
      return undefined;
    }
    return session;
  }

  /**
   * A compare-and-swap of the session: `apply` says what the change means,
   * the engine reads, writes `If-Match` and retries. A restore recognises its
   * own lost write among the versions written since (it is not applied again
   * over what others wrote after it).
   */
  async #change(id: string, { ifMatch, actor }: SessionChangeOptions, apply: Change, restoredFrom?: string): Promise<ChangeResult> {
    const key = sessionKey(id);
    // The statuses this change may move the session into (their index entries are made before the write), and the
    // status of the version the write replaced.
    const entered = new Set<SessionStatus>();
    let replaced: SessionStatus | undefined;
    let result: Awaited<ReturnType<CompareAndSwap<Session>['swap']>>;
    try {
      result = await this.#sessions.swap({
        key,
        ifMatch,
        change: async (session) => {
          const next = await apply(session);
          if (next === undefined) return undefined;
          replaced = session.status;
          if (next.status !== session.status && !entered.has(next.status)) {
            await this.#statusIndex.enter(next.status, id);
            entered.add(next.status);
          }
          return this.#stamp(session, next, actor, restoredFrom);
        },
        missing: () => new SessionNotFound(id),
        mismatch: (expected) => new PreconditionFailed(id, expected),
        exhausted: (attempts) => new ConflictRetry(id, attempts),
        landedAfter: restoredFrom === undefined ? undefined : (baseEtag, body) => landedAfter(this.#store, key, baseEtag, body),
      });
    } catch (error) {
      // Nothing was written (or it is unknown whether it was): each entry made for it is checked against the session.
      await this.#settleStatusIndex(id, entered, undefined);
      throw error;
    }
    const status = result.value.status;
    if (result.changed && replaced !== undefined && replaced !== status) entered.add(status).add(replaced);
    await this.#settleStatusIndex(id, entered, result.changed ? status : undefined);
    return { session: result.value, etag: result.etag, changed: result.changed, attempts: result.attempts, conflicts: result.conflicts };
  }

  /**
   * After a write (or a failed one) of session `id`: the entry of the status it was written in (`landed`) is made
   * again, since a concurrent `leave` may have deleted it before the write landed, and every other status in
   * `touched` is left (deleted, then made again if the session is in it after all). Best effort: the write stands
   * either way, and an entry left behind is only skipped by readers.
   */
  async #settleStatusIndex(id: string, touched: ReadonlySet<SessionStatus>, landed: SessionStatus | undefined): Promise<void> {
    if (touched.size === 0) return;
    const readStatus = async (sessionId: string) => (await this.#sessions.read(sessionKey(sessionId)))?.value.status;
    try {
      if (landed !== undefined) await this.#statusIndex.enter(landed, id);
      for (const status of touched) {
        if (status !== landed) await this.#statusIndex.leave(status, id, readStatus);
      }
    } catch (error) {
      if (!(error instanceof StoreFault)) throw error;
      this.#onWarning({ message: 'could not bring the status index up to date after a change', key: sessionKey(id), error });
    }
  }

  /**
   * Sets `updated_at` (never backwards) and `updated_by` on a changed session,
   * and `restored_from` on the version a restore writes: every other change
   * drops it, so that it marks exactly one version.
   */
  #stamp(previous: Session, next: Session, actor: string | undefined, restoredFrom?: string): Session {
    const seconds = Math.max(previous.updated_at, Math.floor(this.#clock.now() / 1000));
    const { restored_from: _inherited, ...changed } = next;
    return {
      ...changed,
      updated_at: seconds,
      ...(actor === undefined ? {} : { updated_by: actor }),
      ...(restoredFrom === undefined ? {} : { restored_from: restoredFrom }),
    };
  }

  /** The current version of session `id`, read fresh (and remembered). @throws SessionNotFound */
  async #readSession(id: string): Promise<StoredVersion<Session>> {
    const current = await this.#sessions.read(sessionKey(id));
    if (current === undefined) throw new SessionNotFound(id);
    return current;
  }
}

/** An append waiting for its session's next write. */
interface PendingAppend {
  id: string;
  jobId: string;
  leaseEpoch: number | undefined;
  actor: string | undefined;
}

/** How one append of a batch fared. */
interface AppendJudgement {
  appended: boolean;
  refusal?: unknown;
}

/** The lease a session is opened with. */
interface NewLease {
  holder: string;
  seconds: number;
}

/** An active session with no jobs, created at `seconds` (Unix) by `actor`, held from the start when `lease` is given. */
function newSession(id: string, name: string | null, seconds: number, actor: string | undefined, lease?: NewLease): Session {
  return {
    id,
    name,
    job_ids: [],
    created_at: seconds,
    updated_at: seconds,
    status: 'active',
    ...(actor === undefined ? {} : { updated_by: actor }),
    ...(lease === undefined
      ? {}
      : { lease: { holder: lease.holder, epoch: 1, seconds: lease.seconds, expires_at: seconds + lease.seconds } }),
  };
}

/**
 * The lease after a status change to `status`: leaving `active` ends a lease
 * that has not ended — released by its holder, or, when an operator acts (the
 * lease was not live, or the change would have been refused), expired.
 */
function endedLease(session: Session, status: SessionStatus, authority: 'holder' | 'operator', now: number): { lease?: Lease } {
  const lease = session.lease;
  if (status === 'active' || lease === undefined || lease === null || lease.ended !== undefined) return {};
  return { lease: authority === 'holder' ? releaseLease(lease, now) : { ...lease, ended: 'expired' } };
}

/** An acquire found the lapsed lease's renewal record renewed while it fenced it: decide again from fresh reads. */
class RenewalRaced extends Error {}

function requireId(id: string): string {
  if (!isSessionId(id)) throw InvalidRequest.field('path.id', 'must be 32 lowercase hexadecimal characters');
  return id;
}
