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
import { idFromKey, isSessionId, newestFirstId, sessionKey, SESSIONS_PREFIX } from './ids.ts';
import { LruCache } from './session-cache.ts';
import { SessionSchema, transition, type Session, type SessionStatus } from './session.ts';
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
}

export interface ListOptions {
  /** 1–100, default 50. */
  limit?: number | undefined;
  /** From a previous page's `nextCursor`. */
  cursor?: string | undefined;
  status?: SessionStatus | undefined;
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

  constructor(options: SessionRepositoryOptions) {
    this.#store = options.store;
    this.#config = { ...readServiceConfig({}), ...options.config };
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? realSleep;
    this.#newId = options.newId ?? ((unixMs) => newestFirstId(unixMs));
    this.#onWarning = options.onWarning ?? (() => {});
    this.#cache = new LruCache(this.#config.sessionCacheSize);
  }

  get config(): Readonly<ServiceConfig> {
    return this.#config;
  }

  /** Creates an active session with no jobs. Never overwrites: the write is `If-None-Match: *`. */
  async createSession({ name = null, actor }: CreateOptions = {}): Promise<SessionVersion> {
    const nowMs = this.#clock();
    const seconds = Math.floor(nowMs / 1000);
    for (let attempt = 1; ; attempt++) {
      const id = this.#newId(nowMs);
      const key = sessionKey(id);
      const session: Session = {
        id,
        name,
        job_ids: [],
        created_at: seconds,
        updated_at: seconds,
        status: 'active',
        ...(actor === undefined ? {} : { updated_by: actor }),
      };
      const body = JSON.stringify(session);
      try {
        const etag = await this.#store.put(key, body, { ifNoneMatch: '*' });
        this.#cache.set(key, { session, etag, body });
        return { session, etag };
      } catch (error) {
        if (error instanceof StoreUnavailable) throw new StorageUnavailable({ cause: error });
        if (!(error instanceof ConditionNotMet)) throw error;
        // Our own earlier attempt may have landed with its answer lost: then the object is ours.
        const existing = await this.#read(key);
        if (existing?.body === body) return { session, etag: existing.etag };
        if (attempt >= CREATE_ATTEMPTS) throw error;
      }
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

  /**
   * A page of sessions, newest first: a prefix listing in key order. With a
   * status filter it reads further until the page is full or the scan budget
   * is spent, then hands back a cursor. Objects that do not parse are skipped
   * and reported through `onWarning`.
   */
  async listSessions({ limit = DEFAULT_LIMIT, cursor, status }: ListOptions = {}): Promise<ListResult> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw InvalidRequest.field('query.limit', `must be an integer from 1 to ${MAX_LIMIT}`);
    }
    let after = cursor === undefined ? undefined : sessionKey(decodeCursor(cursor));
    const budget = this.#config.listScanBudget;
    const sessions: Session[] = [];
    let scanned = 0;
    let lastId: string | undefined;
    let more = true;
    while (more && sessions.length < limit && scanned < budget) {
      // Unfiltered, every key is a match: list exactly what is missing. Filtered, list ahead
      // (one LIST returns up to 1,000 keys) and read only as many as the page still needs.
      const pageSize = Math.min(1000, status === undefined ? limit - sessions.length : budget - scanned);
      const page = await this.#listKeys({ limit: pageSize, startAfter: after });
      let consumed = 0;
      while (consumed < page.keys.length && sessions.length < limit && scanned < budget) {
        const width = Math.min(LIST_READ_CONCURRENCY, limit - sessions.length, budget - scanned);
        const chunk = page.keys.slice(consumed, consumed + width);
        const read = await Promise.all(chunk.map((key) => this.#readListed(key)));
        for (const [offset, session] of read.entries()) {
          const key = chunk[offset]!;
          consumed++;
          scanned++;
          after = key;
          lastId = idFromKey(key) ?? lastId;
          if (session !== undefined && (status === undefined || session.status === status)) sessions.push(session);
          if (sessions.length >= limit) break;
        }
      }
      more = consumed < page.keys.length || (page.truncated && page.keys.length > 0);
    }
    return { sessions, nextCursor: more && lastId !== undefined ? encodeCursor(lastId) : null, scanned };
  }

  async #listKeys(options: { limit: number; startAfter: string | undefined }) {
    try {
      return await this.#store.list(SESSIONS_PREFIX, {
        limit: options.limit,
        ...(options.startAfter === undefined ? {} : { startAfter: options.startAfter }),
      });
    } catch (error) {
      throw error instanceof StoreUnavailable ? new StorageUnavailable({ cause: error }) : error;
    }
  }

  /** One listed object, or undefined when it vanished or does not parse (then a warning). */
  async #readListed(key: string): Promise<Session | undefined> {
    if (idFromKey(key) === undefined) return undefined;
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
  async #change(id: string, { ifMatch, actor }: ChangeOptions, apply: Change): Promise<ChangeResult> {
    const key = sessionKey(id);
    const maxAttempts = this.#config.casMaxAttempts;
    let remembered = this.#cache.get(key);
    if (remembered !== undefined && ifMatch !== undefined && !sameEtag(remembered.etag, ifMatch)) remembered = undefined;
    let attempts = 0;
    let conflicts = 0;
    let lastAttempt: string | undefined;
    let lastFailure: unknown;

    for (;;) {
      const fromMemory = remembered !== undefined;
      const current = remembered ?? (await this.#readSession(id));
      remembered = undefined;

      if (lastAttempt !== undefined && current.body === lastAttempt) {
        // A write reported as failed had in fact landed (its answer was lost and a retry collided with it).
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
      const written = this.#stamp(current.session, next, actor);
      const body = JSON.stringify(written);
      try {
        const etag = await this.#store.put(key, body, { ifMatch: current.etag });
        this.#cache.set(key, { session: written, etag, body });
        return { session: written, etag, changed: true, attempts, conflicts };
      } catch (error) {
        if (!(error instanceof ConditionNotMet || error instanceof StoreUnavailable)) throw error;
        this.#cache.delete(key);
        lastAttempt = body;
        lastFailure = error;
        if (error instanceof ConditionNotMet) conflicts++;
      }
      if (!fromMemory) await this.#sleep(fullJitterDelay(attempts, this.#config.casBaseDelayMs, this.#config.casMaxDelayMs, this.#random));
    }
  }

  /** Sets `updated_at` (never backwards) and `updated_by` on a changed session. */
  #stamp(previous: Session, next: Session, actor: string | undefined): Session {
    const seconds = Math.max(previous.updated_at, Math.floor(this.#clock() / 1000));
    return { ...next, updated_at: seconds, ...(actor === undefined ? {} : { updated_by: actor }) };
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
