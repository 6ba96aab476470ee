import type { VersionEntry } from './versions.ts';

/** What the index knows of one key. */
export interface KeyEntry {
  key: string;
  /** The key's UTF-8 bytes: the listing order. */
  bytes: Buffer;
  /** Oldest first; only the current one in a store that keeps no versions. */
  versions: VersionEntry[];
  /** False once deleted (its versions stay listed in a store that keeps them). */
  live: boolean;
  /** The next version's sequence number. */
  nextSeq: number;
  /** The latest write time along the key: version times never go back. */
  lastMs: number;
}

/**
 * Every key of the store, by name and in UTF-8 byte order of the live ones,
 * rebuilt from the log when the store opens and kept up as records are read:
 * a listing page costs a binary search and the page, whatever the key count.
 */
export class KeyIndex {
  readonly #byKey = new Map<string, KeyEntry>();
  /** The live keys, sorted. */
  #sorted: KeyEntry[] = [];
  /** While loading a whole log: sort once at the end instead of inserting one by one. */
  #bulk = false;

  get(key: string): KeyEntry | undefined {
    return this.#byKey.get(key);
  }

  /** The entry of `key`, made (not live yet) when it has none. */
  entry(key: string): KeyEntry {
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      entry = { key, bytes: Buffer.from(key, 'utf-8'), versions: [], live: false, nextSeq: 1, lastMs: 0 };
      this.#byKey.set(key, entry);
    }
    return entry;
  }

  /** The live keys in listing order (not during a bulk load). */
  liveEntries(): readonly KeyEntry[] {
    return this.#sorted;
  }

  /** Forgets everything (the log was replaced). */
  clear(): void {
    this.#byKey.clear();
    this.#sorted = [];
  }

  /** Starts a bulk load; `endBulk` sorts. */
  beginBulk(): void {
    this.#bulk = true;
  }

  endBulk(): void {
    if (!this.#bulk) return;
    this.#bulk = false;
    this.#sorted = [...this.#byKey.values()].filter((entry) => entry.live).sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  }

  /** Marks `entry` live or not, keeping the sorted list in step. */
  setLive(entry: KeyEntry, live: boolean): void {
    if (entry.live === live) return;
    entry.live = live;
    if (this.#bulk) return;
    const at = this.#lowerBound(entry.bytes);
    if (live) this.#sorted.splice(at, 0, entry);
    else if (this.#sorted[at] === entry) this.#sorted.splice(at, 1);
  }

  /** Up to `limit` live keys that start with `prefix` and sort after `startAfter`, and whether more follow. */
  page(prefix: string, limit: number, startAfter: string | undefined): { entries: KeyEntry[]; truncated: boolean } {
    const start = Buffer.from(prefix, 'utf-8');
    let at = this.#lowerBound(start);
    if (startAfter !== undefined) {
      const after = Buffer.from(startAfter, 'utf-8');
      if (Buffer.compare(after, start) >= 0) {
        at = this.#lowerBound(after);
        if (at < this.#sorted.length && this.#sorted[at]!.bytes.equals(after)) at++;
      }
    }
    const entries: KeyEntry[] = [];
    for (; at < this.#sorted.length && entries.length <= limit; at++) {
      const entry = this.#sorted[at]!;
      if (!startsWith(entry.bytes, start)) break;
      entries.push(entry);
    }
    return entries.length > limit ? { entries: entries.slice(0, limit), truncated: true } : { entries, truncated: false };
  }

  /** The position of the first live key not below `bytes`. */
  #lowerBound(bytes: Buffer): number {
    let low = 0;
    let high = this.#sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (Buffer.compare(this.#sorted[middle]!.bytes, bytes) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
