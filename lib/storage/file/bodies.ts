import { createHash, type Hash } from 'node:crypto';
import type { KeyEntry } from './key-index.ts';
import type { Delta } from './versions.ts';

/** A current body held in memory, with the MD5 state of its start so that the next write hashes only what follows. */
export interface CachedBody {
  seq: number;
  bytes: Buffer;
  text?: string;
  /** MD5 state over `bytes[0, at)`, where the next append most likely begins to differ. */
  hash?: { state: Hash; at: number };
}

/**
 * The current bodies of the keys used lately, up to a byte budget, so that a
 * `get` or the next write of a hot key reads nothing from disk.
 */
export class BodyCache {
  readonly #entries = new Map<KeyEntry, CachedBody>();
  readonly #limit: number;
  #bytes = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** The cached body of `entry` at version `seq`, if that is the one held. */
  get(entry: KeyEntry, seq: number): CachedBody | undefined {
    const cached = this.#entries.get(entry);
    if (cached === undefined || cached.seq !== seq) return undefined;
    this.#entries.delete(entry);
    this.#entries.set(entry, cached);
    return cached;
  }

  set(entry: KeyEntry, cached: CachedBody): void {
    this.drop(entry);
    if (cached.bytes.length > this.#limit / 4) return;
    this.#entries.set(entry, cached);
    this.#bytes += cached.bytes.length;
    for (const [oldest, body] of this.#entries) {
      if (this.#bytes <= this.#limit) break;
      this.#entries.delete(oldest);
      this.#bytes -= body.bytes.length;
    }
  }

  drop(entry: KeyEntry): void {
    const cached = this.#entries.get(entry);
    if (cached === undefined) return;
    this.#entries.delete(entry);
    this.#bytes -= cached.bytes.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/**
 * The MD5 hex of `next`, the body that `delta` makes from `previous`: when
 * the previous body's saved hash state covers only bytes the delta keeps, it
 * hashes just the rest. Returns the state to save with `next` (it takes over
 * the previous one's, which must not be used again).
 */
export function md5After(
  previous: CachedBody | undefined,
  delta: Delta | undefined,
  next: Buffer,
): { md5: string; hash: { state: Hash; at: number } } {
  const at = delta === undefined ? next.length : next.length - delta.keepSuffix;
  const saved = previous?.hash;
  if (previous !== undefined) delete previous.hash;
  let state: Hash;
  let from: number;
  if (saved !== undefined && delta !== undefined && delta.keepPrefix >= saved.at && at >= saved.at) {
    ({ state, at: from } = saved);
  } else {
    state = createHash('md5');
    from = 0;
  }
  state.update(next.subarray(from, at));
  return { md5: state.copy().update(next.subarray(at)).digest('hex'), hash: { state, at } };
}
