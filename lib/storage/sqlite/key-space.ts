/**
 * What both stores of a data directory share: which keys, bodies and write
 * conditions they take, a page of keys under a prefix in UTF-8 byte order
 * (S3's), and BLOB columns read as Buffers.
 */
import { ConditionNotMet, MAX_LIST_KEYS, sameEtag, type WriteCondition } from '../port.ts';
import type { SqliteDatabase } from './database.ts';

/** Longest key accepted, in UTF-8 bytes: the limit Amazon S3 sets. */
const MAX_KEY_BYTES = 1024;
/**
 * Keys under the prefix bound as `?1` (no UTF-8 text has the byte 0xFF, so `?1 || 0xFF` sorts after all of them), from its
 * first, or after `?2` when that sorts at or after the prefix: one lower bound each, so that SQLite seeks the index to it.
 */
const UNDER_PREFIX = { from: `key >= ?1 AND key < ?1 || CAST(x'FF' AS TEXT)`, after: `key > ?2 AND key < ?1 || CAST(x'FF' AS TEXT)` };

/** A key the store refuses: empty, not well-formed Unicode, or longer than S3 allows. */
export class InvalidKey extends Error {
  override readonly name = 'InvalidKey';
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`invalid object key ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}: ${reason}`);
    this.key = key;
  }
}

/** A page of `limit` rows under `prefix` (after `startAfter`): `sql` with the range condition put in, ordered by key. */
export async function pageOf(
  database: SqliteDatabase,
  sql: (range: string) => string,
  prefix: string,
  limit: number,
  startAfter: string | undefined,
): Promise<{ rows: { key: string; md5: string; ms: number }[]; truncated: boolean }> {
  checkLimit(limit);
  if (typeof prefix !== 'string') throw new InvalidKey(String(prefix), 'a prefix must be a string');
  const after = startAfter !== undefined && Buffer.compare(Buffer.from(startAfter, 'utf-8'), Buffer.from(prefix, 'utf-8')) >= 0;
  const statement = database.statement(sql(after ? UNDER_PREFIX.after : UNDER_PREFIX.from));
  const rows = (await database.read(`list ${prefix}`, () => statement.all(prefix, startAfter ?? '', limit + 1))) as {
    key: string;
    md5: string;
    ms: number;
  }[];
  return { rows: rows.slice(0, limit), truncated: rows.length > limit };
}

/** A BLOB column as a Buffer over the same bytes. */
export function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** @throws ConditionNotMet when `condition` does not hold for a key whose current ETag (bare MD5) is `current`. */
export function checkCondition(key: string, current: string | undefined, condition: WriteCondition): void {
  const holds = 'ifNoneMatch' in condition ? current === undefined : current !== undefined && sameEtag(current, condition.ifMatch);
  if (!holds) throw new ConditionNotMet(key);
}

export function checkWrite(key: string, body: string, condition: WriteCondition): void {
  checkKey(key);
  if (typeof body !== 'string') throw new TypeError('the body must be a string');
  const isCreate = 'ifNoneMatch' in condition && condition.ifNoneMatch === '*';
  const isReplace = 'ifMatch' in condition && typeof condition.ifMatch === 'string';
  if (!isCreate && !isReplace) throw new TypeError("a write needs a condition: { ifNoneMatch: '*' } or { ifMatch: etag }");
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new InvalidKey(String(key), 'must be a non-empty string');
  if (!key.isWellFormed()) throw new InvalidKey(key, 'is not well-formed Unicode (a lone surrogate)');
  if (Buffer.byteLength(key, 'utf-8') > MAX_KEY_BYTES) throw new InvalidKey(key, `is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_KEYS)
    throw new RangeError(`limit must be an integer from 1 to ${MAX_LIST_KEYS}, got ${limit}`);
}
