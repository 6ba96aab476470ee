/** Writers finishing jobs of one session at once, and what must then be stored: shared by the suites of each store. */
import { expect } from 'vitest';
import type { ServiceConfig } from '#lib/domain/config.ts';
import { ConflictRetry } from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { countJobs, type JobCounts, type JobOutcome, type JobState } from '#lib/domain/job-outcome.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { type ObjectStore, StoreFault } from '#lib/storage/port.ts';

function repositoryOver(store: ObjectStore, config: Partial<ServiceConfig> = {}) {
  return new SessionRepository({ renewals: new MemoryObjectStore(), store, config: { casBaseDelayMs: 1, casMaxDelayMs: 20, ...config } });
}

async function storedSession(store: ObjectStore, id: string): Promise<Record<string, unknown>> {
  return JSON.parse((await store.get(sessionKey(id)))!.body);
}

const counts = (partial: Partial<JobCounts>): JobCounts => ({ total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, ...partial });

/** 16 writers, each one repository (as one Lambda instance or process), finishing jobs of their own in one session. */
export async function finishConcurrently(
  store: ObjectStore,
  jobsPerWriter: number,
): Promise<{ stored: Record<string, unknown>; retries: number }> {
  const { session } = await repositoryOver(store).createSession({ name: 'contention' });
  let retries = 0;
  const states: JobState[] = ['succeeded', 'failed', 'cancelled'];
  const writer = async (w: number) => {
    const repository = repositoryOver(store, { casMaxAttempts: 8 });
    for (let j = 0; j < jobsPerWriter; j++) {
      for (const state of ['running', states[(w + j) % 3]!] as JobState[]) {
        for (;;) {
          try {
            await repository.addJob(session.id, `w${w}-j${j}`, state === 'running' ? { state } : { state, exitCode: w });
            break;
          } catch (error) {
            // Ceph RGW answers some concurrent conditional writes with 500 (a StoreFault): a report is safe to repeat.
            if (!(error instanceof ConflictRetry || error instanceof StoreFault)) throw error;
            retries++;
          }
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
  return { stored: await storedSession(store, session.id), retries };
}

export function expectEveryOutcomeOnce(stored: Record<string, unknown>, jobsPerWriter: number): void {
  const jobIds = stored.job_ids as string[];
  const jobs = stored.jobs as Record<string, JobOutcome>;
  const total = 16 * jobsPerWriter;
  expect(jobIds).toHaveLength(total);
  expect(new Set(jobIds).size).toBe(total);
  expect(Object.keys(jobs).sort()).toEqual([...jobIds].sort());
  const expected = counts({ total });
  for (let w = 0; w < 16; w++) {
    for (let j = 0; j < jobsPerWriter; j++) {
      const state = (['succeeded', 'failed', 'cancelled'] as const)[(w + j) % 3]!;
      expected[state]++;
      expect(jobs[`w${w}-j${j}`]).toMatchObject({ state, exit_code: w });
    }
  }
  expect(stored.job_counts).toEqual(expected);
  expect(stored.job_counts).toEqual(countJobs(jobIds, jobs));
}
