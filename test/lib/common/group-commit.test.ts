import { describe, expect, it } from 'vitest';
import { KeyedBatches } from '#lib/common/group-commit.ts';
import { LeaseLost, SessionFull } from '#lib/domain/errors.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { WriteCondition } from '#lib/storage/port.ts';

/** The memory store, counting conditional writes and holding each one for a moment, as a real store's round trip does. */
class SlowStore extends MemoryObjectStore {
  puts = 0;
  override async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    this.puts++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return super.put(key, body, condition);
  }
}

describe('KeyedBatches', () => {
  it('runs a lone item at once, and items arriving meanwhile together in the next batch, per key', async () => {
    const runs: Array<[string, number[]]> = [];
    const batches = new KeyedBatches<number, number>(async (key, items) => {
      runs.push([key, items]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return items.map((item) => (item === 13 ? { error: new Error('unlucky') } : { result: item * 2 }));
    });

    const answers = await Promise.allSettled([1, 2, 3, 13, 4].map((item) => batches.submit('a', item)).concat([batches.submit('b', 9)]));

    expect(runs).toEqual([
      ['a', [1]],
      ['b', [9]],
      ['a', [2, 3, 13, 4]],
    ]);
    expect(answers.map((answer) => (answer.status === 'fulfilled' ? answer.value : String(answer.reason)))).toEqual([
      2,
      4,
      6,
      'Error: unlucky',
      8,
      18,
    ]);
  });

  it('fails every item of a batch whose run throws, and goes on with the next', async () => {
    let calls = 0;
    const batches = new KeyedBatches<number, number>(async (_key, items) => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (calls === 2) throw new Error('store down');
      return items.map((item) => ({ result: item }));
    });

    const answers = await Promise.allSettled([1, 2, 3].map((item) => batches.submit('k', item)));
    const later = await batches.submit('k', 4);

    expect(answers.map((answer) => answer.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(later).toBe(4);
  });
});

describe('group commit of appends to one session in one process', () => {
  it('16 concurrent appends share a few writes, with no conflicts, each stored once', async () => {
    const store = new SlowStore();
    const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store, config: { casBaseDelayMs: 0, casMaxDelayMs: 0 } });
    const { session } = await repository.createSession({ name: 'busy' });
    store.puts = 0;

    const results = await Promise.all(Array.from({ length: 16 }, (_, n) => repository.addJob(session.id, `job-${n}`)));

    expect(results.every((result) => result.conflicts === 0)).toBe(true);
    expect(store.puts).toBeLessThanOrEqual(3);
    expect([...(await repository.getSession(session.id)).session.job_ids].sort()).toEqual(
      Array.from({ length: 16 }, (_, n) => `job-${n}`).sort(),
    );
  });

  it('judges each append of a batch on its own: a stale epoch or a full session refuses that append alone', async () => {
    const store = new SlowStore();
    const repository = new SessionRepository({
      renewals: new MemoryObjectStore(),
      store,
      config: { casBaseDelayMs: 0, casMaxDelayMs: 0, maxJobsPerSession: 3 },
    });
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    const first = repository.addJob(session.id, 'job-0', { leaseEpoch: 1 });

    const rest = await Promise.allSettled([
      repository.addJob(session.id, 'job-1', { leaseEpoch: 1 }),
      repository.addJob(session.id, 'zombie', { leaseEpoch: 0 }),
      repository.addJob(session.id, 'job-2', { leaseEpoch: 1 }),
      repository.addJob(session.id, 'job-1', { leaseEpoch: 1 }),
      repository.addJob(session.id, 'job-3', { leaseEpoch: 1 }),
    ]);
    await first;

    expect(
      rest.map((answer) => (answer.status === 'fulfilled' ? answer.value.changed : (answer.reason as Error).constructor.name)),
    ).toEqual([true, LeaseLost.name, true, false, SessionFull.name]);
    expect((await repository.storedSession(session.id))!.job_ids).toEqual(['job-0', 'job-1', 'job-2']);
  });
});
