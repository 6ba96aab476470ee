import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { LOG_NAME } from './engine.ts';

/** The file that says which layout and mode a data directory has. */
export const FORMAT_NAME = 'store.json';
/** The layout this store writes: one log (see `engine.ts`). */
export const FORMAT_VERSION = 2;

/** The data directory holds the layout of an earlier version of the store (a file per object under `objects/`): it must be migrated first. */
export class LegacyDataDirectory extends Error {
  override readonly name = 'LegacyDataDirectory';
  readonly root: string;
  constructor(root: string) {
    super(`${root} holds data in the earlier file-per-object layout; migrate it first: npm run migrate-data -- ${root}`);
    this.root = root;
  }
}

/** The data directory was made by the other kind of file store (one that keeps versions, or one that does not). */
export class DataDirectoryMismatch extends Error {
  override readonly name = 'DataDirectoryMismatch';
  constructor(root: string, versions: boolean) {
    super(`${root} holds a file store that ${versions ? 'keeps' : 'does not keep'} versions; open it as such`);
  }
}

/** True when `root` holds objects in the file-per-object layout and no log. */
export function isLegacyLayout(root: string): boolean {
  const objects = path.join(root, 'objects');
  return existsSync(objects) && !existsSync(path.join(root, LOG_NAME)) && readdirSync(objects).length > 0;
}

/**
 * Makes `root` ready for a store of this layout and returns it resolved.
 * @throws LegacyDataDirectory when it holds the earlier layout (never read as this one)
 * @throws DataDirectoryMismatch when it was made for the other mode
 */
export function prepareDataDirectory(root: string, versions: boolean): string {
  mkdirSync(root, { recursive: true });
  const resolved = realpathSync(root);
  if (isLegacyLayout(resolved)) throw new LegacyDataDirectory(resolved);
  const format = path.join(resolved, FORMAT_NAME);
  if (existsSync(format)) {
    const recorded = JSON.parse(readFileSync(format, 'utf-8')) as { format?: number; versions?: boolean };
    if (recorded.format !== FORMAT_VERSION)
      throw new Error(`${resolved} holds a file store of format ${recorded.format}; this one reads ${FORMAT_VERSION}`);
    if (recorded.versions !== versions) throw new DataDirectoryMismatch(resolved, recorded.versions === true);
    return resolved;
  }
  const temp = `${format}~tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify({ format: FORMAT_VERSION, versions })}\n`);
  const handle = openSync(temp, 'r');
  fsyncSync(handle);
  closeSync(handle);
  renameSync(temp, format);
  return resolved;
}
