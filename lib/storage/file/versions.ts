import type { LogRecord } from './records.ts';

/**
 * How the versions of a key are kept: each write is one record in the log,
 * either a checkpoint (the whole body) or a delta against the version before
 * it (`{keepPrefix, keepSuffix, insert}`: the previous body's first `p` and
 * last `q` bytes around the new bytes, so a JSON array that grows by an entry
 * costs a record of about the entry's size). A delta is written only when it
 * is smaller than the body, and only while the deltas since the last
 * checkpoint stay smaller than the body and fewer than {@link MAX_CHAIN}:
 * reconstructing any version reads one checkpoint and a chain of at most that
 * many bytes, and the checkpoints add up to at most about as many bytes as
 * the deltas (the stored bytes stay linear in what changed).
 */

/** Most deltas between two checkpoints: bounds the work of reconstructing a version. */
export const MAX_CHAIN = 1000;

/** One version of a key, as the in-memory index holds it (its body stays in the log). */
export interface VersionEntry {
  seq: number;
  ms: number;
  md5: string;
  /** The record that holds it, in the log file of `generation` (see `StoreLog`). */
  offset: number;
  length: number;
  generation: number;
  op: 'c' | 'd';
  /** The body's size in bytes. */
  size: number;
  /** Index in the key's version list of the checkpoint this version's chain starts from. */
  base: number;
  /** Data bytes of the deltas from that checkpoint up to this version. */
  chain: number;
  /** How many deltas lie between that checkpoint and this version. */
  depth: number;
}

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
  while (
    suffix + BLOCK <= room &&
    previous.compare(
      next,
      next.length - suffix - BLOCK,
      next.length - suffix,
      previous.length - suffix - BLOCK,
      previous.length - suffix,
    ) === 0
  ) {
    suffix += BLOCK;
  }
  while (suffix < room && previous[previous.length - suffix - 1] === next[next.length - suffix - 1]) suffix++;
  return { keepPrefix: prefix, keepSuffix: suffix, insert: next.subarray(prefix, next.length - suffix) };
}

/** Whether the next version of a key after `last` is written as a delta (else a checkpoint). */
export function writesDelta(last: VersionEntry | undefined, delta: Delta, size: number): boolean {
  if (last === undefined || delta.insert.length >= size) return false;
  return last.chain + delta.insert.length <= size && last.depth < MAX_CHAIN;
}

/** The index entry of a record that follows `versions` (the key's versions so far, oldest first). */
export function entryOf(record: LogRecord, versions: VersionEntry[], generation: number): VersionEntry {
  const { meta } = record;
  const common = { seq: meta.s, ms: meta.t, md5: meta.m, offset: record.offset, length: record.length, generation };
  const previous = versions.at(-1);
  if (meta.op !== 'd' || previous === undefined)
    return { ...common, op: 'c', size: record.data.length, base: versions.length, chain: 0, depth: 0 };
  const size = (meta.p ?? 0) + record.data.length + (meta.q ?? 0);
  return { ...common, op: 'd', size, base: previous.base, chain: previous.chain + record.data.length, depth: previous.depth + 1 };
}

/**
 * A body being rebuilt from a checkpoint by applying deltas in place: it grows
 * by doubling, and a delta moves only the bytes after the kept prefix, so a
 * chain of appends near the end costs about the bytes it adds.
 */
export class BodyBuilder {
  #bytes: Buffer;
  #length: number;

  constructor(checkpoint: Buffer) {
    this.#bytes = Buffer.allocUnsafe(Math.max(64, checkpoint.length * 2));
    checkpoint.copy(this.#bytes);
    this.#length = checkpoint.length;
  }

  /** Applies the delta of `record` (a `d` record). @throws Error when the delta does not fit the body (a corrupt log) */
  apply(record: LogRecord): void {
    const prefix = record.meta.p ?? 0;
    const suffix = record.meta.q ?? 0;
    if (prefix + suffix > this.#length) throw new Error(`a delta at offset ${record.offset} does not fit the body it follows`);
    const length = prefix + record.data.length + suffix;
    if (length > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(length * 2);
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    this.#bytes.copyWithin(prefix + record.data.length, this.#length - suffix, this.#length);
    record.data.copy(this.#bytes, prefix);
    this.#length = length;
  }

  /** The body as it stands: a copy, safe to keep. */
  body(): Buffer {
    return Buffer.from(this.#bytes.subarray(0, this.#length));
  }
}
