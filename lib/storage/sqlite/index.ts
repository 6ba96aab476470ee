import { systemClock, type TimeSource } from '../../common/clock.ts';
import {
  type KeyListOptions,
  type ListPage,
  type ObjectPage,
  type PrunableObjectStore,
  type PurgingObjectStore,
  type StoredObject,
  UnknownVersion,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '../port.ts';
import { BodyCache } from './body-cache.ts';
import { SqliteDatabase } from './database.ts';
import { bufferOf, checkCondition, checkKey, checkLimit, checkWrite, pageOf } from './key-space.ts';
import { UnversionedSqliteObjectStore } from './state-store.ts';
import { applyDelta, type CachedBody, deltaOf, md5After } from './versions.ts';

export { DATABASE_NAME, DataDirectoryUnusable, EarlierDataDirectory, isStorageFault } from './database.ts';
export { InvalidKey } from './key-space.ts';
export { UnversionedSqliteObjectStore } from './state-store.ts';

/** A version ID: the key's 12-digit sequence number, the write's Unix ms (13 digits) and the body's MD5. */
const VERSION_ID = /^(\d{12})-(\d{13})-([0-9a-f]{32})$/;

export interface SqliteStoreOptions {
  /** How long a write waits for another process's write lock before it fails with StoreFault. Default 5 s. */
  busyTimeoutMs?: number;
  /** Dates versions and soft-state records. Default the system clock. */
  clock?: TimeSource;
  /** Bytes of current bodies kept in memory. Default 64 MiB. */
  cacheBytes?: number;
}

/** The two stores of a data directory: the sessions, which keep versions, and the soft state (lease renewals, announced cursors). */
export interface SqliteStores {
  sessions: SqliteObjectStore;
  state: UnversionedSqliteObjectStore;
}

/**
 * The stores of the data directory `dataDir`, sharing one database file
 * (`sessions.sqlite`), made when missing.
 * @throws EarlierDataDirectory when it holds an earlier version's store (left unchanged)
 * @throws DataDirectoryUnusable when it cannot be created, opened or written
 */
export function openSqliteStores(dataDir: string, options: SqliteStoreOptions = {}): SqliteStores {
  const database = new SqliteDatabase(dataDir, options);
  return { sessions: new SqliteObjectStore(database, options), state: new UnversionedSqliteObjectStore(database, options) };
}

interface HeadRow {
  id: number;
  seq: number;
  live: number;
  md5: string;
  ms: number;
  base: number;
  chain: number;
}

interface ChainRow {
  keep_prefix: number | null;
  keep_suffix: number | null;
  data: Uint8Array;
}

/**
 * The object-store port on SQLite, keeping every version: the embedded store
 * of the local server, with the semantics of S3 conditional writes and
 * versions. Tables (`database.ts`): `keys` (one row per key: its newest
 * version, whether it is live, and where that version's chain starts) and
 * `versions` (one row per write: a full body or a delta, `versions.ts`).
 *
 * - A write is a transaction (`BEGIN IMMEDIATE`, shared with the writes
 *   asked for at the same moment): the condition is checked against the
 *   committed state of every process, and the write is on disk when it resolves.
 * - Reading the newest body is one query: the key's row and, unless the body
 *   of that version is cached here, its chain (a full body and the deltas
 *   after it). A write by another process is seen by its version number.
 * - Listing is a range of the key index, in UTF-8 byte order (S3's order).
 * - ETags are those of S3 single-part uploads: the quoted MD5 hex of the body.
 *   Version IDs are `<sequence>-<unix ms>-<md5>`, opaque to callers; the
 *   milliseconds never go backwards along a key.
 * - Deleting a key hides it from reads and listings; its versions stay listed.
 */
export class SqliteObjectStore implements PurgingObjectStore, PrunableObjectStore {
  readonly database: SqliteDatabase;
  readonly #clock: TimeSource;
  readonly #cache: BodyCache;

  constructor(database: SqliteDatabase | string, options: SqliteStoreOptions = {}) {
    this.database = typeof database === 'string' ? new SqliteDatabase(database, options) : database;
    this.#clock = options.clock ?? systemClock;
    this.#cache = new BodyCache(options.cacheBytes ?? 64 * 1024 * 1024);
  }

  /** The data directory, resolved. */
  get root(): string {
    return this.database.root;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const cached = this.#cache.peek(key);
    const rows = await this.database.read(`get ${key}`, () =>
      this.database
        .statement(
          `SELECT k.seq AS head, k.live, k.md5, k.ms, v.keep_prefix, v.keep_suffix, v.data FROM keys k
           LEFT JOIN versions v ON v.key_id = k.id AND k.seq <> ?2 AND v.seq BETWEEN k.base AND k.seq
           WHERE k.key = ?1 ORDER BY v.seq`,
        )
        .all(key, cached?.seq ?? -1),
    );
    const head = rows[0] as (ChainRow & { head: number; live: number; md5: string; ms: number }) | undefined;
    if (head === undefined || head.live !== 1) return undefined;
    let body = cached !== undefined && cached.seq === head.head ? cached : undefined;
    if (body === undefined) {
      const bytes = rebuild(rows as unknown as ChainRow[]);
      body = { seq: head.head, bytes, text: bytes.toString('utf-8'), versionId: versionIdOf(head.head, head.ms, head.md5) };
      this.#cache.set(key, body);
    }
    return { body: body.text, etag: `"${head.md5}"` };
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    checkWrite(key, body, condition);
    const bytes = Buffer.from(body, 'utf-8');
    // The text is kept beside the bytes only when decoding them gives it back (no lone surrogates).
    const text = body.isWellFormed() ? body : bytes.toString('utf-8');
    return this.database.write(() => {
      const head = this.database.statement('SELECT id, seq, live, md5, ms, base, chain FROM keys WHERE key = ?').get(key) as
        | HeadRow
        | undefined;
      checkCondition(key, head?.live === 1 ? head.md5 : undefined, condition);
      const previous = head?.live === 1 ? this.#current(key, head) : undefined;
      const delta = previous === undefined ? undefined : deltaOf(previous.bytes, bytes);
      const chain = (head?.chain ?? 0) + (delta?.insert.length ?? 0);
      const keepsDelta = delta !== undefined && chain <= bytes.length;
      const { md5, hash } = md5After(previous, delta, bytes);
      const seq = (head?.seq ?? 0) + 1;
      const ms = Math.max(this.#clock.now(), head?.ms ?? 0);
      const base = keepsDelta ? head!.base : seq;
      let id = head?.id;
      if (id === undefined) {
        const inserted = this.database
          .statement('INSERT INTO keys (key, seq, live, md5, ms, base, chain) VALUES (?, ?, 1, ?, ?, ?, ?) RETURNING id')
          .get(key, seq, md5, ms, base, keepsDelta ? chain : 0) as { id: number };
        id = inserted.id;
      } else {
        this.database
          .statement('UPDATE keys SET seq = ?, live = 1, md5 = ?, ms = ?, base = ?, chain = ? WHERE id = ?')
          .run(seq, md5, ms, base, keepsDelta ? chain : 0, id);
      }
      this.database
        .statement('INSERT INTO versions (key_id, seq, ms, md5, base, keep_prefix, keep_suffix, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(
          id,
          seq,
          ms,
          md5,
          base,
          keepsDelta ? delta.keepPrefix : null,
          keepsDelta ? delta.keepSuffix : null,
          keepsDelta ? delta.insert : bytes,
        );
      return () => {
        const versionId = versionIdOf(seq, ms, md5);
        this.#cache.set(key, { seq, bytes, text, hash, versionId });
        return { etag: `"${md5}"`, versionId };
      };
    });
  }

  /** The body of the newest version of `key` (whose row is `head`): cached, or rebuilt from its chain. */
  #current(key: string, head: HeadRow): CachedBody {
    const cached = this.#cache.version(key, head.seq);
    if (cached !== undefined) return cached;
    const rows = this.database
      .statement('SELECT keep_prefix, keep_suffix, data FROM versions WHERE key_id = ? AND seq BETWEEN ? AND ? ORDER BY seq')
      .all(head.id, head.base, head.seq) as unknown as ChainRow[];
    const bytes = rebuild(rows);
    return { seq: head.seq, bytes, text: bytes.toString('utf-8') };
  }

  async list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    const { rows, truncated } = await this.#page(prefix, options, 'key');
    return { keys: rows.map((row) => row.key), truncated };
  }

  async listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    const { rows, truncated } = await this.#page(prefix, options, 'key, md5, ms');
    return { objects: rows.map((row) => ({ key: row.key, etag: `"${row.md5}"`, lastModified: new Date(row.ms) })), truncated };
  }

  #page(prefix: string, { limit, startAfter }: KeyListOptions, columns: string) {
    return pageOf(
      this.database,
      (range) => `SELECT ${columns} FROM keys WHERE live = 1 AND ${range} ORDER BY key LIMIT ?3`,
      prefix,
      limit,
      startAfter,
    );
  }

  delete(key: string): Promise<void> {
    checkKey(key);
    return this.database.write(() => {
      this.database.statement('UPDATE keys SET live = 0 WHERE key = ?').run(key);
      return () => undefined;
    });
  }

  /**
   * Deletes `key` with every version (retention), in one transaction; with `ifMatch`, only while that ETag is current.
   * The key's row stays, not live and without versions, so that its sequence goes on: no version ID is issued twice,
   * and no cached body is taken for a later version's.
   */
  purge(key: string, ifMatch?: string): Promise<void> {
    checkKey(key);
    return this.database.write(() => {
      const head = this.database.statement('SELECT id, seq, live, md5 FROM keys WHERE key = ?').get(key) as
        | { id: number; seq: number; live: number; md5: string }
        | undefined;
      if (ifMatch !== undefined) checkCondition(key, head?.live === 1 ? head.md5 : undefined, { ifMatch });
      if (head === undefined) return () => undefined;
      this.database.statement('DELETE FROM versions WHERE key_id = ?').run(head.id);
      this.database.statement('UPDATE keys SET live = 0, chain = 0 WHERE id = ?').run(head.id);
      return () => this.#cache.forget(key, head.seq);
    });
  }

  async listVersions(key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    checkLimit(limit);
    checkKey(key);
    const rows = await this.database.read(`list versions of ${key}`, () => {
      const head = this.database.statement('SELECT id, seq, live FROM keys WHERE key = ?').get(key) as HeadRow | undefined;
      let before = (head?.seq ?? 0) + 1;
      if (cursor !== undefined) {
        const match = VERSION_ID.exec(cursor);
        const at =
          match === null || head === undefined
            ? undefined
            : (this.database.statement('SELECT seq, ms, md5 FROM versions WHERE key_id = ? AND seq = ?').get(head.id, Number(match[1])) as
                | { seq: number; ms: number; md5: string }
                | undefined);
        if (at === undefined || versionIdOf(at.seq, at.ms, at.md5) !== cursor) throw new UnknownVersion(key, cursor);
        before = at.seq;
      }
      if (head === undefined) return [];
      const listed = this.database
        .statement('SELECT seq, ms, md5 FROM versions WHERE key_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?')
        .all(head.id, before, limit + 1) as { seq: number; ms: number; md5: string }[];
      return listed.map((row) => ({
        versionId: versionIdOf(row.seq, row.ms, row.md5),
        etag: `"${row.md5}"`,
        lastModified: new Date(row.ms),
        isLatest: head.live === 1 && row.seq === head.seq,
      }));
    });
    const versions = rows.slice(0, limit);
    return rows.length > limit ? { versions, cursor: versions.at(-1)!.versionId } : { versions };
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const match = VERSION_ID.exec(versionId);
    if (match === null) return undefined;
    const seq = Number(match[1]);
    const cached = this.#cache.version(key, seq);
    if (cached?.versionId === versionId) return { body: cached.text, etag: `"${match[3]}"`, versionId };
    const rows = await this.database.read(`get ${key} version ${versionId}`, () =>
      this.database
        .statement(
          `SELECT t.ms, t.md5, v.keep_prefix, v.keep_suffix, v.data FROM keys k
           JOIN versions t ON t.key_id = k.id AND t.seq = ?2
           JOIN versions v ON v.key_id = k.id AND v.seq BETWEEN t.base AND t.seq
           WHERE k.key = ?1 ORDER BY v.seq`,
        )
        .all(key, seq),
    );
    const first = rows[0] as (ChainRow & { ms: number; md5: string }) | undefined;
    if (first === undefined || versionIdOf(seq, first.ms, first.md5) !== versionId) return undefined;
    return { body: rebuild(rows as unknown as ChainRow[]).toString('utf-8'), etag: `"${first.md5}"`, versionId };
  }

  /** Closes the database (shared with the other store of the data directory); the store is not used afterwards. */
  close(): Promise<void> {
    return this.database.close();
  }
}

/** The body a chain of rows (a full body, then deltas, oldest first) makes. */
function rebuild(rows: ChainRow[]): Buffer {
  let body: Buffer = Buffer.alloc(0);
  for (const row of rows) {
    const data = bufferOf(row.data);
    body = row.keep_prefix === null ? data : applyDelta(body, { keepPrefix: row.keep_prefix, keepSuffix: row.keep_suffix!, insert: data });
  }
  return body;
}

function versionIdOf(seq: number, ms: number, md5: string): string {
  return `${String(seq).padStart(12, '0')}-${String(ms).padStart(13, '0')}-${md5}`;
}
