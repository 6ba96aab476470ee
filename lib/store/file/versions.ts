import { createHash } from 'node:crypto';
import { link, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { TimeSource } from '../../clock.ts';
import { NULL_VERSION_ID, UnknownVersion, type ObjectVersion, type StoredObject, type VersionListOptions, type VersionPage } from '../port.ts';
import type { Durability } from './durability.ts';
import { etagOf, readCurrent, type CurrentObject } from './etags.ts';
import { errorCode, isMissing, readIfPresent, sameFile, statIfPresent } from './filesystem.ts';
import { SIDE_MARK } from './keys.ts';

/** The directory beside an object file that holds its versions: `<name>~versions/`. */
const VERSIONS_SUFFIX = `${SIDE_MARK}versions`;
/** A version record written but not yet known to be committed: `<version id>~new`. */
const PENDING_SUFFIX = `${SIDE_MARK}new`;
/** A version ID: a 12-digit sequence number, the record's Unix milliseconds (13 digits) and the body's MD5. */
const VERSION_ID = /^(\d{12})-(\d{13})-([0-9a-f]{32})$/;

interface VersionRecord {
  id: string;
  seq: number;
  ms: number;
  md5: string;
}

/** A version named and about to be written, under the key's lock. */
export interface PreparedVersion {
  id: string;
  /** The versions directory it goes in. */
  directory: string;
  /** Where the record is linked before the commit. */
  pending: string;
  /** Its name once committed. */
  final: string;
}

/**
 * The versions of each object file, kept beside it in `<name>~versions/`, one
 * immutable file per version named by its version ID; the object file is a
 * hard link to its current version's file. A write, under the key's lock,
 * calls `prepare`, `stage` (the record is linked as `<id>~new` and made
 * durable), then links or renames the object into place, then `commit`s.
 * See `FileObjectStore` for what this guarantees across crashes.
 */
export class KeyVersions {
  readonly #durability: Durability;
  readonly #clock: TimeSource;

  constructor({ durability, clock }: { durability: Durability; clock: TimeSource }) {
    this.#durability = durability;
    this.#clock = clock;
  }

  /** Makes the versions directory of `file` exist, durably, before a create. */
  async prepareDirectory(file: string): Promise<void> {
    await this.#durability.ensureDirectory(versionsDirectory(file));
  }

  /**
   * Under the key's lock: settles what earlier writes left (a committed `~new`
   * record gets its final name, an orphan is removed), records the current
   * object when no version does yet, and names the version about to be written.
   */
  async prepare(file: string, current: CurrentObject | undefined, bytes: Buffer): Promise<PreparedVersion> {
    const directory = versionsDirectory(file);
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      // Its object was written before the store kept versions (or by create, which makes it first): make it now.
      await this.#durability.ensureDirectory(directory);
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
    const id = versionId(lastSeq + 1, Math.max(this.#clock.now(), lastMs), createHash('md5').update(bytes).digest('hex'));
    return { id, directory, pending: path.join(directory, `${id}${PENDING_SUFFIX}`), final: path.join(directory, id) };
  }

  /** Links the new body (the temporary file `temp`) as the pending record and makes that durable, before the object changes. */
  async stage(record: PreparedVersion, temp: string): Promise<void> {
    await link(temp, record.pending);
    await this.#durability.syncDirectory(record.directory);
  }

  /** Removes a pending record whose write did not happen. */
  async discard(record: PreparedVersion): Promise<void> {
    await unlink(record.pending).catch(() => {});
  }

  /** Gives a committed record its final name; left undone (a crash), the next write or any reader treats the `~new` record as committed. */
  async commit(record: PreparedVersion): Promise<void> {
    await rename(record.pending, record.final).catch(() => {});
  }

  /** A page of the versions of the object at `file` (the key `key`), newest first. @throws UnknownVersion for a cursor that is no version ID */
  async list(file: string, key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    if (cursor !== undefined && cursor !== NULL_VERSION_ID && !VERSION_ID.test(cursor)) throw new UnknownVersion(key, cursor);
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
  }

  /** The version `versionId` of the object at `file`, or undefined when it has no such version. */
  async read(file: string, versionId: string): Promise<StoredObject | undefined> {
    if (versionId === NULL_VERSION_ID) {
      const { unrecorded } = await committedVersions(file);
      return unrecorded === undefined ? undefined : { body: unrecorded.bytes.toString('utf-8'), etag: etagOf(unrecorded.bytes), versionId };
    }
    if (!VERSION_ID.test(versionId)) return undefined;
    const record = path.join(versionsDirectory(file), versionId);
    const bytes = (await readIfPresent(record)) ?? (await readIfCommitted(`${record}${PENDING_SUFFIX}`, file));
    return bytes === undefined ? undefined : { body: bytes.toString('utf-8'), etag: etagOf(bytes), versionId };
  }
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
