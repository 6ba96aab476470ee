import { beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '#lib/common/clock.ts';
import { type Codec, CompareAndSwap, type SwapRequest } from '#lib/storage/compare-and-swap.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { ConditionNotMet, StoreFault, type WriteCondition } from '#lib/storage/port.ts';

/** A value of no particular domain: what the engine must work with without knowing it. */
interface Counter {
  n: number;
}

const COUNTER_CODEC: Codec<Counter> = {
  parse(body, key) {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null || typeof (value as Counter).n !== 'number') throw new Error(`${key} is not a counter`);
    return value as Counter;
  },
  serialise: (value) => JSON.stringify(value),
};

const KEY = 'counters/a.json';
const POLICY = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 25 };

class Missing extends Error {}
class Mismatch extends Error {}
class Exhausted extends Error {}

/** What a put does before (or instead of) the store's own: pass it on, or fail in one of the ways the port allows. */
type PutStep = 'pass' | 'refuse' | 'fault' | 'land-then-fault' | 'other-writer-first';

/** The in-memory store, with puts scripted one step at a time and every call counted. */
class ScriptedStore extends MemoryObjectStore {
  readonly steps: PutStep[] = [];
  readonly puts: Array<{ body: string; condition: WriteCondition }> = [];
  gets = 0;

  override async get(key: string) {
    this.gets++;
    return super.get(key);
  }

  /** Stores `body` at `key` whatever is there, as another writer would have; returns its ETag. */
  async seed(key: string, body: string): Promise<string> {
    const current = await super.get(key);
    return super.put(key, body, current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag });
  }

  override async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    this.puts.push({ body, condition });
    switch (this.steps.shift() ?? 'pass') {
      case 'pass':
        return super.put(key, body, condition);
      case 'refuse':
        throw new ConditionNotMet(key);
      case 'fault':
        throw new StoreFault(`put ${key}: SlowDown`);
      case 'land-then-fault':
        await super.put(key, body, condition);
        throw new StoreFault(`put ${key}: answer lost`);
      case 'other-writer-first':
        await this.seed(key, JSON.stringify({ n: 100 }));
        return super.put(key, body, condition);
    }
  }
}

let store: ScriptedStore;
let sleeps: number[];
let clock: Clock;

function engine(cacheSize = 0): CompareAndSwap<Counter> {
  return new CompareAndSwap({ store, codec: COUNTER_CODEC, policy: POLICY, clock, cacheSize });
}

function increment(overrides: Partial<SwapRequest<Counter>> = {}): SwapRequest<Counter> {
  return {
    key: KEY,
    change: (counter) => ({ n: counter.n + 1 }),
    missing: () => new Missing(),
    mismatch: (ifMatch) => new Mismatch(ifMatch),
    exhausted: (attempts) => new Exhausted(String(attempts)),
    ...overrides,
  };
}

async function stored(): Promise<Counter | undefined> {
  const object = await MemoryObjectStore.prototype.get.call(store, KEY);
  return object === undefined ? undefined : COUNTER_CODEC.parse(object.body, KEY);
}

beforeEach(() => {
  store = new ScriptedStore();
  sleeps = [];
  clock = { now: () => 0, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) };
});

describe('a compare-and-swap', () => {
  it('reads, applies the change and writes it If-Match the version read', async () => {
    const etag = await store.seed(KEY, JSON.stringify({ n: 1 }));

    const result = await engine().swap(increment());

    expect(result).toEqual({
      value: { n: 2 },
      etag: expect.any(String),
      changed: true,
      attempts: 1,
      conflicts: 0,
      replaced: { value: { n: 1 }, etag, body: '{"n":1}' },
    });
    expect(store.puts).toEqual([{ body: '{"n":2}', condition: { ifMatch: etag } }]);
    expect(await stored()).toEqual({ n: 2 });
    expect(sleeps).toEqual([]);
  });

  it('writes nothing when the change is already in place', async () => {
    const etag = await store.seed(KEY, JSON.stringify({ n: 1 }));

    const result = await engine().swap(increment({ change: () => undefined }));

    expect(result).toEqual({ value: { n: 1 }, etag, changed: false, attempts: 0, conflicts: 0 });
    expect(store.puts).toEqual([]);
  });

  it('passes a refusal of the change on, without writing', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    const refusal = new RangeError('no more');

    await expect(
      engine().swap(
        increment({
          change: () => {
            throw refusal;
          },
        }),
      ),
    ).rejects.toBe(refusal);
    expect(store.puts).toEqual([]);
  });

  it('throws what `missing` makes when there is no object', async () => {
    await expect(engine().swap(increment())).rejects.toBeInstanceOf(Missing);
    expect(store.puts).toEqual([]);
  });

  it('passes a body the codec refuses on, and any error of the store that is neither refusal nor fault', async () => {
    await store.seed(KEY, 'not json at all');
    await expect(engine().swap(increment())).rejects.toBeInstanceOf(SyntaxError);

    await store.seed(KEY, JSON.stringify({ n: 1 }));
    const denied = new Error('AccessDenied');
    store.put = async () => {
      throw denied;
    };
    await expect(engine().swap(increment())).rejects.toBe(denied);
  });
});

describe('conflicts and exhaustion', () => {
  it('after losing to another writer, backs off, reads again and applies the change to the winner', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('other-writer-first');

    const result = await engine().swap(increment());

    expect(result).toMatchObject({ value: { n: 101 }, changed: true, attempts: 2, conflicts: 1 });
    expect(await stored()).toEqual({ n: 101 });
    // Full jitter: random() × the first ceiling (baseDelayMs).
    expect(sleeps).toEqual([5]);
  });

  it('gives up with what `exhausted` makes after maxAttempts writes, the ceilings doubling up to maxDelayMs', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('refuse', 'refuse', 'refuse', 'refuse', 'refuse');
    clock.random = () => 0.999;

    const error = await engine()
      .swap(increment())
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Exhausted);
    expect((error as Exhausted).message).toBe('4');
    expect(store.puts).toHaveLength(POLICY.maxAttempts);
    expect(sleeps).toEqual([9, 19, 24, 24]);
    expect(await stored()).toEqual({ n: 1 });
  });

  it('gives up with the last store fault, unchanged, when the attempts ran out on faults', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('refuse', 'fault', 'fault', 'fault');

    const error = await engine()
      .swap(increment())
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreFault);
    expect((error as StoreFault).message).toBe(`put ${KEY}: SlowDown`);
    expect(store.puts).toHaveLength(POLICY.maxAttempts);
  });

  it('counts only refused writes as conflicts', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('fault', 'refuse');

    const result = await engine().swap(increment());

    expect(result).toMatchObject({ value: { n: 2 }, attempts: 3, conflicts: 1 });
  });
});

describe('lost answers', () => {
  it('counts a write that landed with its answer lost as done: the next read shows its body', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('land-then-fault');

    const result = await engine().swap(increment());

    expect(result).toMatchObject({ value: { n: 2 }, changed: true, attempts: 1, conflicts: 0 });
    expect(store.puts).toHaveLength(1);
    expect(await stored()).toEqual({ n: 2 });
  });

  it('asks `landedAfter` when others wrote after the lost write, and does not apply the change again', async () => {
    const base = await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('land-then-fault');
    const asked: Array<[string, string]> = [];
    const original = store.put.bind(store);
    store.put = async (key, body, condition) => {
      try {
        return await original(key, body, condition);
      } finally {
        await store.seed(KEY, JSON.stringify({ n: 50 }));
      }
    };

    const result = await engine().swap(
      increment({
        landedAfter: async (baseEtag, body) => {
          asked.push([baseEtag, body]);
          return true;
        },
      }),
    );

    expect(asked).toEqual([[base, '{"n":2}']]);
    expect(result).toMatchObject({ value: { n: 50 }, changed: true, attempts: 1 });
    expect(store.puts).toHaveLength(1);
  });

  it('tries again a failed write that did not land', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('fault');

    const result = await engine().swap(increment());

    expect(result).toMatchObject({ value: { n: 2 }, attempts: 2 });
  });
});

describe('the warm-version cache', () => {
  it('starts the next change from the version it wrote, without a read', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    const cas = engine(10);
    await cas.swap(increment());
    const reads = store.gets;

    const result = await cas.swap(increment());

    expect(result).toMatchObject({ value: { n: 3 }, attempts: 1 });
    expect(store.gets).toBe(reads);
  });

  it('when the remembered version is stale, the refused write costs no wait and the change goes on from a fresh read', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    const cas = engine(10);
    await cas.swap(increment());
    await store.seed(KEY, JSON.stringify({ n: 40 }));

    const result = await cas.swap(increment());

    expect(result).toMatchObject({ value: { n: 41 }, changed: true, attempts: 2, conflicts: 1 });
    expect(sleeps).toEqual([]);
  });

  it.each([
    [
      'a refusal',
      (counter: Counter) => {
        if (counter.n < 10) throw new RangeError('too small');
        return { n: counter.n + 1 };
      },
    ],
    ['a no-op', (counter: Counter) => (counter.n < 10 ? undefined : { n: counter.n + 1 })],
  ])('confirms %s based on the remembered version against a fresh read', async (_, change) => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));
    const cas = engine(10);
    await cas.read(KEY);
    await store.seed(KEY, JSON.stringify({ n: 10 }));

    const result = await cas.swap(increment({ change }));

    expect(result).toMatchObject({ value: { n: 11 }, changed: true, attempts: 1 });
  });

  it('starts from a version remembered with `remember`', async () => {
    const cas = engine(10);
    const etag = await store.put(KEY, '{"n":7}', { ifNoneMatch: '*' });
    cas.remember(KEY, { value: { n: 7 }, etag, body: '{"n":7}' });
    const reads = store.gets;

    expect(await cas.swap(increment())).toMatchObject({ value: { n: 8 } });
    expect(store.gets).toBe(reads);
  });
});

describe("the caller's If-Match", () => {
  it('throws what `mismatch` makes when the current version is another, and writes nothing', async () => {
    await store.seed(KEY, JSON.stringify({ n: 1 }));

    const error = await engine()
      .swap(increment({ ifMatch: '"m0"' }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Mismatch);
    expect((error as Mismatch).message).toBe('"m0"');
    expect(store.puts).toEqual([]);
  });

  it('applies the change to the named version, however it is quoted', async () => {
    const etag = await store.seed(KEY, JSON.stringify({ n: 1 }));

    const result = await engine().swap(increment({ ifMatch: etag.replaceAll('"', '') }));

    expect(result).toMatchObject({ value: { n: 2 }, changed: true });
    expect(store.puts[0]!.condition).toEqual({ ifMatch: etag });
  });

  it('does not start from a remembered version other than the one named: it reads, and refuses if that is not current', async () => {
    const first = await store.seed(KEY, JSON.stringify({ n: 1 }));
    const cas = engine(10);
    await cas.swap(increment());
    const reads = store.gets;

    await expect(cas.swap(increment({ ifMatch: first }))).rejects.toBeInstanceOf(Mismatch);
    expect(store.gets).toBe(reads + 1);
  });

  it('gives up on a lost race under If-Match with `mismatch`, not by overwriting the other writer', async () => {
    const etag = await store.seed(KEY, JSON.stringify({ n: 1 }));
    store.steps.push('other-writer-first');

    await expect(engine().swap(increment({ ifMatch: etag }))).rejects.toBeInstanceOf(Mismatch);
    expect(await stored()).toEqual({ n: 100 });
  });
});
