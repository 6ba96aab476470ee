import type { ObjectStore } from '#lib/storage/port.ts';

/** A store seen through {@link trackRoundTrips}, and its count. */
export interface TrackedStore<T extends ObjectStore> {
  /** Behaves as the store it wraps, with every operation it has (the version operations too, when it keeps versions). */
  store: T;
  /** Sequential round trips since the store was wrapped. */
  roundTrips(): number;
}

/**
 * Counts the sequential round trips made to `inner`: a call that starts while
 * no other call is in flight opens a new round trip; calls started while one
 * is in flight (a `Promise.all` of reads) share it. With a fixed latency per
 * request, an operation takes round trips × latency. Every method of `inner`
 * is passed through, so the repository sees the same capabilities it would
 * see on the store itself.
 */
export function trackRoundTrips<T extends ObjectStore>(inner: T): TrackedStore<T> {
  let inFlight = 0;
  let roundTrips = 0;
  const store = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (inFlight === 0) roundTrips++;
        inFlight++;
        try {
          return await (value as (...parameters: unknown[]) => unknown).apply(target, args);
        } finally {
          inFlight--;
        }
      };
    },
  });
  return { store, roundTrips: () => roundTrips };
}
