import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FaultInjectingStore, faultSchedule, injectFaults, type StoreCall, seededFaults } from '#lib/storage/faulty.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { ConditionNotMet, keepsVersions, type ObjectStore, StoreFault } from '#lib/storage/port.ts';
import { describeObjectStoreConformance, describeVersionedStoreConformance, md5Etag } from './conformance.ts';

// Latency alone changes no answer: the wrapped store still conforms, with its races interleaved by the delays.
describeObjectStoreConformance('FaultInjectingStore with seeded latency over MemoryObjectStore', async () => ({
  store: injectFaults(new MemoryObjectStore(), { policy: seededFaults({ seed: 7, maxDelayMs: 1 }) }),
  cleanup: async () => {},
}));

describeVersionedStoreConformance(
  'FaultInjectingStore with seeded latency over MemoryObjectStore',
  async () => ({
    store: injectFaults(new MemoryObjectStore(), { policy: seededFaults({ seed: 11, maxDelayMs: 1 }) }),
    cleanup: async () => {},
  }),
  { conditionalWrites: true },
);

/** A store with only the three plain operations. */
function plainStore(inner = new MemoryObjectStore()): ObjectStore {
  return {
    get: (key) => inner.get(key),
    put: (key, body, condition) => inner.put(key, body, condition),
    list: (prefix, options) => inner.list(prefix, options),
  };
}

describe('FaultInjectingStore', () => {
  it('keeps versions exactly when the store it wraps does', () => {
    expect(keepsVersions(injectFaults(new MemoryObjectStore()))).toBe(true);
    expect(keepsVersions(injectFaults(plainStore()))).toBe(false);
  });

  it('a lost answer: the write lands, the call fails with StoreFault, and the fault is recorded', async () => {
    const inner = new MemoryObjectStore();
    const store = injectFaults(inner, { policy: faultSchedule([{ operation: 'write', nth: 2, kind: 'lost-answer' }]) });
    const etag = await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });

    const lost = store.put('sessions/a.json', 'v2', { ifMatch: etag });

    await expect(lost).rejects.toBeInstanceOf(StoreFault);
    expect(await inner.get('sessions/a.json')).toEqual({ body: 'v2', etag: md5Etag('v2') });
    expect(store.injected).toEqual([{ operation: 'put', key: 'sessions/a.json', nth: 2, kind: 'lost-answer' }]);
  });

  it('a failure before the write: StoreFault and nothing written, then the next call goes through', async () => {
    const inner = new MemoryObjectStore();
    const store = injectFaults(inner, {
      policy: faultSchedule([{ operation: 'putVersion', key: 'sessions/b.json', nth: 1, kind: 'unavailable' }]),
    });
    await store.putVersion('sessions/a.json', 'other key', { ifNoneMatch: '*' });

    const failed = store.putVersion('sessions/b.json', 'v1', { ifNoneMatch: '*' });

    await expect(failed).rejects.toBeInstanceOf(StoreFault);
    expect(await inner.listVersions('sessions/b.json', { limit: 10 })).toEqual({ versions: [] });
    expect((await store.putVersion('sessions/b.json', 'v1', { ifNoneMatch: '*' })).etag).toBe(md5Etag('v1'));
  });

  it('passes the store’s own refusals through unchanged', async () => {
    const store = injectFaults(new MemoryObjectStore(), { policy: faultSchedule([{ operation: 'get', nth: 1, delayMs: 5 }]) });
    await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });

    await expect(store.put('sessions/a.json', 'v2', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ConditionNotMet);
  });

  it('waits out a delay before the call reaches the store', async () => {
    const slept: number[] = [];
    const inner = new MemoryObjectStore();
    let release!: () => void;
    const store = new FaultInjectingStore(inner, {
      policy: faultSchedule([{ operation: 'put', nth: 1, delayMs: 40 }]),
      sleep: async (ms) => {
        slept.push(ms);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });

    const write = store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });
    await new Promise((resolve) => setImmediate(resolve));
    const beforeRelease = await inner.get('sessions/a.json');
    release();
    await write;

    expect(slept).toEqual([40]);
    expect(beforeRelease).toBeUndefined();
    expect((await inner.get('sessions/a.json'))?.body).toBe('v1');
  });

  it('draws the same faults from the same seed and calls, and other faults from another seed', () => {
    const calls: StoreCall[] = Array.from({ length: 200 }, (_, n) => ({
      operation: n % 3 === 0 ? 'get' : 'put',
      key: `k${n % 7}`,
      nth: n + 1,
    }));
    const draw = (seed: number) => {
      const policy = seededFaults({ seed, unavailable: 0.2, lostAnswer: 0.2, maxDelayMs: 3 });
      return calls.map((call) => policy(call));
    };

    const first = draw(42);

    expect(draw(42)).toEqual(first);
    expect(draw(43)).not.toEqual(first);
    expect(first.some((fault) => fault?.kind === 'unavailable')).toBe(true);
    expect(first.some((fault) => fault?.kind === 'lost-answer')).toBe(true);
    expect(first.filter((fault, n) => fault?.kind === 'lost-answer' && calls[n]!.operation === 'get')).toEqual([]);
    expect(first.every((fault) => (fault?.delayMs ?? 0) <= 3)).toBe(true);
  });

  it('with any seed, an append by compare-and-swap that retries refusals and failures stores each entry exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 4 }), async (seed, writers) => {
        const inner = new MemoryObjectStore();
        await inner.put('sessions/log.json', '[]', { ifNoneMatch: '*' });
        const store = injectFaults(inner, { policy: seededFaults({ seed, unavailable: 0.2, lostAnswer: 0.2, maxDelayMs: 1 }) });
        const entries = Array.from({ length: writers }, (_, w) => Array.from({ length: 5 }, (_, n) => `w${w}-${n}`));

        await Promise.all(
          entries.map(async (mine) => {
            for (const entry of mine) await appendOnce(store, 'sessions/log.json', entry);
          }),
        );

        const stored = JSON.parse((await inner.get('sessions/log.json'))!.body) as string[];
        expect([...stored].sort()).toEqual(entries.flat().sort());
      }),
      { numRuns: 30 },
    );
  });
});

/** Appends `entry` to the JSON array at `key`, retrying; an entry already there means a write whose answer was lost landed. */
async function appendOnce(store: ObjectStore, key: string, entry: string): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    try {
      const current = (await store.get(key))!;
      const stored = JSON.parse(current.body) as string[];
      if (stored.includes(entry)) return;
      await store.put(key, JSON.stringify([...stored, entry]), { ifMatch: current.etag });
      return;
    } catch (error) {
      if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
    }
  }
  throw new Error(`gave up appending ${entry}`);
}
