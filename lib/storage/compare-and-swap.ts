/**
 * The compare-and-swap engine every stored object that changes goes through:
 * read the object, apply a change function in memory, write the result back
 * `If-Match` the version read, and when another writer won, back off (capped
 * exponential, full jitter) and try again from a fresh read. It knows nothing
 * of what the objects mean: a codec turns bodies into values and back, and the
 * caller says what a change is and which errors its refusals are.
 *
 * @module
 */

import { fullJitterDelay } from '../common/backoff.ts';
import { type Clock, systemClock } from '../common/clock.ts';

import { LruCache } from '../common/lru-cache.ts';
import { ConditionNotMet, type ObjectStore, StoreFault, sameEtag, type WriteOptions } from './port.ts';

/** How values of one kind are stored: parse a body (throwing when it is not one), serialise a value. */
export interface Codec<T> {
  /** The value a stored body holds. @throws Error when the body at `key` is not such a value. */
  parse(body: string, key: string): T;
  serialise(value: T): string;
  /** What a write of `value` carries besides its body (e.g. object tags), if anything. */
  writeOptions?(value: T): WriteOptions | undefined;
}

/** A value together with the stored version it was read from or written as. */
export interface StoredVersion<T> {
  value: T;
  etag: string;
  /** The body exactly as stored: lost-answer recognition compares it. */
  body: string;
  /** The store's version ID of it, when the read or write reported one (S3 does). */
  versionId?: string | undefined;
}

/**
 * A change: the new value, `undefined` when the change is already in place
 * (nothing is written), or a thrown refusal. It may read other objects first
 * (asynchronously): it runs again on every attempt, so what it reads is fresh.
 */
export type ChangeFunction<T> = (current: T) => T | undefined | Promise<T | undefined>;

/** One compare-and-swap of the object at `key`. */
export interface SwapRequest<T> {
  key: string;
  change: ChangeFunction<T>;
  /** Apply the change only to this version (the caller's `If-Match`). */
  ifMatch?: string | undefined;
  /** The error to throw when there is no object at `key`. */
  missing: () => Error;
  /** The error to throw when the current version is not `ifMatch`. */
  mismatch: (ifMatch: string) => Error;
  /** The error to throw when every attempt lost to another writer. */
  exhausted: (attempts: number) => Error;
  /**
   * Whether a write of `body` conditioned on version `baseEtag`, reported as
   * failed, landed with others' writes after it: for changes that must not be
   * applied twice even when the current body is no longer theirs.
   */
  landedAfter?: ((baseEtag: string, body: string) => Promise<boolean>) | undefined;
}

/** The outcome of a swap: the value as it now stands and what it took to get there. */
export interface SwapResult<T> {
  value: T;
  etag: string;
  /** False when the change was already in place and nothing was written. */
  changed: boolean;
  /** Conditional writes sent (0 when nothing needed writing). */
  attempts: number;
  /** Writes refused because another writer got there first. */
  conflicts: number;
  /** The version this call's write replaced (undefined when it wrote nothing, or its write was recognised after a lost answer). */
  replaced?: StoredVersion<T> | undefined;
}

/** How hard the engine tries, and how long it waits between attempts. */
export interface SwapPolicy {
  /** Conditional writes before giving up. */
  maxAttempts: number;
  /** First backoff ceiling in ms, doubled per attempt. */
  baseDelayMs: number;
  /** Largest backoff ceiling in ms. */
  maxDelayMs: number;
}

export interface CompareAndSwapOptions<T> {
  store: ObjectStore;
  codec: Codec<T>;
  policy: SwapPolicy;
  clock?: Clock | undefined;
  /** Objects whose last known version is remembered (0: none), so that a change can skip its read. */
  cacheSize: number;
}

/**
 * Compare-and-swap over one kind of stored object. A warm instance remembers
 * the last version of each object it read or wrote: the first attempt of a
 * change may start from it (no read), and any refusal, no-op or failed write
 * based on that remembered version is confirmed against a fresh read.
 */
export class CompareAndSwap<T> {
  readonly #store: ObjectStore;
  readonly #codec: Codec<T>;
  readonly #policy: SwapPolicy;
  readonly #clock: Clock;
  readonly #cache: LruCache<string, StoredVersion<T>>;

  constructor({ store, codec, policy, clock = systemClock, cacheSize }: CompareAndSwapOptions<T>) {
    this.#store = store;
    this.#codec = codec;
    this.#policy = policy;
    this.#clock = clock;
    this.#cache = new LruCache(cacheSize);
  }

  /** The current version at `key` (a fresh read, then remembered), or undefined when there is none. */
  async read(key: string): Promise<StoredVersion<T> | undefined> {
    const stored = await this.#store.get(key);
    if (stored === undefined) {
      this.#cache.delete(key);
      return undefined;
    }
    const version = { value: this.#codec.parse(stored.body, key), etag: stored.etag, body: stored.body, versionId: stored.versionId };
    this.#cache.set(key, version);
    return version;
  }

  /** Remembers a version written outside the engine (a create), as the starting point of the next change. */
  remember(key: string, version: StoredVersion<T>): void {
    this.#cache.set(key, version);
  }

  /**
   * Applies `change` to the object at `key` by compare-and-swap. A write
   * whose answer was lost is recognised on the next read (the current body
   * is the one written, or `landedAfter` says so) and counts as done.
   * @throws what `missing`, `mismatch` and `exhausted` make; the last
   *   `StoreFault` when the attempts ran out on store faults; refusals of
   *   `change` as thrown.
   */
  async swap(request: SwapRequest<T>): Promise<SwapResult<T>> {
    const { key, ifMatch, change } = request;
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.#policy;
    let remembered = this.#cache.get(key);
    if (remembered !== undefined && ifMatch !== undefined && !sameEtag(remembered.etag, ifMatch)) remembered = undefined;
    let attempts = 0;
    let conflicts = 0;
    let lastWrite: { body: string; baseEtag: string; failure: ConditionNotMet | StoreFault } | undefined;

    for (;;) {
      const fromMemory = remembered !== undefined;
      const current = remembered ?? (await this.read(key));
      remembered = undefined;
      if (current === undefined) throw request.missing();

      const landed =
        lastWrite !== undefined && (current.body === lastWrite.body || (await request.landedAfter?.(lastWrite.baseEtag, lastWrite.body)));
      if (landed) {
        // A write reported as failed had in fact landed (its answer was lost and a retry collided with it).
        this.#cache.set(key, current);
        return { value: current.value, etag: current.etag, changed: true, attempts, conflicts };
      }
      if (ifMatch !== undefined && !sameEtag(current.etag, ifMatch)) throw request.mismatch(ifMatch);

      let next: T | undefined;
      try {
        next = await change(current.value);
      } catch (refusal) {
        if (fromMemory) continue;
        throw refusal;
      }
      if (next === undefined) {
        if (fromMemory) continue;
        return { value: current.value, etag: current.etag, changed: false, attempts, conflicts };
      }

      if (attempts >= maxAttempts) throw lastWrite?.failure instanceof StoreFault ? lastWrite.failure : request.exhausted(attempts);
      attempts++;
      const body = this.#codec.serialise(next);
      try {
        const etag = await this.#store.put(key, body, { ifMatch: current.etag }, this.#codec.writeOptions?.(next));
        this.#cache.set(key, { value: next, etag, body });
        return { value: next, etag, changed: true, attempts, conflicts, replaced: current };
      } catch (error) {
        if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
        this.#cache.delete(key);
        lastWrite = { body, baseEtag: current.etag, failure: error };
        if (error instanceof ConditionNotMet) conflicts++;
      }
      // A remembered version that lost costs no wait: the next attempt reads the current one.
      if (!fromMemory) await this.#clock.sleep(fullJitterDelay(attempts, baseDelayMs, maxDelayMs, () => this.#clock.random()));
    }
  }
}
