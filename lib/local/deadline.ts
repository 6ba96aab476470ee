import { AsyncLocalStorage } from 'node:async_hooks';
import { StorageUnavailable } from '../domain/errors.ts';
import { type ObjectStore, StoreFault } from '../storage/port.ts';

/** The store calls that take a key's write lock. */
const WRITES = new Set<string | symbol>(['put', 'putVersion', 'delete']);

/** The deadline (epoch ms) of the request being served, for the store calls made on its behalf. */
const requestDeadline = new AsyncLocalStorage<number>();

/** Runs `serve` as the request due by `deadline` (epoch ms): store calls made meanwhile see that deadline. */
export function withRequestDeadline<T>(deadline: number, serve: () => Promise<T>): Promise<T> {
  return requestDeadline.run(deadline, serve);
}

/**
 * `store`, refusing to start a write when the current request's deadline is
 * nearer than `reserveMs`: a write may wait that long for its key's lock (a
 * file lock held by a stuck process), and the request must still answer 503
 * `storage_unavailable` before its deadline rather than be cut off as a 500;
 * the refusal is that answer (`StorageUnavailable`), which nothing retries.
 * Calls outside a request (start-up, sweeps) are not bounded. Every method is
 * forwarded to `store` itself, so optional capabilities (versions, pruning)
 * are kept as they are.
 */
export function deadlineBoundStore<S extends ObjectStore>(
  store: S,
  { reserveMs, now = Date.now }: { reserveMs: number; now?: () => number },
): S {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...parameters: unknown[]) => unknown;
      // Called on the store itself: its private fields are not the proxy's.
      if (!WRITES.has(property)) return method.bind(target);
      return (...args: unknown[]) => {
        const deadline = requestDeadline.getStore();
        if (deadline !== undefined && deadline - now() < reserveMs) {
          const fault = new StoreFault(
            `not starting ${String(property)}: the request deadline is ${Math.max(0, deadline - now())} ms away`,
          );
          // The answer itself, not a StoreFault: the compare-and-swap loop would back off and retry a fault past the deadline.
          return Promise.reject(new StorageUnavailable({ cause: fault }));
        }
        return method.apply(target, args);
      };
    },
  });
}
