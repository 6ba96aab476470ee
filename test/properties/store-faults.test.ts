import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '#lib/domain/errors.ts';
import { serviceErrorOf } from '#lib/http/outcome.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { injectFaults, seededFaults } from '#lib/storage/faulty.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { sessionProblem } from './contract.ts';

const T0 = Date.UTC(2026, 0, 1);
const RUNS = 40;

/** Calls `operation` until it answers something the HTTP API would not send as a retryable 503, as a client honouring 503 would. */
async function untilNotRetryable<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!(serviceErrorOf(error, 'test') instanceof RetryableError) || attempt >= 200) throw error;
    }
  }
}

describe('the repository on a store that fails, loses answers and lags, by any seed', () => {
  it(`stores every job added by racing writers exactly once, in each writer's order, when clients retry every 503 (${RUNS} runs)`, async () => {
    const injected = { unavailable: 0, 'lost-answer': 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        // Never exactly zero (fast-check favours the bounds): every run injects some of both kinds.
        fc.double({ min: 0.02, max: 0.3, noNaN: true }),
        fc.double({ min: 0.02, max: 0.3, noNaN: true }),
        fc.integer({ min: 1, max: 4 }),
        async (seed, unavailable, lostAnswer, writers) => {
          const store = injectFaults(new MemoryObjectStore());
          const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store, clock: () => T0, sleep: async () => {} });
          const { session } = await repository.createSession({ name: 'faults' });
          store.policy = seededFaults({ seed, unavailable, lostAnswer, maxDelayMs: 1 });
          const jobs = Array.from({ length: writers }, (_, w) => Array.from({ length: 6 }, (_, j) => `w${w}-j${j}`));

          await Promise.all(
            jobs.map(async (mine) => {
              for (const job of mine) await untilNotRetryable(() => repository.addJob(session.id, job));
            }),
          );

          store.policy = () => undefined;
          for (const fault of store.injected) if (fault.kind !== undefined) injected[fault.kind]++;
          const stored = (await repository.getSession(session.id)).session;
          expect(sessionProblem(stored)).toBeUndefined();
          expect([...stored.job_ids].sort()).toEqual(jobs.flat().sort());
          for (const [w, mine] of jobs.entries()) expect(stored.job_ids.filter((job) => job.startsWith(`w${w}-`))).toEqual(mine);
        },
      ),
      { numRuns: RUNS },
    );

    expect(injected.unavailable, 'failures injected over all runs').toBeGreaterThan(0);
    expect(injected['lost-answer'], 'lost answers injected over all runs').toBeGreaterThan(0);
  });
});
