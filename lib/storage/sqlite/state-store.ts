import { createHash } from 'node:crypto';
import { systemClock, type TimeSource } from '../../common/clock.ts';
import type { KeyListOptions, ListPage, ObjectPage, PrunableObjectStore, StoredObject, WriteCondition } from '../port.ts';
import { SqliteDatabase } from './database.ts';
import type { SqliteStoreOptions } from './index.ts';
import { bufferOf, checkCondition, checkKey, checkWrite, pageOf } from './key-space.ts';

/**
 * The SQLite store for soft state (lease renewal records, announced-event
 * cursors): the same database, transactions and guarantees as
 * `SqliteObjectStore` (`index.ts`), but it keeps only each key's current body and
 * offers no version operations (so `keepsVersions` is false): a record
 * rewritten every few seconds for days stays one row.
 */
export class UnversionedSqliteObjectStore implements PrunableObjectStore {
  readonly database: SqliteDatabase;
  readonly #clock: TimeSource;

  constructor(database: SqliteDatabase | string, options: SqliteStoreOptions = {}) {
    this.database = typeof database === 'string' ? new SqliteDatabase(database, options) : database;
    this.#clock = options.clock ?? systemClock;
  }

  /** The data directory, resolved. */
  get root(): string {
    return this.database.root;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const row = (await this.database.read(`get ${key}`, () =>
      this.database.statement('SELECT md5, body FROM state WHERE key = ?').get(key),
    )) as { md5: string; body: Uint8Array } | undefined;
    return row === undefined ? undefined : { body: bufferOf(row.body).toString('utf-8'), etag: `"${row.md5}"` };
  }

  put(key: string, body: string, condition: WriteCondition): Promise<string> {
    checkWrite(key, body, condition);
    const bytes = Buffer.from(body, 'utf-8');
    const md5 = createHash('md5').update(bytes).digest('hex');
    return this.database.write(() => {
      const current = this.database.statement('SELECT md5 FROM state WHERE key = ?').get(key) as { md5: string } | undefined;
      checkCondition(key, current?.md5, condition);
      this.database
        .statement(
          'INSERT INTO state (key, md5, ms, body) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET md5 = ?2, ms = ?3, body = ?4',
        )
        .run(key, md5, this.#clock.now(), bytes);
      return () => `"${md5}"`;
    });
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
    return pageOf(this.database, (range) => `SELECT ${columns} FROM state WHERE ${range} ORDER BY key LIMIT ?3`, prefix, limit, startAfter);
  }

  delete(key: string): Promise<void> {
    checkKey(key);
    return this.database.write(() => {
      this.database.statement('DELETE FROM state WHERE key = ?').run(key);
      return () => undefined;
    });
  }

  /** Closes the database (shared with the other store of the data directory); the store is not used afterwards. */
  close(): Promise<void> {
    return this.database.close();
  }
}
