import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, type BigIntStats, type Dirent } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import {
  ConditionNotMet,
  NULL_VERSION_ID,
  sameEtag,
  StoreUnavailable,
  UnknownVersion,
  type ListOptions,
  type ListPage,
  type ObjectVersion,
  type StoredObject,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from './port.ts';

/** Longest key accepted, in UTF-8 bytes: the limit Amazon S3 sets. */
const MAX_KEY_BYTES = 1024;
/** Longest encoded segment, so that it and a suffix such as `~versions` fit in a 255-byte file name. */
const MAX_ENCODED_SEGMENT = 200;
const SLASH = 0x2f;
/** Marks every name that is not a key: locks, temporary files, and the per-key versions directory. */
const SIDE_MARK = '~';
/** The directory beside an object file that holds its versions: `<name>~versions/`. */
const VERSIONS_SUFFIX = `${SIDE_MARK}versions`;
/** A version record written but not yet known to be committed: `<version id>~new`. */
const PENDING_SUFFIX = `${SIDE_MARK}new`;
/** A version ID: a 12-digit sequence number, the record's Unix milliseconds (13 digits) and the body's MD5. */
const VERSION_ID = /^(\d{12})-(\d{13})-([0-9a-f]{32})$/;

/** Error codes after which the operation may be retried: the disk is full, busy or failing, not misconfigured. */
const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EDQUOT', 'EINTR', 'EIO', 'EMFILE', 'ENFILE', 'ENOSPC', 'ETIMEDOUT']);

/** A key the file store refuses because it could not be stored safely as a path. */
export class InvalidKey extends Error {
  override readonly name = 'InvalidKey';
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`invalid object key ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}: ${reason}`);
    this.key = key;
  }
}

export interface FileObjectStoreOptions {
  /** How long a writer waits for another process's lock on a key before giving up (StoreUnavailable). Default 15 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is considered abandoned and broken. Default 10 s. */
  lockStaleMs?: number;
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
 *   key's lock, compares the current ETag and renames over it. The lock is an
 *   in-process queue plus a lock file created exclusively (a complete file
 *   hard-linked into place), so processes on one host sharing a data directory
 *   are safe too. A lock left by a process that died is broken when its pid no
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
 */
export class FileObjectStore implements VersionedObjectStore {
  /** The data directory, resolved. */
  readonly root: string;
  readonly #objects: string;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;

  constructor(root: string, options: FileObjectStoreOptions = {}) {
    mkdirSync(path.join(root, 'objects'), { recursive: true });
    this.root = realpathSync(root);
    this.#objects = path.join(this.root, 'objects');
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
  }

  /** The file holding the current body of `key`. @throws InvalidKey */
  pathOf(key: string): string {
    const segments = keySegments(key);
    const last = segments.pop()!;
    return path.join(this.#objects, ...segments.map(directoryName), encodeName(Buffer.from(last, 'utf-8')));
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

  async list(prefix: string, { limit, startAfter }: ListOptions): Promise<ListPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer from 1 to 1000, got ${limit}`);
    const { directories, partial } = prefixParts(prefix);
    const from = {
      dir: path.join(this.#objects, ...directories.map(directoryName)),
      base: Buffer.from(directories.map((segment) => `${segment}/`).join(''), 'utf-8'),
    };
    const after = startAfter === undefined ? undefined : Buffer.from(startAfter, 'utf-8');
    const found: string[] = [];
    try {
      await walk(from.dir, from.base, Buffer.from(partial, 'utf-8'), after, limit + 1, found);
    } catch (error) {
      throw translate(error, `list ${prefix}`);
    }
    return { keys: found.slice(0, limit), truncated: found.length > limit };
  }

  async listVersions(key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer from 1 to 1000, got ${limit}`);
    const file = this.pathOf(key);
    if (cursor !== undefined && cursor !== NULL_VERSION_ID && !VERSION_ID.test(cursor)) throw new UnknownVersion(key, cursor);
    try {
      const { records, unrecorded, exists } = await committedVersions(file);
      const listed: ObjectVersion[] = [];
      if (unrecorded !== undefined && cursor === undefined) {
        listed.push({ versionId: NULL_VERSION_ID, etag: unrecorded.etag, lastModified: new Date(unrecorded.mtimeMs), isLatest: true });
      }
      const latest = exists && unrecorded === undefined ? records[0]?.id : undefined;
      for (const record of records) {
        if (cursor !== undefined && cursor !== NULL_VERSION_ID && record.id >= cursor) continue;
        listed.push({ versionId: record.id, etag: `"${record.md5}"`, lastModified: new Date(record.ms), isLatest: record.id === latest });
        if (listed.length > limit) break;
      }
      const page = listed.slice(0, limit);
      return listed.length > limit ? { versions: page, cursor: page.at(-1)!.versionId } : { versions: page };
    } catch (error) {
      throw translate(error, `list versions of ${key}`);
    }
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    try {
      if (versionId === NULL_VERSION_ID) {
        const { unrecorded } = await committedVersions(file);
        return unrecorded === undefined ? undefined : { body: unrecorded.bytes.toString('utf-8'), etag: etagOf(unrecorded.bytes), versionId };
      }
      if (!VERSION_ID.test(versionId)) return undefined;
      const record = path.join(versionsDirectory(file), versionId);
      const bytes = (await readIfPresent(record)) ?? (await readIfCommitted(`${record}${PENDING_SUFFIX}`, file));
      return bytes === undefined ? undefined : { body: bytes.toString('utf-8'), etag: etagOf(bytes), versionId };
    } catch (error) {
      throw translate(error, `get ${key} version ${versionId}`);
    }
  }

  async #create(key: string, file: string, bytes: Buffer): Promise<WrittenObject> {
    const dir = path.dirname(file);
    const versions = versionsDirectory(file);
    await ensureDirectory(versions);
    const etag = etagOf(bytes);
    const temp = await writeTemporary(file, bytes);
    try {
      return await this.#withKeyLock(file, async () => {
        if ((await statIfPresent(file)) !== undefined) throw new ConditionNotMet(key);
        const record = await prepareVersion(file, undefined, bytes);
        await link(temp.path, record.pending);
        await syncDirectory(versions);
        try {
          forgetEtag(file);
          await link(temp.path, file);
        } catch (error) {
          await unlink(record.pending).catch(() => {});
          if (errorCode(error) === 'EEXIST') throw new ConditionNotMet(key, { cause: error });
          throw error;
        }
        await syncDirectory(dir);
        rememberEtag(file, temp.info, etag, record.id);
        await commitVersion(record);
        return { etag, versionId: record.id };
      });
    } finally {
      await unlink(temp.path).catch(() => {});
    }
  }

  async #replace(key: string, file: string, bytes: Buffer, ifMatch: string): Promise<WrittenObject> {
    // Refuse early when the condition already fails, before paying for a durable temporary file
    // (no need to look when the ETag last known here matches: the check under the lock decides).
    const known = etagCache.get(file);
    if (known === undefined || !sameEtag(known.etag, ifMatch)) {
      const seen = await currentObject(file);
      if (seen === undefined || !sameEtag(seen.etag, ifMatch)) throw new ConditionNotMet(key);
    }
    const versions = versionsDirectory(file);
    const etag = etagOf(bytes);
    const temp = await writeTemporary(file, bytes);
    let renamed = false;
    try {
      return await this.#withKeyLock(file, async () => {
        const current = await currentObject(file);
        if (current === undefined || !sameEtag(current.etag, ifMatch)) throw new ConditionNotMet(key);
        const record = await prepareVersion(file, current, bytes);
        await link(temp.path, record.pending);
        await syncDirectory(versions);
        forgetEtag(file);
        await rename(temp.path, file);
        renamed = true;
        await syncDirectory(path.dirname(file));
        rememberEtag(file, temp.info, etag, record.id);
        await commitVersion(record);
        return { etag, versionId: record.id };
      });
    } finally {
      if (!renamed) await unlink(temp.path).catch(() => {});
    }
  }

  /** Runs `critical` while holding the key's lock: first in this process, then against other processes. */
  #withKeyLock<T>(file: string, critical: () => Promise<T>): Promise<T> {
    return inProcessLock(file, async () => {
      const release = await acquireLockFile(`${file}${SIDE_MARK}lock`, this.#lockTimeoutMs, this.#lockStaleMs);
      try {
        return await critical();
      } finally {
        await release();
      }
    });
  }
}

// ---------------------------------------------------------------- keys and names

function keySegments(key: string): string[] {
  if (typeof key !== 'string' || key === '') throw new InvalidKey(String(key), 'must be a non-empty string');
  checkCharacters(key, key);
  if (Buffer.byteLength(key, 'utf-8') > MAX_KEY_BYTES) throw new InvalidKey(key, `is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  const segments = key.split('/');
  for (const segment of segments) checkSegment(key, segment);
  return segments;
}

/** The complete directory segments of a prefix and the partial segment after the last `/`. */
function prefixParts(prefix: string): { directories: string[]; partial: string } {
  if (typeof prefix !== 'string') throw new InvalidKey(String(prefix), 'a prefix must be a string');
  checkCharacters(prefix, prefix);
  const directories = prefix.split('/');
  const partial = directories.pop()!;
  for (const segment of directories) checkSegment(prefix, segment);
  return { directories, partial };
}

function checkCharacters(key: string, text: string): void {
  if (!text.isWellFormed()) throw new InvalidKey(key, 'is not well-formed Unicode (it has a lone surrogate)');
  if (text.includes('\0')) throw new InvalidKey(key, 'contains a NUL character');
  if (text.includes('\\')) throw new InvalidKey(key, 'contains a backslash');
  if (text.startsWith('/')) throw new InvalidKey(key, 'is absolute (starts with /)');
}

function checkSegment(key: string, segment: string): void {
  if (segment === '') throw new InvalidKey(key, 'has an empty segment (// or a trailing /)');
  if (segment === '.' || segment === '..') throw new InvalidKey(key, `has a "${segment}" segment`);
  if (encodeName(Buffer.from(segment, 'utf-8')).length > MAX_ENCODED_SEGMENT) {
    throw new InvalidKey(key, `has a segment too long to be a file name (over ${MAX_ENCODED_SEGMENT} characters once encoded)`);
  }
}

function isPlainByte(byte: number): boolean {
  return (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2e || byte === 0x5f || byte === 0x2d;
}

/** The file name of some key bytes: plain bytes as they are, every other byte as `%XX`. */
function encodeName(bytes: Uint8Array): string {
  let name = '';
  for (const byte of bytes) {
    name += isPlainByte(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return name;
}

/** The key bytes of a file name, or undefined when the name is not one `encodeName` makes. */
function decodeName(name: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; ) {
    const char = name.charCodeAt(i);
    if (char === 0x25) {
      const hex = name.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      const byte = Number.parseInt(hex, 16);
      if (isPlainByte(byte)) return undefined;
      bytes.push(byte);
      i += 3;
    } else if (isPlainByte(char)) {
      bytes.push(char);
      i += 1;
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes);
}

function directoryName(segment: string): string {
  return encodeName(Buffer.from(`${segment}/`, 'utf-8'));
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}

// ---------------------------------------------------------------- listing

interface ListedEntry {
  /** The whole key (a file) or key prefix ending in `/` (a directory), as UTF-8 bytes. */
  key: Buffer;
  name: string;
  directory: boolean;
}

/**
 * Appends to `out`, in ascending UTF-8 byte order, the keys under `dir` (whose
 * keys all begin with `base`) that start with `base + filter` and sort after
 * `after`, until `out` holds `want` keys. A directory sorts as its segment
 * followed by `/`, which is exactly where its keys fall among its siblings.
 */
async function walk(dir: string, base: Buffer, filter: Buffer | undefined, after: Buffer | undefined, want: number, out: string[]): Promise<void> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const entries: ListedEntry[] = [];
  for (const dirent of dirents) {
    if (dirent.name.includes(SIDE_MARK)) continue;
    const name = decodeName(dirent.name);
    if (name === undefined || name.length === 0) continue;
    const directory = name.at(-1) === SLASH;
    if (directory ? !dirent.isDirectory() : !dirent.isFile()) continue;
    if (filter !== undefined && !startsWith(name, filter)) continue;
    entries.push({ key: Buffer.concat([base, name]), name: dirent.name, directory });
  }
  entries.sort((a, b) => Buffer.compare(a.key, b.key));

  for (const entry of entries) {
    if (out.length >= want) return;
    if (entry.directory) {
      // Every key inside starts with entry.key: skip the directory when all of them sort before `after`.
      if (after !== undefined && !startsWith(after, entry.key) && Buffer.compare(entry.key, after) < 0) continue;
      await walk(path.join(dir, entry.name), entry.key, undefined, after, want, out);
    } else {
      if (after !== undefined && Buffer.compare(entry.key, after) <= 0) continue;
      const key = entry.key.toString('utf-8');
      if (Buffer.from(key, 'utf-8').equals(entry.key)) out.push(key);
    }
  }
}

// ---------------------------------------------------------------- files

function etagOf(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** What identifies one state of one file: its inode, when that inode was born, and its size and content time. */
interface FileIdentity {
  dev: bigint;
  ino: bigint;
  birthtimeNs: bigint;
  mtimeNs: bigint;
  size: bigint;
}

/** Longest the ETag cache grows; past it the entries remembered longest ago go first. */
const ETAG_CACHE_LIMIT = 10_000;
/** The ETag of the file at each path, with the identity of the file it was computed from. */
const etagCache = new Map<string, { identity: FileIdentity; etag: string; versionId?: string }>();

function identityOf(info: BigIntStats): FileIdentity {
  return { dev: info.dev, ino: info.ino, birthtimeNs: info.birthtimeNs, mtimeNs: info.mtimeNs, size: info.size };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.birthtimeNs === b.birthtimeNs && a.mtimeNs === b.mtimeNs && a.size === b.size;
}

/** Remembers the ETag of the file with `identity`, and the version ID it has when this store wrote it. */
function rememberEtag(file: string, identity: FileIdentity, etag: string, versionId?: string): void {
  etagCache.delete(file);
  etagCache.set(file, versionId === undefined ? { identity, etag } : { identity, etag, versionId });
  if (etagCache.size > ETAG_CACHE_LIMIT) etagCache.delete(etagCache.keys().next().value!);
}

function forgetEtag(file: string): void {
  etagCache.delete(file);
}

/**
 * The identity and ETag of the object file. The store never changes a file
 * once written (a write makes a new file and links or renames it into place,
 * and every version file keeps its inode alive), so the ETag computed for
 * one identity holds for as long as the path shows that identity: then a
 * stat is enough, and the body is read only otherwise.
 */
async function currentObject(file: string): Promise<CurrentObject | undefined> {
  const info = await statIfPresent(file);
  if (info === undefined) return undefined;
  const identity = identityOf(info);
  const known = etagCache.get(file);
  if (known !== undefined && sameIdentity(known.identity, identity)) return { identity, etag: known.etag, ...(known.versionId === undefined ? {} : { versionId: known.versionId }) };
  const read = await readCurrent(file);
  if (read !== undefined) rememberEtag(file, read.identity, read.etag);
  return read;
}

/** Writes `bytes` to a new temporary file beside `file` and fsyncs it; returns its path and identity. */
async function writeTemporary(file: string, bytes: Uint8Array): Promise<{ path: string; info: FileIdentity }> {
  const temp = `${file}${SIDE_MARK}tmp-${randomBytes(8).toString('hex')}`;
  const handle = await open(temp, 'wx');
  let info: FileIdentity;
  try {
    await handle.writeFile(bytes);
    await handle.sync();
    info = identityOf(await handle.stat({ bigint: true }));
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  return { path: temp, info };
}

/** Creates `dir` and any missing parents, and makes the new directory entries durable. */
async function ensureDirectory(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // Each new directory's entry lives in its parent: sync the parent of the first one and every new one above `dir`.
  for (let current = dir; ; current = path.dirname(current)) {
    const parent = path.dirname(current);
    await syncDirectory(parent);
    if (current === first || parent === current) break;
  }
}

/** Per directory: the fsync running, and the one queued behind it for callers who came while it ran. */
const directorySyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

/**
 * Makes every entry change already made in `dir` durable. Callers that come
 * while an fsync of `dir` runs share one more fsync, started once it ends:
 * one that began before their change might not cover it, and one that
 * begins after it does, whoever asked for it.
 */
function syncDirectory(dir: string): Promise<void> {
  const state = directorySyncs.get(dir);
  if (state === undefined) {
    const running = fsyncDirectory(dir).finally(() => {
      if (directorySyncs.get(dir)?.running === running && directorySyncs.get(dir)?.next === undefined) directorySyncs.delete(dir);
    });
    directorySyncs.set(dir, { running });
    return running;
  }
  state.next ??= state.running
    .catch(() => {})
    .then(() => {
      const next = state.next!;
      state.running = next;
      state.next = undefined;
      return fsyncDirectory(dir);
    })
    .finally(() => {
      if (directorySyncs.get(dir) === state && state.next === undefined) directorySyncs.delete(dir);
    });
  return state.next;
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms cannot fsync a directory; there the rename is as durable as it gets.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes(errorCode(error) ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Disk faults become StoreUnavailable (the caller may retry); the port's own errors and configuration problems pass unchanged. */
function translate(error: unknown, what: string): unknown {
  if (error instanceof ConditionNotMet || error instanceof StoreUnavailable || error instanceof InvalidKey) return error;
  const code = errorCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code) ? new StoreUnavailable(`${what}: ${code}`, { cause: error }) : error;
}

// ---------------------------------------------------------------- versions

interface VersionRecord {
  id: string;
  seq: number;
  ms: number;
  md5: string;
}

interface CurrentObject {
  identity: FileIdentity;
  etag: string;
  /** The body, when it was read. */
  bytes?: Buffer;
  /** The version this very file was recorded as, when this store wrote it. */
  versionId?: string;
}

/** The object file's versions directory. */
function versionsDirectory(file: string): string {
  return `${file}${VERSIONS_SUFFIX}`;
}

function parseVersionId(id: string): VersionRecord | undefined {
  const match = VERSION_ID.exec(id);
  return match === null ? undefined : { id, seq: Number(match[1]), ms: Number(match[2]), md5: match[3]! };
}

function versionId(seq: number, ms: number, md5: string): string {
  return `${String(seq).padStart(12, '0')}-${String(ms).padStart(13, '0')}-${md5}`;
}

function sameFile(a: { ino: bigint; dev: bigint }, b: { ino: bigint; dev: bigint }): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

async function statIfPresent(file: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(file, { bigint: true });
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** The body and identity of the object file, read through one handle so both belong to the same file. */
async function readCurrent(file: string): Promise<CurrentObject | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    const info = await handle.stat({ bigint: true });
    const bytes = await handle.readFile();
    return { identity: identityOf(info), etag: etagOf(bytes), bytes };
  } finally {
    await handle.close();
  }
}

/** The body of a `~new` record, only when it is committed: it is the object file itself. */
async function readIfCommitted(pending: string, file: string): Promise<Buffer | undefined> {
  const object = await statIfPresent(file);
  if (object === undefined) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(pending, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    return sameFile(await handle.stat({ bigint: true }), object) ? await handle.readFile() : undefined;
  } finally {
    await handle.close();
  }
}

/**
 * The committed versions of the object at `file`, newest first, and the
 * object itself when no version records it (written before the store kept
 * versions). The object is looked at before its versions directory, so a
 * write that commits meanwhile is either wholly in the answer or wholly out.
 */
async function committedVersions(file: string): Promise<{
  records: VersionRecord[];
  unrecorded: { bytes: Buffer; etag: string; mtimeMs: number } | undefined;
  /** Whether the key has a current object (versions outlive an object deleted by hand, as in S3). */
  exists: boolean;
}> {
  const object = await statIfPresent(file);
  const directory = versionsDirectory(file);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (!isMissing(error)) throw error;
    names = [];
  }
  const records: VersionRecord[] = [];
  const pending: VersionRecord[] = [];
  for (const name of names) {
    const isPending = name.endsWith(PENDING_SUFFIX);
    const record = parseVersionId(isPending ? name.slice(0, -PENDING_SUFFIX.length) : name);
    if (record !== undefined) (isPending ? pending : records).push(record);
  }
  for (const record of pending) {
    if (records.some((known) => known.id === record.id) || object === undefined) continue;
    // Renamed to its final name since the directory was read: then look at it there.
    const info = (await statIfPresent(path.join(directory, `${record.id}${PENDING_SUFFIX}`))) ?? (await statIfPresent(path.join(directory, record.id)));
    if (info !== undefined && sameFile(info, object)) records.push(record);
  }
  records.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  if (object === undefined) return { records, unrecorded: undefined, exists: false };
  for (const record of records) {
    const info = (await statIfPresent(path.join(directory, record.id))) ?? (await statIfPresent(path.join(directory, `${record.id}${PENDING_SUFFIX}`)));
    if (info !== undefined && sameFile(info, object)) return { records, unrecorded: undefined, exists: true };
  }
  const current = await readCurrent(file);
  if (current === undefined) return { records, unrecorded: undefined, exists: false };
  return { records, unrecorded: { bytes: current.bytes!, etag: current.etag, mtimeMs: Number(current.identity.mtimeNs / 1_000_000n) }, exists: true };
}

interface PreparedVersion {
  id: string;
  /** Where the record is linked before the commit. */
  pending: string;
  /** Its name once committed. */
  final: string;
}

/**
 * Under the key's lock: settles what earlier writes left (a committed `~new`
 * record gets its final name, an orphan is removed), records the current
 * object when no version does yet, and names the version about to be written.
 */
async function prepareVersion(file: string, current: CurrentObject | undefined, bytes: Buffer): Promise<PreparedVersion> {
  const directory = versionsDirectory(file);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    // Its object was written before the store kept versions (or by create, which makes it first): make it now.
    await ensureDirectory(directory);
    names = [];
  }
  let lastSeq = 0;
  let lastMs = 0;
  let newest: VersionRecord | undefined;
  for (const name of names) {
    const isPending = name.endsWith(PENDING_SUFFIX);
    const record = parseVersionId(isPending ? name.slice(0, -PENDING_SUFFIX.length) : name);
    if (record === undefined) continue;
    lastSeq = Math.max(lastSeq, record.seq);
    if (isPending) {
      const info = await statIfPresent(path.join(directory, name));
      if (current !== undefined && info !== undefined && sameFile(info, current.identity)) {
        await rename(path.join(directory, name), path.join(directory, record.id));
      } else {
        await unlink(path.join(directory, name)).catch(() => {});
        continue;
      }
    }
    lastMs = Math.max(lastMs, record.ms);
    if (newest === undefined || record.seq > newest.seq) newest = record;
  }
  if (current !== undefined) {
    // The newest record is the object itself when this store wrote them as one file; else look at its inode.
    const recorded =
      newest === undefined ? undefined : newest.id === current.versionId ? current.identity : await statIfPresent(path.join(directory, newest.id));
    if (recorded === undefined || !sameFile(recorded, current.identity)) {
      // Written before the store kept versions: record it, so that this write does not lose it.
      lastMs = Math.max(lastMs, Number(current.identity.mtimeNs / 1_000_000n));
      await link(file, path.join(directory, versionId(++lastSeq, lastMs, current.etag.slice(1, -1))));
    }
  }
  const id = versionId(lastSeq + 1, Math.max(Date.now(), lastMs), createHash('md5').update(bytes).digest('hex'));
  return { id, pending: path.join(directory, `${id}${PENDING_SUFFIX}`), final: path.join(directory, id) };
}

/** Gives a committed record its final name; left undone (a crash), the next write or any reader treats the `~new` record as committed. */
async function commitVersion(record: PreparedVersion): Promise<void> {
  await rename(record.pending, record.final).catch(() => {});
}

// ---------------------------------------------------------------- locks

const inProcessQueues = new Map<string, Promise<void>>();
/** This host's name, as lock files record it. */
const HOST = hostname();

/** Runs `critical` after every earlier holder of `id` in this process has finished. */
async function inProcessLock<T>(id: string, critical: () => Promise<T>): Promise<T> {
  const previous = inProcessQueues.get(id) ?? Promise.resolve();
  let release!: () => void;
  const done = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => done);
  inProcessQueues.set(id, tail);
  await previous;
  try {
    return await critical();
  } finally {
    release();
    if (inProcessQueues.get(id) === tail) inProcessQueues.delete(id);
  }
}

interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

/** A complete lock file that this process hard-links as the lock of any key in its directory. */
interface LockDraft {
  path: string;
  made: Promise<{ ino: bigint; dev: bigint }>;
  /** Lock holders and waiters in this process using it; the last one out removes it. */
  users: number;
}

const lockDrafts = new Map<string, LockDraft>();

function takeDraft(dir: string): LockDraft {
  let draft = lockDrafts.get(dir);
  if (draft === undefined) {
    const owner: LockOwner = { pid: process.pid, host: HOST, token: randomBytes(8).toString('hex') };
    const file = path.join(dir, `${SIDE_MARK}lock${SIDE_MARK}new-${owner.token}`);
    draft = { path: file, made: writeDraft(file, `${JSON.stringify(owner)}\n`), users: 0 };
    lockDrafts.set(dir, draft);
  }
  draft.users++;
  return draft;
}

async function dropDraft(dir: string, draft: LockDraft): Promise<void> {
  if (--draft.users > 0) return;
  if (lockDrafts.get(dir) === draft) lockDrafts.delete(dir);
  await unlink(draft.path).catch(() => {});
}

async function writeDraft(file: string, content: string): Promise<{ ino: bigint; dev: bigint }> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(content);
    const { ino, dev } = await handle.stat({ bigint: true });
    return { ino, dev };
  } finally {
    await handle.close();
  }
}

/**
 * Takes the lock file `lockPath`, waiting with jittered polling while another
 * process holds it; returns the function that releases it. The lock is made
 * whole before it is linked into place, so it is never seen without its owner:
 * it is a link to a complete file this process keeps in the directory while it
 * holds or awaits locks there (`~lock~new-<hex>`), touched before each link so
 * that a lock is never older than its holding.
 * @throws StoreUnavailable when it stays held for `timeoutMs`.
 */
async function acquireLockFile(lockPath: string, timeoutMs: number, staleMs: number): Promise<() => Promise<void>> {
  const dir = path.dirname(lockPath);
  let draft = takeDraft(dir);
  let held = false;
  try {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      let ours: { ino: bigint; dev: bigint };
      try {
        ours = await draft.made;
        const now = new Date();
        await utimes(draft.path, now, now);
        await link(draft.path, lockPath);
        held = true;
        const taken = draft;
        return async () => {
          await releaseLockFile(lockPath, ours);
          await dropDraft(dir, taken);
        };
      } catch (error) {
        if (errorCode(error) === 'ENOENT' && (await statIfPresent(dir)) !== undefined) {
          // The draft is gone (removed by hand, or its making failed): make a new one.
          if (lockDrafts.get(dir) === draft) lockDrafts.delete(dir);
          await dropDraft(dir, draft);
          draft = takeDraft(dir);
          if (Date.now() >= deadline) throw new StoreUnavailable(`timed out waiting for the lock ${lockPath}`, { cause: error });
          continue;
        }
        if (errorCode(error) !== 'EEXIST') throw error;
      }
      if (await breakStaleLock(lockPath, staleMs)) continue;
      if (Date.now() >= deadline) throw new StoreUnavailable(`timed out waiting for the lock ${lockPath}`);
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * Math.min(2 ** attempt, 25)));
    }
  } finally {
    if (!held) await dropDraft(dir, draft);
  }
}

async function releaseLockFile(lockPath: string, ours: { ino: bigint; dev: bigint }): Promise<void> {
  // Only our own lock: a stale-lock breaker may have removed ours and another writer taken the name.
  // Ours is a link to this process's draft, which no other process links, and only this key's holder links it to this name.
  const present = await stat(lockPath, { bigint: true }).catch(() => undefined);
  if (present !== undefined && sameFile(present, ours)) await unlink(lockPath).catch(() => {});
}

/**
 * Removes the lock at `lockPath` when it is abandoned: its owner's pid is gone
 * on this host, or it is older than `staleMs`. Returns true when the caller
 * should try to take the lock again at once.
 */
async function breakStaleLock(lockPath: string, staleMs: number): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(lockPath, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return true;
    throw error;
  }
  try {
    const info = await handle.stat();
    const text = await handle.readFile('utf-8');
    if (!isAbandoned(text, info.mtimeMs, staleMs)) return false;
    // Move the lock aside, then check it is the very file judged abandoned: its inode cannot be reused while we hold it open.
    const aside = `${lockPath}${SIDE_MARK}stale-${randomBytes(8).toString('hex')}`;
    try {
      await rename(lockPath, aside);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return true;
      throw error;
    }
    const moved = await stat(aside);
    if (moved.ino !== info.ino || moved.dev !== info.dev) {
      // Another waiter broke it first and a live writer took the name: put that writer's lock back.
      await link(aside, lockPath).catch(() => {});
    }
    await unlink(aside);
    return true;
  } finally {
    await handle.close();
  }
}

function isAbandoned(text: string, mtimeMs: number, staleMs: number): boolean {
  if (Date.now() - mtimeMs > staleMs) return true;
  let owner: Partial<LockOwner>;
  try {
    owner = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    return false; // not a lock this store wrote: only age can tell
  }
  return owner.host === HOST && typeof owner.pid === 'number' && owner.pid !== process.pid && !processRuns(owner.pid);
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}
