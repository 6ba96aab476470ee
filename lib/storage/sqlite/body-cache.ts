import type { CachedBody } from './versions.ts';

/**
 * Bodies of versions used lately, up to a byte budget: the newest of each hot
 * key (so that a `get` or the next write reads no chain) and those just
 * written (so that reading the versions an announcer has yet to announce
 * reads none either). Versions never change, so an entry is never stale;
 * whether it is still the newest is told by the key's row.
 */
export class BodyCache {
  readonly #entries = new Map<string, CachedBody & { key: string }>();
  /** The newest version held of each key. */
  readonly #newest = new Map<string, number>();
  readonly #limit: number;
  #bytes = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** The newest version held of `key`. */
  peek(key: string): CachedBody | undefined {
    const seq = this.#newest.get(key);
    return seq === undefined ? undefined : this.version(key, seq);
  }

  version(key: string, seq: number): CachedBody | undefined {
    const id = `${seq}:${key}`;
    const cached = this.#entries.get(id);
    if (cached === undefined) return undefined;
    this.#entries.delete(id);
    this.#entries.set(id, cached);
    return cached;
  }

  /** Drops the versions of `key` up to `seq` (a purge deleted them). */
  forget(key: string, seq: number): void {
    for (let n = seq; n >= 1; n--) {
      const cached = this.#entries.get(`${n}:${key}`);
      if (cached === undefined) continue;
      this.#entries.delete(`${n}:${key}`);
      this.#bytes -= cached.bytes.length;
    }
    this.#newest.delete(key);
  }

  set(key: string, cached: CachedBody): void {
    if (cached.bytes.length > this.#limit / 4) return;
    const id = `${cached.seq}:${key}`;
    const previous = this.#entries.get(id);
    if (previous !== undefined) this.#bytes -= previous.bytes.length;
    this.#entries.delete(id);
    this.#entries.set(id, { ...cached, key });
    this.#bytes += cached.bytes.length;
    if ((this.#newest.get(key) ?? -1) < cached.seq) this.#newest.set(key, cached.seq);
    for (const [oldest, body] of this.#entries) {
      if (this.#bytes <= this.#limit) break;
      this.#entries.delete(oldest);
      this.#bytes -= body.bytes.length;
      if (this.#newest.get(body.key) === body.seq) this.#newest.delete(body.key);
    }
  }
}
