import { ConditionNotMet, sameEtag, type KeyListOptions, type ListPage, type ObjectStore, type StoredObject, type WriteCondition } from '#lib/store/port.ts';

/**
 * The object-store port in memory, with the conditions of S3 conditional
 * writes and nothing else: no latency, no network, no hashing (ETags are a
 * counter). It isolates the cost of whatever sits above the store.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly #objects = new Map<string, StoredObject>();
  #version = 0;

  async get(key: string): Promise<StoredObject | undefined> {
    return this.#objects.get(key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    const existing = this.#objects.get(key);
    const holds = 'ifNoneMatch' in condition ? existing === undefined : existing !== undefined && sameEtag(existing.etag, condition.ifMatch);
    if (!holds) throw new ConditionNotMet(key);
    const etag = `"m${++this.#version}"`;
    this.#objects.set(key, { body, etag });
    return etag;
  }

  async list(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ListPage> {
    const keys = [...this.#objects.keys()].filter((key) => key.startsWith(prefix) && (startAfter === undefined || key > startAfter)).sort();
    return { keys: keys.slice(0, limit), truncated: keys.length > limit };
  }

  /** Stores `body` at `key` unconditionally, as another writer would have; returns its ETag. */
  seed(key: string, body: string): string {
    const etag = `"m${++this.#version}"`;
    this.#objects.set(key, { body, etag });
    return etag;
  }
}
