import { mkdirSync, realpathSync } from 'node:fs';
import { link, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type TimeSource } from '../../clock.ts';
import {
  ConditionNotMet,
  sameEtag,
  StoreFault,
  type KeyListOptions,
  type ListPage,
  type StoredObject,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '../port.ts';
import { Durability } from './durability.ts';
import { etagOf, KnownEtags } from './etags.ts';
import { errorCode, isMissing, statIfPresent } from './filesystem.ts';
import { InvalidKey, objectPath } from './keys.ts';
import { listKeys } from './listing.ts';
import { KeyLocks } from './locks.ts';
import { KeyVersions } from './versions.ts';

export { InvalidKey } from './keys.ts';

/** Error codes after which the operation may be retried: the disk is full, busy or failing, not misconfigured. */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EDQUOT', 'EINTR', 'EIO', 'EMFILE', 'ENFILE', 'ENOSPC', 'ETIMEDOUT']);

export interface FileObjectStoreOptions {
  /** How long a writer waits for another process's lock on a key before giving up (StoreFault). Default 15 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is considered abandoned and broken. Default 10 s. */
  lockStaleMs?: number;
  /** Dates versions and times locks; it must follow the filesystem's time. Default the system clock. */
  clock?: TimeSource;
}

/**
 * The object-store port on the local filesystem, with the semantics of S3
 * conditional writes. The embedded default for the local server.
 *
 * Layout under `root`:
 * ```
 * objects/                         the key tree
 *   sessions%2F/                   a directory holds the keys that begin with its decoded name ("sessions/")
 *     fffe6a…d7.json               the current body of key `sessions/fffe6a…d7.json`, byte for byte
 *     fffe6a…d7.json~lock          while a replacing write of that key is in progress (JSON: pid, host, token)
 *     ~lock~new-<hex>              a whole lock file of one process, linked as the lock of each key it locks in this directory
 *     fffe6a…d7.json~tmp-<hex>     a body being written, before it is linked or renamed into place
 *     fffe6a…d7.json~versions/     every version of that key, one immutable file each, named by its version ID:
 *       000000000001-1763942400123-<md5>        a committed version (sequence number, Unix ms, MD5 of the body)
 *       000000000002-1763942460456-<md5>~new    a version being written; it counts only once committed (below)
 * ```
 * Each key segment is stored as its UTF-8 bytes with every byte outside
 * `[a-z0-9._-]` written `%XX` (uppercase hex): names are ASCII, distinct even
 * on case-insensitive filesystems, and decode back to the key. A directory's
 * name is the encoding of its segment followed by `/`, so a key and a prefix
 * of the same name can coexist. Names containing `~` are never keys: that
 * space is kept for the store's own files (a later `<name>~versions/` side
 * directory fits beside the object file).
 *
 * Guarantees:
 * - Create (`ifNoneMatch: '*'`) writes the whole body to a temporary file,
 *   fsyncs it and hard-links it into place, which fails atomically when the
 *   key exists: exactly one creator wins, across processes too, and no reader
 *   ever sees a partial object.
 * - Replace (`ifMatch`) writes and fsyncs a temporary file, then, holding the
 *   key's lock, compares the current ETag and renames over it. The lock is a
 *   queue in the store plus a lock file created exclusively (a complete file
 *   hard-linked into place), so processes on one host sharing a data directory,
 *   and several stores on one directory in a process, are safe too. A lock left by a process that died is broken when its pid no
 *   longer runs, or once older than `lockStaleMs`.
 * - Files are never changed once in place, so the ETag is computed from the
 *   body once per file: the store remembers it in memory with the file's
 *   identity (device, inode, birth time, modification time, size), and the
 *   ETag check under the lock reads the body again only when a stat of the
 *   object shows another identity (another writer, any process, or an edit by
 *   hand).
 * - After a link or rename the directory is fsynced, so a write that returned
 *   survives a crash; a crash mid-write leaves the previous version and at
 *   most some `~` files, which every operation ignores.
 * - ETags are those of S3 single-part uploads: the quoted MD5 hex of the body.
 * - Listing walks only the directories under the prefix and never reads a
 *   body; a page costs a read of each visited directory, fine for a local
 *   store of up to ~10^5 objects.
 *
 * Versions, with the semantics of an S3 bucket with versioning:
 * - Every successful write, create or replace, records the new body as an
 *   immutable version file, and the object file is a hard link to that very
 *   file (same inode): the current object and its version are one file.
 *   Creates take the key's lock too, so writes of a key are serialised.
 * - Order of a write, under the key's lock: the body is written and fsynced
 *   to a temporary file; linked into `~versions/` as `<id>~new`; that
 *   directory is fsynced; the temporary file is linked (create) or renamed
 *   (replace) over the object; the object's directory is fsynced; the
 *   record is renamed to `<id>`. A record `<id>~new` counts as a version only
 *   while it is the object file's inode (the commit point is the object's
 *   link or rename); a `<id>` record counts always.
 * - So a change is never visible without its version, and after a crash at
 *   any step the versions listed are exactly the changes made: an orphan
 *   `~new` record (the change did not happen) is ignored by readers and
 *   removed by the key's next write; a committed one is listed, and renamed by
 *   the next write.
 * - Version IDs are `<sequence>-<unix ms>-<md5>`: opaque to callers, ordered
 *   by sequence; the milliseconds never go backwards along a key, so they
 *   serve as the version's LastModified, and the MD5 as its ETag, without
 *   reading the file.
 * - An object written before the store kept versions is listed, until its
 *   next write, as the version `null` (as S3 lists an object stored before
 *   versioning was enabled); that write first records it as a proper version.
 * - Not guaranteed: versions survive only as long as nobody edits the data
 *   directory by hand (an in-place edit of the object file changes its
 *   current version too); a lock broken as stale while its owner still runs
 *   lets two writers in, as for every write of this store; nothing prunes old
 *   versions (S3 expires them by lifecycle rule; here they stay until deleted).
 *
 * Needs a local POSIX filesystem with hard links (not a network share).
 *
 * Every store keeps its own state (lock queues, known ETags, directory
 * fsyncs); nothing is shared between stores but the directory. The parts:
 * `keys.ts` (keys as paths), `listing.ts`, `versions.ts` (how versions are
 * kept: the one file to replace to keep them otherwise), `locks.ts`,
 * `durability.ts` (fsyncs) and `etags.ts`.
 */
export class FileObjectStore implements VersionedObjectStore {
  /** The data directory, resolved. */
  readonly root: string;
  readonly #objects: string;
  readonly #locks: KeyLocks;
  readonly #durability = new Durability();
  readonly #etags = new KnownEtags();
  readonly #versions: KeyVersions;

  constructor(root: string, options: FileObjectStoreOptions = {}) {
    mkdirSync(path.join(root, 'objects'), { recursive: true });
    this.root = realpathSync(root);
    this.#objects = path.join(this.root, 'objects');
    const clock = options.clock ?? systemClock;
    this.#locks = new KeyLocks({ timeoutMs: options.lockTimeoutMs ?? 15_000, staleMs: options.lockStaleMs ?? 10_000, clock });
    this.#versions = new KeyVersions({ durability: this.#durability, clock });
  }

  /** The file holding the current body of `key`. @throws InvalidKey */
  pathOf(key: string): string {
    return objectPath(this.#objects, key);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    try {
      const bytes = await readFile(file);
      return { body: bytes.toString('utf-8'), etag: etagOf(bytes) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw translate(error, `get ${key}`);
    }
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  async putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    const file = this.pathOf(key);
    if (typeof body !== 'string') throw new TypeError('the body must be a string');
    const bytes = Buffer.from(body, 'utf-8');
    try {
      if ('ifNoneMatch' in condition && condition.ifNoneMatch === '*') return await this.#create(key, file, bytes);
      if ('ifMatch' in condition && typeof condition.ifMatch === 'string') return await this.#replace(key, file, bytes, condition.ifMatch);
    } catch (error) {
      throw translate(error, `put ${key}`);
    }
    throw new TypeError("a write needs a condition: { ifNoneMatch: '*' } or { ifMatch: etag }");
  }

  async list(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ListPage> {
    checkLimit(limit);
    try {
      return await listKeys(this.#objects, prefix, limit, startAfter);
    } catch (error) {
      throw translate(error, `list ${prefix}`);
    }
  }

  async listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    checkLimit(options.limit);
    const file = this.pathOf(key);
    try {
      return await this.#versions.list(file, key, options);
    } catch (error) {
      throw translate(error, `list versions of ${key}`);
    }
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    try {
      return await this.#versions.read(file, versionId);
    } catch (error) {
      throw translate(error, `get ${key} version ${versionId}`);
    }
  }

  async #create(key: string, file: string, bytes: Buffer): Promise<WrittenObject> {
    const dir = path.dirname(file);
    await this.#versions.prepareDirectory(file);
    const etag = etagOf(bytes);
    const temp = await this.#durability.writeTemporary(file, bytes);
    try {
      return await this.#locks.withKeyLock(file, async () => {
        if ((await statIfPresent(file)) !== undefined) throw new ConditionNotMet(key);
        const record = await this.#versions.prepare(file, undefined, bytes);
        await this.#versions.stage(record, temp.path);
        try {
          this.#etags.forget(file);
          await link(temp.path, file);
        } catch (error) {
          await this.#versions.discard(record);
          if (errorCode(error) === 'EEXIST') throw new ConditionNotMet(key, { cause: error });
          throw error;
        }
        await this.#durability.syncDirectory(dir);
        this.#etags.remember(file, temp.info, etag, record.id);
        await this.#versions.commit(record);
        return { etag, versionId: record.id };
      });
    } finally {
      await unlink(temp.path).catch(() => {});
    }
  }

  async #replace(key: string, file: string, bytes: Buffer, ifMatch: string): Promise<WrittenObject> {
    // Refuse early when the condition already fails, before paying for a durable temporary file
    // (no need to look when the ETag last known here matches: the check under the lock decides).
    const known = this.#etags.lastKnown(file);
    if (known === undefined || !sameEtag(known, ifMatch)) {
      const seen = await this.#etags.currentObject(file);
      if (seen === undefined || !sameEtag(seen.etag, ifMatch)) throw new ConditionNotMet(key);
    }
    const etag = etagOf(bytes);
    const temp = await this.#durability.writeTemporary(file, bytes);
    let renamed = false;
    try {
      return await this.#locks.withKeyLock(file, async () => {
        const current = await this.#etags.currentObject(file);
        if (current === undefined || !sameEtag(current.etag, ifMatch)) throw new ConditionNotMet(key);
        const record = await this.#versions.prepare(file, current, bytes);
        await this.#versions.stage(record, temp.path);
        this.#etags.forget(file);
        await rename(temp.path, file);
        renamed = true;
        await this.#durability.syncDirectory(path.dirname(file));
        this.#etags.remember(file, temp.info, etag, record.id);
        await this.#versions.commit(record);
        return { etag, versionId: record.id };
      });
    } finally {
      if (!renamed) await unlink(temp.path).catch(() => {});
    }
  }
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer from 1 to 1000, got ${limit}`);
}

/** Disk faults become StoreFault (the caller may retry); the port's own errors and configuration problems pass unchanged. */
function translate(error: unknown, what: string): unknown {
  if (error instanceof ConditionNotMet || error instanceof StoreFault || error instanceof InvalidKey) return error;
  const code = errorCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code) ? new StoreFault(`${what}: ${code}`, { cause: error }) : error;
}
