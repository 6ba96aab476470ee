import { accessSync, constants, existsSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionNotMet, StoreFault, UnknownVersion } from '../port.ts';

/** The database file of a data directory. */
export const DATABASE_NAME = 'sessions.sqlite';

/**
 * SQLite result codes (their low byte) after which an operation may be retried:
 * busy or locked, out of memory, read-only, I/O error, disk full, cannot open, lock protocol.
 */
const TRANSIENT_SQLITE = new Set([5, 6, 7, 8, 10, 13, 14, 15]);
/** Filesystem error codes that are storage faults, not misconfiguration. */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EDQUOT', 'EINTR', 'EIO', 'EMFILE', 'ENFILE', 'ENOSPC', 'EROFS', 'ETIMEDOUT']);
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  seq INTEGER NOT NULL,
  live INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  ms INTEGER NOT NULL,
  base INTEGER NOT NULL,
  chain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  key_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  ms INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  base INTEGER NOT NULL,
  keep_prefix INTEGER,
  keep_suffix INTEGER,
  data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_key ON versions (key_id, seq);
CREATE TABLE IF NOT EXISTS state (
  key TEXT NOT NULL UNIQUE,
  md5 TEXT NOT NULL,
  ms INTEGER NOT NULL,
  body BLOB NOT NULL
);
`;

/** `npm start` found the data directory of an earlier version's store: never read as this one, never changed. */
export class EarlierDataDirectory extends Error {
  override readonly name = 'EarlierDataDirectory';
  constructor(root: string, found: string) {
    super(
      `${root} holds ${found}, which this version does not read and has left unchanged: ` +
        `run \`runner-sessions export --url URL > sessions.jsonl\` against a server of the earlier version, ` +
        `then \`runner-sessions import sessions.jsonl --data-dir DIR\` into a new directory`,
    );
  }
}

/** The data directory cannot be opened for writing (read-only, missing permissions, not a directory). */
export class DataDirectoryUnusable extends Error {
  override readonly name = 'DataDirectoryUnusable';
  constructor(root: string, cause: unknown) {
    super(`data directory ${root} cannot be used: ${describe(cause)}`, { cause });
  }
}

/** What an earlier store left in `root`, or undefined when nothing. */
export function earlierLayout(root: string): string | undefined {
  if (existsSync(path.join(root, 'store.json')) || existsSync(path.join(root, 'log')))
    return 'the log store of an earlier version (store.json, log)';
  const objects = path.join(root, 'objects');
  if (existsSync(objects) && readdirSync(objects).length > 0) return 'the file-per-object store of an earlier version (objects/)';
  for (const side of ['leases', 'announced'])
    if (existsSync(path.join(root, side, 'store.json'))) return `the log store of an earlier version (${side}/store.json)`;
  return undefined;
}

export interface DatabaseOptions {
  /** How long a write waits for another process's write lock before it fails with StoreFault. Default 5 s. */
  busyTimeoutMs?: number;
}

/** Checks and writes synchronously inside a transaction; returns what to do once it has committed (which gives the result). */
type Work<T> = () => () => T;

/**
 * One SQLite database of a data directory, through `node:sqlite`: WAL
 * journal, `synchronous=FULL` (a commit is on disk when it returns), and
 * SQLite's own file locks between processes. Writes are batched: every write
 * asked for while the event loop runs one turn is done in one `BEGIN
 * IMMEDIATE` transaction (one fsync for all), each with its own condition
 * result. Waiting for another process's lock never blocks the event loop for
 * long: SQLite waits a few milliseconds, then the wait goes on in timers.
 */
export class SqliteDatabase {
  readonly root: string;
  readonly file: string;
  readonly db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, StatementSync>();
  #pending: { work: Work<unknown>; resolve: (result: unknown) => void; reject: (error: unknown) => void }[] = [];
  #flushing = false;
  #closed = false;

  constructor(dataDir: string, options: DatabaseOptions = {}) {
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    let root = path.resolve(dataDir);
    try {
      mkdirSync(root, { recursive: true });
      root = realpathSync(root);
    } catch (error) {
      throw new DataDirectoryUnusable(root, error);
    }
    const found = earlierLayout(root);
    if (found !== undefined) throw new EarlierDataDirectory(root, found);
    this.root = root;
    this.file = path.join(root, DATABASE_NAME);
    try {
      this.db = new DatabaseSync(this.file, { timeout: 20 });
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = FULL');
      this.#retryingSync(() => this.db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`));
    } catch (error) {
      throw new DataDirectoryUnusable(root, writeProblem(root) ?? error);
    }
  }

  statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs a read (one statement, or several that need no common snapshot), retried while another connection holds a lock SQLite needs. */
  async read<T>(what: string, operation: () => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return operation();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw asFault(what, error);
      }
      await sleep(backoff(attempt));
    }
  }

  /**
   * Runs `work` in the next write transaction. `work` checks and writes
   * synchronously; it returns what to do once the transaction has committed
   * (its result lands there), or throws ConditionNotMet (it wrote nothing).
   */
  write<T>(work: Work<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreFault('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (result: unknown) => void, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        let batch = this.#pending;
        try {
          await this.#begin();
        } catch (error) {
          // Every write waiting now failed to get the lock in time.
          batch = this.#pending.splice(0);
          for (const entry of batch) entry.reject(asFault('write', error));
          continue;
        }
        batch = this.#pending.splice(0);
        const outcomes: ({ ok: true; after: () => unknown } | { ok: false; error: unknown })[] = [];
        try {
          for (const entry of batch) {
            try {
              outcomes.push({ ok: true, after: entry.work() });
            } catch (error) {
              if (!(error instanceof ConditionNotMet || error instanceof UnknownVersion)) throw error;
              outcomes.push({ ok: false, error });
            }
          }
          this.db.exec('COMMIT');
        } catch (error) {
          if (this.db.isTransaction) this.db.exec('ROLLBACK');
          for (const entry of batch) entry.reject(asFault('write', error));
          continue;
        }
        for (const [index, entry] of batch.entries()) {
          const outcome = outcomes[index]!;
          if (!outcome.ok) entry.reject(outcome.error);
          else
            try {
              entry.resolve(outcome.after());
            } catch (error) {
              entry.reject(error);
            }
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** `BEGIN IMMEDIATE`, waiting in timers while another connection writes. */
  async #begin(): Promise<void> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
      }
      await sleep(backoff(attempt));
    }
  }

  #retryingSync(operation: () => void): void {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (;;) {
      try {
        operation();
        return;
      } catch (error) {
        if (this.db.isTransaction) this.db.exec('ROLLBACK');
        if (!isBusy(error) || Date.now() >= deadline) throw error;
      }
    }
  }

  /** Stops taking writes; the database is closed once those queued have committed. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await sleep(5);
    if (this.db.isOpen) this.db.close();
  }
}

/** Why `root` cannot be written to, when the filesystem says so (SQLite says only that it cannot open the file). */
function writeProblem(root: string): unknown {
  try {
    accessSync(root, constants.W_OK);
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Milliseconds to wait before the attempt after `attempt`: 2, 4, 8 … up to 50, with jitter. */
function backoff(attempt: number): number {
  return Math.min(50, 2 ** (attempt + 1)) * (0.5 + Math.random() / 2);
}

function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

function isBusy(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === SQLITE_BUSY || code === SQLITE_LOCKED;
}

/** True when `error` is a storage fault: the disk is full, read-only, failing or busy, and the operation may be retried. */
export function isStorageFault(error: unknown): boolean {
  const code = sqliteCode(error);
  if (code !== undefined) return TRANSIENT_SQLITE.has(code);
  const errno = (error as NodeJS.ErrnoException | null)?.code;
  return typeof errno === 'string' && TRANSIENT_CODES.has(errno);
}

/** `error` as the port throws it: its own errors unchanged, storage faults as StoreFault, anything else unchanged. */
export function asFault(what: string, error: unknown): unknown {
  if (error instanceof ConditionNotMet || error instanceof StoreFault || error instanceof UnknownVersion) return error;
  return isStorageFault(error) ? new StoreFault(`${what}: ${describe(error)}`, { cause: error }) : error;
}

function describe(error: unknown): string {
  const errstr = (error as { errstr?: unknown } | null)?.errstr;
  if (typeof errstr === 'string') return `${errstr} (SQLite ${(error as { errcode: number }).errcode})`;
  return error instanceof Error ? error.message : String(error);
}
