import { systemClock, type TimeSource } from '../../common/clock.ts';
import {
  ConditionNotMet,
  type KeyListOptions,
  type ListPage,
  type ObjectPage,
  type ObjectVersion,
  type PrunableObjectStore,
  type StoredObject,
  StoreFault,
  UnknownVersion,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '../port.ts';
import { LogEngine } from './engine.ts';
import { errorCode } from './filesystem.ts';
import type { KeyEntry } from './key-index.ts';
import { InvalidKey, keySegments, prefixParts } from './keys.ts';
import { prepareDataDirectory } from './layout.ts';
import type { VersionEntry } from './versions.ts';

export { InvalidKey } from './keys.ts';
export { DataDirectoryMismatch, LegacyDataDirectory } from './layout.ts';

/** Error codes after which the operation may be retried: the disk is full, busy or failing, not misconfigured. */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EDQUOT', 'EINTR', 'EIO', 'EMFILE', 'ENFILE', 'ENOSPC', 'ETIMEDOUT']);
/** A version ID: the key's 12-digit sequence number, the write's Unix ms (13 digits) and the body's MD5. */
const VERSION_ID = /^(\d{12})-(\d{13})-([0-9a-f]{32})$/;

export interface FileObjectStoreOptions {
  /** How long a writer waits for another process's write lock before giving up (StoreFault). Default 15 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is considered abandoned and broken. Default 10 s. */
  lockStaleMs?: number;
  /** Dates versions and times locks; it must follow the filesystem's time. Default the system clock. */
  clock?: TimeSource;
  /** Bytes of current bodies kept in memory. Default 64 MiB. */
  cacheBytes?: number;
}

/**
 * The object-store port on the local filesystem, with the semantics of S3
 * conditional writes; this one keeps every version. The embedded default for
 * the local server. See {@link UnversionedFileObjectStore} for soft state.
 *
 * Layout under `root`:
 * ```
 * store.json      the layout's format and whether the directory keeps versions
 * log             every write of every key, one record each, appended (records.ts)
 * store~lock      while a process appends (JSON: pid, host, token)
 * ~lock~new-<hex> a whole lock file of one process, linked as `store~lock` when it takes the lock
 * ```
 *
 * Guarantees:
 * - A write appends one record to the log under the directory's write lock
 *   (an in-store queue, then the lock file, created exclusively: processes
 *   sharing the directory, and several stores on it in a process, are kept
 *   apart). Under the lock the writer first reads what others appended, so
 *   the condition is checked against the latest write of any process. A lock
 *   left by a process that died is broken when its pid no longer runs, or
 *   once older than `lockStaleMs`.
 * - A write resolves only once an fsync of the log covers its record; writes
 *   that come while an fsync runs share the next one (group commit), across
 *   keys. The lock is not held during the fsync.
 * - Each record carries its length and a CRC-32: a record torn by a crash is
 *   never read (readers stop before it) and the next writer, which holds the
 *   lock so no live writer is midway, cuts it off. Lock drafts and locks of
 *   dead processes are removed when a store opens and after such a cut.
 * - Versions: each write is a version, stored as a delta against the one
 *   before or as a checkpoint (`versions.ts`), so the bytes stored per write
 *   are about the bytes that changed. Version IDs are
 *   `<sequence>-<unix ms>-<md5>`: opaque to callers; the milliseconds never
 *   go backwards along a key and serve as the version's LastModified.
 * - The index of keys (sorted, for listing) and versions is in memory,
 *   rebuilt from the log when the store opens and caught up by offset before
 *   each operation: a listing page costs the same at any key count; opening
 *   costs a read of the log.
 * - ETags are those of S3 single-part uploads: the quoted MD5 hex of the body.
 * - Deleting a key hides it from reads and listings; its versions stay listed.
 * - Compaction: a store that keeps no versions rewrites its log with only the
 *   live records once the dead ones exceed max(32 KiB, 2 × live bytes)
 *   (counted as records are read), under the write lock, by a rename over the
 *   log; other processes see the new inode and reload. A store that keeps
 *   versions never compacts: every record is a version, and versions of
 *   deleted keys stay listed, as in S3.
 * - Not guaranteed: a lock broken as stale while its owner still runs lets
 *   two writers in; nothing prunes old versions.
 *
 * Needs a local POSIX filesystem (not a network share). A data directory of
 * the earlier file-per-object layout is refused ({@link LegacyDataDirectory})
 * until migrated with `npm run migrate-data -- DIR`.
 *
 * The parts: `engine.ts` (log, index, locks, group commit), `records.ts`,
 * `versions.ts` (how versions are kept: deltas and checkpoints),
 * `key-index.ts`, `bodies.ts` (cache, incremental MD5), `log.ts`,
 * `locks.ts`, `keys.ts` (which keys are accepted), `layout.ts`, `legacy.ts`
 * (reads the earlier layout) and `migration.ts` (`npm run migrate-data`).
 */
export class FileObjectStore implements VersionedObjectStore, PrunableObjectStore {
  /** The data directory, resolved. */
  readonly root: string;
  readonly #engine: LogEngine;

  constructor(root: string, options: FileObjectStoreOptions = {}) {
    this.root = prepareDataDirectory(root, true);
    this.#engine = engineFor(this.root, true, options);
  }

  /** The lock file a writer holds while it appends. */
  get lockPath(): string {
    return this.#engine.lockPath;
  }

  /** Resolves once the store has read its log and cleaned what crashed processes left. */
  get opened(): Promise<void> {
    return this.#engine.opened;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return getFrom(this.#engine, key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  async putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    const { etag, version } = await writeTo(this.#engine, key, body, condition);
    return { etag, versionId: versionIdOf(version) };
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return listFrom(this.#engine, prefix, options);
  }

  listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    return listObjectsFrom(this.#engine, prefix, options);
  }

  delete(key: string): Promise<void> {
    return deleteFrom(this.#engine, key);
  }

  async listVersions(key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    checkLimit(limit);
    keySegments(key);
    return guarded(`list versions of ${key}`, async () => {
      await this.#engine.opened;
      await this.#engine.catchUp();
      const entry = this.#engine.entry(key);
      const versions = entry?.versions ?? [];
      let from = versions.length - 1;
      if (cursor !== undefined) {
        const at = indexOfVersion(versions, cursor);
        if (at === undefined) throw new UnknownVersion(key, cursor);
        from = at - 1;
      }
      const listed: ObjectVersion[] = [];
      for (let at = from; at >= 0 && listed.length < limit; at--) {
        const version = versions[at]!;
        const isLatest = entry!.live && at === versions.length - 1;
        listed.push({ versionId: versionIdOf(version), etag: `"${version.md5}"`, lastModified: new Date(version.ms), isLatest });
      }
      const more = from - listed.length >= 0;
      return more ? { versions: listed, cursor: listed.at(-1)!.versionId } : { versions: listed };
    });
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    keySegments(key);
    return guarded(`get ${key} version ${versionId}`, async () => {
      await this.#engine.opened;
      return this.#engine.reading(async () => {
        const entry = this.#engine.entry(key);
        const at = entry === undefined ? undefined : indexOfVersion(entry.versions, versionId);
        if (at === undefined) return undefined;
        const version = entry!.versions[at]!;
        await this.#engine.durable(version);
        const body = await this.#engine.body(entry!, at);
        body.text ??= body.bytes.toString('utf-8');
        return { body: body.text, etag: `"${version.md5}"`, versionId };
      });
    });
  }

  /** Closes the log file; the store is not used afterwards. */
  close(): Promise<void> {
    return this.#engine.close();
  }
}

/**
 * The file store for soft state (lease renewal records, rewritten every few
 * seconds): the same engine and guarantees as {@link FileObjectStore}, but it
 * keeps only each key's current body, and offers no version operations (so
 * `keepsVersions` is false). Its log is compacted as it goes (superseded
 * records and deleted keys are dropped), so a record rewritten every few
 * seconds for days keeps it at a few KiB. Its data directory is its own: the two kinds
 * never share one.
 */
export class UnversionedFileObjectStore implements PrunableObjectStore {
  /** The data directory, resolved. */
  readonly root: string;
  readonly #engine: LogEngine;

  constructor(root: string, options: FileObjectStoreOptions = {}) {
    this.root = prepareDataDirectory(root, false);
    this.#engine = engineFor(this.root, false, options);
  }

  /** Resolves once the store has read its log and cleaned what crashed processes left. */
  get opened(): Promise<void> {
    return this.#engine.opened;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return getFrom(this.#engine, key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await writeTo(this.#engine, key, body, condition)).etag;
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return listFrom(this.#engine, prefix, options);
  }

  listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    return listObjectsFrom(this.#engine, prefix, options);
  }

  delete(key: string): Promise<void> {
    return deleteFrom(this.#engine, key);
  }

  /** Closes the log file; the store is not used afterwards. */
  close(): Promise<void> {
    return this.#engine.close();
  }
}

function engineFor(root: string, versions: boolean, options: FileObjectStoreOptions): LogEngine {
  return new LogEngine({
    root,
    versions,
    clock: options.clock ?? systemClock,
    lockTimeoutMs: options.lockTimeoutMs ?? 15_000,
    lockStaleMs: options.lockStaleMs ?? 10_000,
    cacheBytes: options.cacheBytes ?? 64 * 1024 * 1024,
  });
}

async function getFrom(engine: LogEngine, key: string): Promise<StoredObject | undefined> {
  keySegments(key);
  return guarded(`get ${key}`, async () => {
    await engine.opened;
    return engine.reading(async () => {
      const entry = engine.entry(key);
      if (entry?.live !== true) return undefined;
      const version = entry.versions.at(-1)!;
      await engine.durable(version);
      const body = await engine.body(entry, entry.versions.length - 1);
      body.text ??= body.bytes.toString('utf-8');
      return { body: body.text, etag: `"${version.md5}"` };
    });
  });
}

async function writeTo(engine: LogEngine, key: string, body: string, condition: WriteCondition) {
  keySegments(key);
  if (typeof body !== 'string') throw new TypeError('the body must be a string');
  const isCreate = 'ifNoneMatch' in condition && condition.ifNoneMatch === '*';
  const isReplace = 'ifMatch' in condition && typeof condition.ifMatch === 'string';
  if (!isCreate && !isReplace) throw new TypeError("a write needs a condition: { ifNoneMatch: '*' } or { ifMatch: etag }");
  // The text is kept beside the bytes only when decoding them gives it back (no lone surrogates).
  return guarded(`put ${key}`, () => engine.write(key, Buffer.from(body, 'utf-8'), condition, body.isWellFormed() ? body : undefined));
}

async function listFrom(engine: LogEngine, prefix: string, { limit, startAfter }: KeyListOptions): Promise<ListPage> {
  const { entries, truncated } = await pageFrom(engine, prefix, limit, startAfter);
  return { keys: entries.map((entry) => entry.key), truncated };
}

async function listObjectsFrom(engine: LogEngine, prefix: string, { limit, startAfter }: KeyListOptions): Promise<ObjectPage> {
  const { entries, truncated } = await pageFrom(engine, prefix, limit, startAfter);
  const objects = entries.map((entry) => {
    const version = entry.versions.at(-1)!;
    return { key: entry.key, etag: `"${version.md5}"`, lastModified: new Date(version.ms) };
  });
  return { objects, truncated };
}

async function pageFrom(
  engine: LogEngine,
  prefix: string,
  limit: number,
  startAfter: string | undefined,
): Promise<{ entries: KeyEntry[]; truncated: boolean }> {
  checkLimit(limit);
  prefixParts(prefix);
  return guarded(`list ${prefix}`, async () => {
    await engine.opened;
    await engine.catchUp();
    return engine.page(prefix, limit, startAfter);
  });
}

async function deleteFrom(engine: LogEngine, key: string): Promise<void> {
  keySegments(key);
  await guarded(`delete ${key}`, () => engine.delete(key));
}

function versionIdOf(version: VersionEntry): string {
  return `${String(version.seq).padStart(12, '0')}-${String(version.ms).padStart(13, '0')}-${version.md5}`;
}

/** Where the version `versionId` is in `versions`, or undefined when it is none of them. */
function indexOfVersion(versions: VersionEntry[], versionId: string): number | undefined {
  const match = VERSION_ID.exec(versionId);
  if (match === null) return undefined;
  const seq = Number(match[1]);
  let low = 0;
  let high = versions.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (versions[middle]!.seq < seq) low = middle + 1;
    else high = middle;
  }
  return low < versions.length && versionIdOf(versions[low]!) === versionId ? low : undefined;
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer from 1 to 1000, got ${limit}`);
}

/** Runs `operation`, turning disk faults into StoreFault (the caller may retry); the port's own errors and configuration problems pass unchanged. */
async function guarded<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof ConditionNotMet || error instanceof StoreFault || error instanceof InvalidKey || error instanceof UnknownVersion)
      throw error;
    const code = errorCode(error);
    throw code !== undefined && TRANSIENT_CODES.has(code) ? new StoreFault(`${what}: ${code}`, { cause: error }) : error;
  }
}
