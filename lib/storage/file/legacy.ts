import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { NULL_VERSION_ID } from '../port.ts';
import { isMissing, sameFile, statIfPresent } from './filesystem.ts';
import { decodeName, SIDE_MARK, SLASH } from './keys.ts';

/**
 * Reads a data directory of the earlier file-per-object layout, for the
 * migration (`migration.ts`): `objects/` holds the key tree, each key's
 * current body in a file named by its encoded last segment (directories are
 * named by their segment and `/`, encoded; names with `~` are never keys), and
 * `<name>~versions/` beside it holds every committed version, one file each
 * named by its version ID `<seq>-<ms>-<md5>`, the object file being a hard
 * link to its current version. Read as that store read it: a `<id>~new`
 * record counts only while it is the object file's inode (else its write never
 * happened); an object no record shares an inode with was written before
 * versions were kept and is its key's latest version, `null`, dated by its
 * mtime; lock, lock draft and temporary files are skipped. Nothing is written.
 */

/** The directory of the key tree in that layout. */
export const LEGACY_OBJECTS = 'objects';

const VERSIONS_SUFFIX = `${SIDE_MARK}versions`;
const PENDING_SUFFIX = `${SIDE_MARK}new`;
const VERSION_ID = /^(\d{12})-(\d{13})-([0-9a-f]{32})$/;

/** One version of a key in the earlier layout. */
export interface LegacyVersion {
  /** Its version ID there, or `null` for an object written before versions were kept. */
  id: string;
  /** Unix ms: from the version ID, or the object file's mtime for `null`. */
  ms: number;
  body: Buffer;
}

/** One key of the earlier layout and its versions, oldest first. */
export interface LegacyKey {
  key: string;
  versions: LegacyVersion[];
  /** False when the object file is gone and only its versions are left (removed by hand: S3 keeps versions of a deleted key). */
  live: boolean;
}

/** Every key under `objects` (the `objects/` directory of a data directory), in UTF-8 byte order, one at a time. */
export async function* legacyKeys(objects: string): AsyncGenerator<LegacyKey> {
  yield* walk(objects, Buffer.alloc(0));
}

/** Bytes of every file under `objects`, each inode counted once (a version and its object are one file). */
export async function legacyBytes(objects: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  for (const entry of await readdir(objects, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const info = await stat(path.join(entry.parentPath, entry.name), { bigint: true });
    const id = `${info.dev}:${info.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    total += Number(info.size);
  }
  return total;
}

async function* walk(dir: string, base: Buffer): AsyncGenerator<LegacyKey> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const children = new Map<string, { key: Buffer; name: string; directory: boolean }>();
  for (const dirent of dirents) {
    let name = dirent.name;
    const isVersions = name.endsWith(VERSIONS_SUFFIX) && dirent.isDirectory();
    if (isVersions) name = name.slice(0, -VERSIONS_SUFFIX.length);
    if (name.includes(SIDE_MARK)) continue;
    const decoded = decodeName(name);
    if (decoded === undefined || decoded.length === 0) continue;
    const directory = decoded.at(-1) === SLASH;
    if (isVersions ? directory : directory ? !dirent.isDirectory() : !dirent.isFile()) continue;
    children.set(name, { key: Buffer.concat([base, decoded]), name, directory });
  }
  const sorted = [...children.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  for (const child of sorted) {
    if (child.directory) {
      yield* walk(path.join(dir, child.name), child.key);
      continue;
    }
    const key = child.key.toString('utf-8');
    // Not UTF-8: the earlier store never listed it either.
    if (!Buffer.from(key, 'utf-8').equals(child.key)) continue;
    yield { key, ...(await versionsOf(path.join(dir, child.name))) };
  }
}

/** The committed versions of the object file `file`, oldest first, as the earlier store listed them. */
async function versionsOf(file: string): Promise<{ versions: LegacyVersion[]; live: boolean }> {
  const object = await statIfPresent(file);
  const live = object?.isFile() === true;
  const directory = `${file}${VERSIONS_SUFFIX}`;
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (!isMissing(error)) throw error;
    names = [];
  }
  const committed = new Map<string, string>();
  for (const name of names) {
    if (VERSION_ID.test(name)) committed.set(name, name);
  }
  for (const name of names) {
    if (!name.endsWith(PENDING_SUFFIX)) continue;
    const id = name.slice(0, -PENDING_SUFFIX.length);
    if (!VERSION_ID.test(id) || committed.has(id) || !live) continue;
    const info = await statIfPresent(path.join(directory, name));
    // Committed only when it is the object itself: else the object never changed to it.
    if (info !== undefined && sameFile(info, object!)) committed.set(id, name);
  }
  const ids = [...committed.keys()].sort();
  const versions: LegacyVersion[] = [];
  let recorded = false;
  for (const id of ids) {
    const recordPath = path.join(directory, committed.get(id)!);
    const info = await stat(recordPath, { bigint: true });
    if (live && sameFile(info, object!)) recorded = true;
    versions.push({ id, ms: Number(VERSION_ID.exec(id)![2]), body: await readFile(recordPath) });
  }
  if (live && !recorded) versions.push({ id: NULL_VERSION_ID, ms: Number(object!.mtimeNs / 1_000_000n), body: await readFile(file) });
  return { versions, live };
}
