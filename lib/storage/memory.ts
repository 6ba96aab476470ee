import { createHash } from 'node:crypto';
import { systemClock, type TimeSource } from '../common/clock.ts';
import {
  ConditionNotMet,
  type KeyListOptions,
  type ListPage,
  type ObjectPage,
  type ObjectVersion,
  type PrunableObjectStore,
  type PurgingObjectStore,
  type StoredObject,
  sameEtag,
  UnknownVersion,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from './port.ts';

/** One version of a key, as the store keeps it. */
interface MemoryVersion {
  versionId: string;
  body: string;
  etag: string;
  lastModifiedMs: number;
}

export interface MemoryObjectStoreOptions {
  /** Dates the versions. Default the system clock. */
  clock?: TimeSource;
}

/**
 * The object-store port in memory, with the semantics of an S3 bucket with
 * versioning and conditional writes: create-only and If-Match writes, the
 * quoted MD5 of the body as ETag, keys listed in UTF-8 byte order, and every
 * write kept as a version, listed newest first. For every test and bench that
 * is not about a particular backend; nothing survives the process.
 */
export class MemoryObjectStore implements PurgingObjectStore, PrunableObjectStore {
  /** Every version of each key, oldest first; the last is the current object. */
  readonly #versions = new Map<string, MemoryVersion[]>();
  readonly #clock: TimeSource;
  #lastVersion = 0;

  constructor(options: MemoryObjectStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const current = this.#versions.get(key)?.at(-1);
    return current === undefined ? undefined : { body: current.body, etag: current.etag };
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  async putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    checkKey(key);
    if (typeof body !== 'string') throw new TypeError('the body must be a string');
    const versions = this.#versions.get(key) ?? [];
    const current = versions.at(-1);
    if ('ifNoneMatch' in condition && condition.ifNoneMatch === '*') {
      if (current !== undefined) throw new ConditionNotMet(key);
    } else if ('ifMatch' in condition && typeof condition.ifMatch === 'string') {
      if (current === undefined || !sameEtag(current.etag, condition.ifMatch)) throw new ConditionNotMet(key);
    } else {
      throw new TypeError("a write needs a condition: { ifNoneMatch: '*' } or { ifMatch: etag }");
    }
    const version: MemoryVersion = {
      versionId: String(++this.#lastVersion).padStart(12, '0'),
      body,
      etag: `"${createHash('md5').update(body, 'utf-8').digest('hex')}"`,
      // As in S3 and the SQLite store, a key's versions never go back in time, whatever the clock does.
      lastModifiedMs: Math.max(this.#clock.now(), current?.lastModifiedMs ?? 0),
    };
    versions.push(version);
    this.#versions.set(key, versions);
    return { etag: version.etag, versionId: version.versionId };
  }

  async list(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ListPage> {
    checkLimit(limit);
    if (typeof prefix !== 'string') throw new TypeError('a prefix must be a string');
    const after = startAfter === undefined ? undefined : Buffer.from(startAfter, 'utf-8');
    const keys = [...this.#versions.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => ({ key, bytes: Buffer.from(key, 'utf-8') }))
      .filter(({ bytes }) => after === undefined || Buffer.compare(bytes, after) > 0)
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
      .map(({ key }) => key);
    return { keys: keys.slice(0, limit), truncated: keys.length > limit };
  }

  async listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    const { keys, truncated } = await this.list(prefix, options);
    const objects = keys.map((key) => {
      const current = this.#versions.get(key)!.at(-1)!;
      return { key, etag: current.etag, lastModified: new Date(current.lastModifiedMs) };
    });
    return { objects, truncated };
  }

  /** Removes the key and its versions, as a bucket without versioning does. */
  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#versions.delete(key);
  }

  async purge(key: string, ifMatch?: string): Promise<void> {
    checkKey(key);
    const current = this.#versions.get(key)?.at(-1);
    if (ifMatch !== undefined && (current === undefined || !sameEtag(current.etag, ifMatch))) throw new ConditionNotMet(key);
    this.#versions.delete(key);
  }

  async listVersions(key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    checkLimit(limit);
    checkKey(key);
    const newestFirst = [...(this.#versions.get(key) ?? [])].reverse();
    let start = 0;
    if (cursor !== undefined) {
      start = newestFirst.findIndex((version) => version.versionId === cursor) + 1;
      if (start === 0) throw new UnknownVersion(key, cursor);
    }
    const listed = newestFirst.slice(start, start + limit).map(
      (version): ObjectVersion => ({
        versionId: version.versionId,
        etag: version.etag,
        lastModified: new Date(version.lastModifiedMs),
        isLatest: version === newestFirst[0],
      }),
    );
    return start + limit < newestFirst.length ? { versions: listed, cursor: listed.at(-1)!.versionId } : { versions: listed };
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const version = this.#versions.get(key)?.find((candidate) => candidate.versionId === versionId);
    return version === undefined ? undefined : { body: version.body, etag: version.etag, versionId: version.versionId };
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('an object key must be a non-empty string');
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer from 1 to 1000, got ${limit}`);
}
