import { createHash, type Hash } from 'node:crypto';

/**
 * How the versions of a key are kept: each write is one row, either a full
 * body or a forward delta against the version before it (the previous body's
 * first `keepPrefix` and last `keepSuffix` bytes around `insert`). A session
 * grows by a job inserted before the end of its JSON, so an append is a delta
 * of about the job's size. A full body is written again when the deltas since
 * the last one would exceed the new body's size: each full body of `S` bytes
 * follows at least `S` bytes of deltas, so an append writes and keeps at most
 * about twice its delta whatever the session's length, and reading a version
 * reads one full body and at most as many bytes of deltas.
 */

/** A delta: keep `keepPrefix` bytes of the start and `keepSuffix` bytes of the end of the previous body, with `insert` between. */
export interface Delta {
  keepPrefix: number;
  keepSuffix: number;
  insert: Buffer;
}

/** Compared at once before the byte-by-byte search inside the first block that differs. */
const BLOCK = 4096;

/** The delta that turns `previous` into `next`: the longest common prefix, then the longest common suffix of what is left. */
export function deltaOf(previous: Buffer, next: Buffer): Delta {
  const most = Math.min(previous.length, next.length);
  let prefix = 0;
  while (prefix + BLOCK <= most && previous.compare(next, prefix, prefix + BLOCK, prefix, prefix + BLOCK) === 0) prefix += BLOCK;
  while (prefix < most && previous[prefix] === next[prefix]) prefix++;
  const room = most - prefix;
  let suffix = 0;
  const pEnd = previous.length;
  const nEnd = next.length;
  while (suffix + BLOCK <= room && previous.compare(next, nEnd - suffix - BLOCK, nEnd - suffix, pEnd - suffix - BLOCK, pEnd - suffix) === 0)
    suffix += BLOCK;
  while (suffix < room && previous[pEnd - suffix - 1] === next[nEnd - suffix - 1]) suffix++;
  return { keepPrefix: prefix, keepSuffix: suffix, insert: next.subarray(prefix, nEnd - suffix) };
}

/** The body `delta` makes from `previous`. */
export function applyDelta(previous: Buffer, delta: Delta): Buffer {
  return Buffer.concat([previous.subarray(0, delta.keepPrefix), delta.insert, previous.subarray(previous.length - delta.keepSuffix)]);
}

/** A current body held in memory, with the MD5 state of its start so that the next write hashes only what follows. */
export interface CachedBody {
  seq: number;
  bytes: Buffer;
  text: string;
  /** Its version ID, when known. */
  versionId?: string;
  /** MD5 state over `bytes[0, at)`, where the next append most likely begins to differ. */
  hash?: { state: Hash; at: number };
}

/**
 * The MD5 hex of `next`, the body `delta` makes from `previous`: when the
 * previous body's saved hash state covers only bytes the delta keeps, it
 * hashes just the rest. Returns the state to save with `next`; the previous
 * one's is taken over (it is used again only by a copy).
 */
export function md5After(
  previous: CachedBody | undefined,
  delta: Delta | undefined,
  next: Buffer,
): { md5: string; hash: { state: Hash; at: number } } {
  const at = delta === undefined ? next.length : next.length - delta.keepSuffix;
  const saved = previous?.hash;
  let state: Hash;
  let from: number;
  if (saved !== undefined && delta !== undefined && delta.keepPrefix >= saved.at && at >= saved.at) {
    // A copy: the transaction may roll back, and then the cached body keeps its own state.
    state = saved.state.copy();
    from = saved.at;
  } else {
    state = createHash('md5');
    from = 0;
  }
  state.update(next.subarray(from, at));
  return { md5: state.copy().update(next.subarray(at)).digest('hex'), hash: { state, at } };
}
