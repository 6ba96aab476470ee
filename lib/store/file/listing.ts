import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ListPage } from '../port.ts';
import { isMissing } from './filesystem.ts';
import { decodeName, directoryName, prefixParts, SIDE_MARK, SLASH } from './keys.ts';

/**
 * A page of the keys under `prefix` in the key tree `objects`, in ascending
 * UTF-8 byte order after `startAfter`. Walks only the directories under the
 * prefix and never reads a body. @throws InvalidKey for a prefix no key can have
 */
export async function listKeys(objects: string, prefix: string, limit: number, startAfter: string | undefined): Promise<ListPage> {
  const { directories, partial } = prefixParts(prefix);
  const dir = path.join(objects, ...directories.map(directoryName));
  const base = Buffer.from(directories.map((segment) => `${segment}/`).join(''), 'utf-8');
  const after = startAfter === undefined ? undefined : Buffer.from(startAfter, 'utf-8');
  const found: string[] = [];
  await walk(dir, base, Buffer.from(partial, 'utf-8'), after, limit + 1, found);
  return { keys: found.slice(0, limit), truncated: found.length > limit };
}

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

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}
