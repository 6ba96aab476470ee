import { fullJitterDelay, sleep as realSleep } from './backoff.ts';
import { readServiceConfig, type ServiceConfig } from './config.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import {
  ConflictRetry,
  InvalidRequest,
  InvalidTransition,
  PreconditionFailed,
  SessionFull,
  SessionNotActive,
  SessionNotFound,
  StorageUnavailable,
} from './errors.ts';
import { landedAfter, readHistory, readRestoreTarget, restoredSession, sameContent, type HistoryOptions, type HistoryPage } from './history.ts';
import { IdempotencyRecords } from './idempotency.ts';
import { isSessionId, newestFirstId, sessionKey } from './ids.ts';
import { listingScope, nameIndexBody, nameIndexKey } from './name-index.ts';
import { LruCache } from './session-cache.ts';
import { SessionNameSchema, SessionSchema, transition, type Session, type SessionStatus } from './session.ts';
import { ConditionNotMet, sameEtag, StoreUnavailable, type ObjectStore } from './store/port.ts';

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

export interface ChangeOptions {
  /** Apply the change only to this version (the caller's `If-Match`). */
  ifMatch?: string | undefined;
  /** Who makes the change; stored as `updated_by`. */
  actor?: string | undefined;
}

export interface CreateOptions {
  name?: string | null | undefined;
  actor?: string | undefined;
  /** The caller's `Idempotency-Key`: a repeat within the window answers the session the first request opened. */
  idempotencyKey?: string | undefined;
}

/** A created session, or the one an earlier request with the same idempotency key opened. */
export interface CreateResult extends SessionVersion {
  /** True when the idempotency key had been presented before: the session is the recorded one, as it now stands. */
  replayed: boolean;
}

export interface ListOptions {
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

/** Something worth a log line that is not an error of the request itself. */
export interface RepositoryWarning {
  message: string;
  key: string;
  error: unknown;
}

export interface SessionRepositoryOptions {
  store: ObjectStore;
  config?: Partial<ServiceConfig>;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** Uniform in [0, 1), for backoff jitter. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  newId?: (unixMs: number) => string;
  onWarning?: (warning: RepositoryWarning) => void;
}

interface CachedVersion extends SessionVersion {
  body: string;
}

/** A change to a session: the new session, `undefined` when already in place, or a thrown refusal. */
type Change = (session: Session) => Session | undefined;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
const CREATE_ATTEMPTS = 3;
const LIST_READ_CONCURRENCY = 32;

/**
 * The session operations, on any object store. Creation is a create-only
 * write; every change is a compare-and-swap (read the version, apply the
 * change in memory, write it back `If-Match` that version) retried with
 * capped exponential backoff and full jitter when another writer wins.
 */
export class SessionRepository {
  readonly #store: ObjectStore;
  readonly #config: ServiceConfig;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #newId: (unixMs: number) => string;
  readonly #onWarning: (warning: RepositoryWarning) => void;
  readonly #cache: LruCache<string, CachedVersion>;
  readonly #idempotency: IdempotencyRecords;

  constructor(options: SessionRepositoryOptions) {
    this.#store = options.store;
    this.#config = { ...readServiceConfig({}), ...options.config };
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? realSleep;
    this.#newId = options.newId ?? ((unixMs) => newestFirstId(unixMs));
    this.#onWarning = options.onWarning ?? (() => {});
    this.#cache = new LruCache(this.#config.sessionCacheSize);
    this.#idempotency = new IdempotencyRecords({ store: this.#store, windowSeconds: this.#config.idempotencyWindowSeconds, clock: this.#clock });
  }

  get config(): Readonly<ServiceConfig> {
    return this.#config;
  }

  /**
   * Creates an active session with no jobs. Never overwrites: the write is
   * `If-None-Match: *`. A named session gets its name index entry first.
   * With an `idempotencyKey`, a repeat of the key within the window answers
   * the session the first request opened (`replayed`), finishing its creation
   * if that request stopped half-way.
   * @throws InvalidRequest when the key was used for a different request.
   */
  async createSession({ name = null, actor, idempotencyKey }: CreateOptions = {}): Promise<CreateResult> {
    if (idempotencyKey !== undefined) return this.#createOnce(name, actor, idempotencyKey);
    const nowMs = this.#clock();
    const seconds = Math.floor(nowMs / 1000);
    for (let attempt = 1; ; attempt++) {
      const id = this.#newId(nowMs);
      const session = newSession(id, name, seconds, actor);
      try {
        return { ...(await this.#writeNewSession(session)), replayed: false };
      } catch (error) {
        if (!(error instanceof ConditionNotMet || error instanceof StoreUnavailable)) throw error;
        // Our own write (or an earlier attempt of it) may have landed with its answer lost: then the object is ours.
        const existing = await this.#read(sessionKey(id));
        if (existing?.body === JSON.stringify(session)) return { session, etag: existing.etag, replayed: false };
        if (error instanceof StoreUnavailable) throw new StorageUnavailable({ cause: error });
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
  async #createOnce(name: string | null, actor: string | undefined, idempotencyKey: string): Promise<CreateResult> {
    const { record, claimed } = await this.#idempotency.claim({
      actor,
      key: idempotencyKey,
      request: { name },
      draw: () => {
        const nowMs = this.#clock();
        return { id: this.#newId(nowMs), createdAt: Math.floor(nowMs / 1000) };
      },
    });
    const id = record.session_id;
    if (!claimed) {
      const existing = await this.#readSession(id).catch((error: unknown) => {
        if (error instanceof SessionNotFound) return undefined;
        throw error;
      });
      if (existing !== undefined) return { session: existing.session, etag: existing.etag, replayed: true };
    }
    try {
      return { ...(await this.#writeNewSession(newSession(id, name, record.created_at, actor))), replayed: !claimed };
    } catch (error) {
      if (error instanceof StoreUnavailable) throw new StorageUnavailable({ cause: error });
      if (!(error instanceof ConditionNotMet)) throw error;
    }
    // Another request finishing this create wrote it first, or our own write landed with its answer lost.
    const current = await this.#readSession(id);
    return { session: current.session, etag: current.etag, replayed: !claimed };
  }

  /** Writes a new session create-only, its name index entry first, and remembers the version written. */
  async #writeNewSession(session: Session): Promise<SessionVersion> {
    const key = sessionKey(session.id);
    const body = JSON.stringify(session);
    await this.#indexName(session.name, session.id);
    const etag = await this.#store.put(key, body, { ifNoneMatch: '*' });
    this.#cache.set(key, { session, etag, body });
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

  /** The session with this ID. @throws SessionNotFound */
  async getSession(id: string): Promise<SessionVersion> {
    const current = await this.#readSession(requireId(id));
    return { session: current.session, etag: current.etag };
  }

  /**
   * Appends a job ID. Idempotent: a job already in the session changes
   * nothing and writes nothing.
   * @throws SessionNotActive, SessionFull, PreconditionFailed, ConflictRetry
   */
  addJob(id: string, jobId: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    const maxJobs = this.#config.maxJobsPerSession;
    return this.#change(requireId(id), options, (session) => {
      if (session.job_ids.includes(jobId)) return undefined;
      if (session.status !== 'active') throw new SessionNotActive(session.id, session.status);
      if (session.job_ids.length >= maxJobs) throw new SessionFull(session.id, maxJobs);
      return { ...session, job_ids: [...session.job_ids, jobId] };
    });
  }

  /**
   * Moves the session to `status`; the status it already has is a no-op.
   * @throws InvalidTransition, PreconditionFailed, ConflictRetry
   */
  setStatus(id: string, status: SessionStatus, options: ChangeOptions = {}): Promise<ChangeResult> {
    return this.#change(requireId(id), options, (session) => {
      switch (transition(session.status, status)) {
        case 'unchanged':
          return undefined;
        case 'refused':
          throw new InvalidTransition(session.id, session.status, status);
        case 'allowed':
          return { ...session, status };
      }
    });
  }

  // ---------------------------------------------------------------- audit trail and undo

  /**
   * The session's history, newest first: each stored version with when it was
   * recorded, who wrote it and what it changed (see `lib/history.ts`). A page
   * of N costs one version listing and N + 1 version reads.
   * @throws SessionNotFound, VersioningDisabled, InvalidRequest (limit, cursor)
   */
  sessionHistory(id: string, options: HistoryOptions = {}): Promise<HistoryPage> {
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
  async restoreVersion(id: string, versionId: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    const checked = requireId(id);
    const target = await readRestoreTarget(this.#store, sessionKey(checked), checked, versionId);
    const restored = restoredSession(target);
    return this.#change(checked, options, (session) => (sameContent(session, target) ? undefined : restored), versionId);
  }

  /**
   * A page of sessions, newest first: a prefix listing in key order. With a
   * status filter it reads further until the page is full or the scan budget
   * is spent, then hands back a cursor. Objects that do not parse are skipped
   * and reported through `onWarning`. With a name it lists that name's index
   * entries instead (one LIST and one read per entry, however many other
   * sessions exist) and keeps an entry only when its session exists and
   * carries exactly that name.
   */
  async listSessions({ limit = DEFAULT_LIMIT, cursor, status, name }: ListOptions = {}): Promise<ListResult> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw InvalidRequest.field('query.limit', `must be an integer from 1 to ${MAX_LIMIT}`);
    }
    if (name !== undefined && !SessionNameSchema.safeParse(name).success) {
      throw InvalidRequest.field('query.name', 'must be 1-256 characters without control characters');
    }
    const scope = listingScope(name);
    let after = cursor === undefined ? undefined : scope.keyOf(decodeCursor(cursor));
    const budget = this.#config.listScanBudget;
    const sessions: Session[] = [];
    let scanned = 0;
    let lastId: string | undefined;
    let more = true;
    while (more && sessions.length < limit && scanned < budget) {
      // Unfiltered, every key is a match: list exactly what is missing. Filtered, list ahead
      // (one LIST returns up to 1,000 keys) and read only as many as the page still needs.
      const pageSize = Math.min(1000, status === undefined ? limit - sessions.length : budget - scanned);
      const page = await this.#listKeys({ prefix: scope.prefix, limit: pageSize, startAfter: after });
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
    return { sessions, nextCursor: more && lastId !== undefined ? encodeCursor(lastId) : null, scanned };
  }

  async #listKeys(options: { prefix: string; limit: number; startAfter: string | undefined }) {
    try {
      return await this.#store.list(options.prefix, {
        limit: options.limit,
        ...(options.startAfter === undefined ? {} : { startAfter: options.startAfter }),
      });
    } catch (error) {
      throw error instanceof StoreUnavailable ? new StorageUnavailable({ cause: error }) : error;
    }
  }

  /** The session a listed key names, or undefined when there is none or it does not parse (then a warning). */
  async #readListed(id: string | undefined): Promise<Session | undefined> {
    if (id === undefined) return undefined;
    const key = sessionKey(id);
    const stored = await this.#read(key);
    if (stored === undefined) return undefined;
    const session = parseSession(stored.body);
    if (session instanceof Error) {
      this.#onWarning({ message: 'skipped a stored object that is not a valid session', key, error: session });
      return undefined;
    }
    return session;
  }

  /**
   * The compare-and-swap loop. The first attempt may start from the version
   * this instance last saw (no read); any refusal, no-op or failed write based
   * on that remembered version is confirmed against a fresh read.
   */
  async #change(id: string, { ifMatch, actor }: ChangeOptions, apply: Change, restoredFrom?: string): Promise<ChangeResult> {
    const key = sessionKey(id);
    const maxAttempts = this.#config.casMaxAttempts;
    let remembered = this.#cache.get(key);
    if (remembered !== undefined && ifMatch !== undefined && !sameEtag(remembered.etag, ifMatch)) remembered = undefined;
    let attempts = 0;
    let conflicts = 0;
    let lastAttempt: string | undefined;
    let lastBase: string | undefined;
    let lastFailure: unknown;

    for (;;) {
      const fromMemory = remembered !== undefined;
      const current = remembered ?? (await this.#readSession(id));
      remembered = undefined;

      if (lastAttempt !== undefined && (current.body === lastAttempt || (restoredFrom !== undefined && (await landedAfter(this.#store, key, lastBase!, lastAttempt))))) {
        // A write reported as failed had in fact landed (its answer was lost and a retry collided with it).
        // A restore is not applied again over what others wrote after it: it looks through the versions since.
        this.#cache.set(key, current);
        return { session: current.session, etag: current.etag, changed: true, attempts, conflicts };
      }
      if (ifMatch !== undefined && !sameEtag(current.etag, ifMatch)) throw new PreconditionFailed(id, ifMatch);

      let next: Session | undefined;
      try {
        next = apply(current.session);
      } catch (refusal) {
        if (fromMemory) continue;
        throw refusal;
      }
      if (next === undefined) {
        if (fromMemory) continue;
        return { session: current.session, etag: current.etag, changed: false, attempts, conflicts };
      }

      if (attempts >= maxAttempts) {
        throw lastFailure instanceof StoreUnavailable
          ? new StorageUnavailable({ cause: lastFailure })
          : new ConflictRetry(id, attempts);
      }
      attempts++;
      const written = this.#stamp(current.session, next, actor, restoredFrom);
      const body = JSON.stringify(written);
      try {
        const etag = await this.#store.put(key, body, { ifMatch: current.etag });
        this.#cache.set(key, { session: written, etag, body });
        return { session: written, etag, changed: true, attempts, conflicts };
      } catch (error) {
        if (!(error instanceof ConditionNotMet || error instanceof StoreUnavailable)) throw error;
        this.#cache.delete(key);
        lastAttempt = body;
        lastBase = current.etag;
        lastFailure = error;
        if (error instanceof ConditionNotMet) conflicts++;
      }
      if (!fromMemory) await this.#sleep(fullJitterDelay(attempts, this.#config.casBaseDelayMs, this.#config.casMaxDelayMs, this.#random));
    }
  }

  /**
   * Sets `updated_at` (never backwards) and `updated_by` on a changed session,
   * and `restored_from` on the version a restore writes: every other change
   * drops it, so that it marks exactly one version.
   */
  #stamp(previous: Session, next: Session, actor: string | undefined, restoredFrom?: string): Session {
    const seconds = Math.max(previous.updated_at, Math.floor(this.#clock() / 1000));
    const { restored_from: _inherited, ...changed } = next;
    return {
      ...changed,
      updated_at: seconds,
      ...(actor === undefined ? {} : { updated_by: actor }),
      ...(restoredFrom === undefined ? {} : { restored_from: restoredFrom }),
    };
  }

  async #readSession(id: string): Promise<CachedVersion> {
    const key = sessionKey(id);
    const stored = await this.#read(key);
    if (stored === undefined) {
      this.#cache.delete(key);
      throw new SessionNotFound(id);
    }
    const session = parseSession(stored.body);
    if (session instanceof Error) throw new Error(`stored object ${key} is not a valid session`, { cause: session });
    const version = { session, etag: stored.etag, body: stored.body };
    this.#cache.set(key, version);
    return version;
  }

  async #read(key: string) {
    try {
      return await this.#store.get(key);
    } catch (error) {
      throw error instanceof StoreUnavailable ? new StorageUnavailable({ cause: error }) : error;
    }
  }
}

/** An active session with no jobs, created at `seconds` (Unix) by `actor`. */
function newSession(id: string, name: string | null, seconds: number, actor: string | undefined): Session {
  return {
    id,
    name,
    job_ids: [],
    created_at: seconds,
    updated_at: seconds,
    status: 'active',
    ...(actor === undefined ? {} : { updated_by: actor }),
  };
}

function requireId(id: string): string {
  if (!isSessionId(id)) throw InvalidRequest.field('path.id', 'must be 32 lowercase hexadecimal characters');
  return id;
}

/** The session in a stored body, or the reason it is not one. */
function parseSession(body: string): Session | Error {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const parsed = SessionSchema.safeParse(json);
  return parsed.success ? parsed.data : parsed.error;
}
