import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { identityOf, isMissing, sameIdentity, statIfPresent, type FileIdentity } from './filesystem.ts';

/** Longest the cache of one store grows; past it the entries remembered longest ago go first. */
const ETAG_CACHE_LIMIT = 10_000;

/** The ETag of an S3 single-part upload of `bytes`: the quoted MD5 hex. */
export function etagOf(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** The object file of a key as seen at one moment. */
export interface CurrentObject {
  identity: FileIdentity;
  etag: string;
  /** The body, when it was read. */
  bytes?: Buffer;
  /** The version this very file was recorded as, when this store wrote it. */
  versionId?: string;
}

/** The body and identity of the object file, read through one handle so both belong to the same file. */
export async function readCurrent(file: string): Promise<CurrentObject | undefined> {
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

/**
 * The ETags one store knows, per object file, with the identity of the file
 * each was computed from. The store never changes a file once written (a
 * write makes a new file and links or renames it into place, and every
 * version file keeps its inode alive), so an ETag holds for as long as the
 * path shows that identity, whoever wrote meanwhile: a stat is enough then.
 */
export class KnownEtags {
  readonly #byFile = new Map<string, { identity: FileIdentity; etag: string; versionId?: string }>();

  /** The ETag last known for `file`, not checked against the file. */
  lastKnown(file: string): string | undefined {
    return this.#byFile.get(file)?.etag;
  }

  /** Remembers the ETag of the file with `identity`, and the version ID it has when this store wrote it. */
  remember(file: string, identity: FileIdentity, etag: string, versionId?: string): void {
    this.#byFile.delete(file);
    this.#byFile.set(file, versionId === undefined ? { identity, etag } : { identity, etag, versionId });
    if (this.#byFile.size > ETAG_CACHE_LIMIT) this.#byFile.delete(this.#byFile.keys().next().value!);
  }

  forget(file: string): void {
    this.#byFile.delete(file);
  }

  /** The identity and ETag of the object file: from a stat when the file is the one last seen, else from reading it. */
  async currentObject(file: string): Promise<CurrentObject | undefined> {
    const info = await statIfPresent(file);
    if (info === undefined) return undefined;
    const identity = identityOf(info);
    const known = this.#byFile.get(file);
    if (known !== undefined && sameIdentity(known.identity, identity)) {
      return { identity, etag: known.etag, ...(known.versionId === undefined ? {} : { versionId: known.versionId }) };
    }
    const read = await readCurrent(file);
    if (read !== undefined) this.remember(file, read.identity, read.etag);
    return read;
  }
}
