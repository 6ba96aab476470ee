import { expect } from 'vitest';
import { ConflictRetry, LeaseLost, StorageUnavailable } from '#lib/domain/errors.ts';
import type { SessionRepository } from '#lib/sessions/repository.ts';
import { StoreFault } from '#lib/storage/port.ts';

/** What the fencing race saw: each answer, and each epoch as it was issued. */
export interface FencingOutcome {
  accepted: Array<{ job: string; epoch: number }>;
  refused: Array<{ job: string; epoch: number }>;
  /** Epoch → number of jobs the session held when that epoch was issued (the acquire's answer). */
  issuedAt: Map<number, number>;
  finalJobs: string[];
}

/**
 * Writers each holding the epoch they were last given append jobs carrying
 * it, while take-overs hand a new epoch to one writer after another. Each
 * writer is its own repository (its own warm cache, as a Lambda instance is);
 * all share the stores. Answers of 503 are retried with the same job, as a
 * client would, until they are definite.
 */
export async function raceTakeOvers(
  instances: SessionRepository[],
  { takeOvers, appendsPerWriter }: { takeOvers: number; appendsPerWriter: number },
): Promise<FencingOutcome> {
  const [first] = instances;
  const { session } = await first!.createSession({ name: 'fencing', leaseSeconds: 600, holder: 'writer-0', actor: 'writer-0' });
  const epochs = instances.map(() => 0);
  epochs[0] = 1;
  const outcome: FencingOutcome = { accepted: [], refused: [], issuedAt: new Map([[1, 0]]), finalJobs: [] };
  let takeOversLeft = takeOvers;
  let takerDone = false;

  const writer = async (index: number) => {
    const repository = instances[index]!;
    // Every writer keeps writing with the epoch it was last given (a zombie keeps its old one) until the take-overs are done.
    for (let n = 0; !takerDone || n < appendsPerWriter; n++) {
      // A busy runner, not a tight loop: a forced take-over must win against it without a storm of conflicts.
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 3));
      const epoch = epochs[index]!;
      if (epoch === 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const job = `w${index}-e${epoch}-n${n}`;
      for (;;) {
        try {
          await repository.addJob(session.id, job, { leaseEpoch: epoch, actor: `writer-${index}` });
          outcome.accepted.push({ job, epoch });
        } catch (error) {
          if (error instanceof LeaseLost) outcome.refused.push({ job, epoch });
          else if (error instanceof ConflictRetry || error instanceof StorageUnavailable || error instanceof StoreFault) continue;
          else throw error;
        }
        break;
      }
    }
  };

  const taker = async () => {
    let next = 1;
    while (takeOversLeft-- > 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      const index = next++ % instances.length;
      for (;;) {
        try {
          const result = await instances[index]!.acquireLease(session.id, {
            holder: `writer-${index}`,
            force: true,
            seconds: 600,
            actor: `writer-${index}`,
          });
          const epoch = result.session.lease!.epoch;
          outcome.issuedAt.set(epoch, result.session.job_ids.length);
          epochs[index] = epoch;
        } catch (error) {
          if (error instanceof ConflictRetry || error instanceof StorageUnavailable || error instanceof StoreFault) continue;
          throw error;
        }
        break;
      }
    }
    takerDone = true;
  };

  await Promise.all([...instances.map((_, index) => writer(index)), taker()]);
  outcome.finalJobs = (await first!.storedSession(session.id))!.job_ids;
  return outcome;
}

/** The fencing property: every accepted append present once, every refused one absent, nothing of epoch e after e+1 was issued. */
export function expectFenced(outcome: FencingOutcome): void {
  const { accepted, refused, issuedAt, finalJobs } = outcome;
  const positions = new Map(finalJobs.map((job, index) => [job, index]));
  expect(new Set(finalJobs).size, 'no job stored twice').toBe(finalJobs.length);
  for (const { job } of accepted) expect(positions.has(job), `accepted ${job} is stored`).toBe(true);
  for (const { job } of refused) expect(positions.has(job), `refused ${job} is not stored`).toBe(false);
  expect(finalJobs.length).toBe(accepted.length);
  for (const { job, epoch } of accepted) {
    const superseded = issuedAt.get(epoch + 1);
    if (superseded !== undefined)
      expect(positions.get(job)!, `${job} landed before epoch ${epoch + 1} was issued`).toBeLessThan(superseded);
  }
  // The race really raced: take-overs happened and some writes of superseded epochs were refused.
  expect(issuedAt.size).toBeGreaterThan(1);
  expect(refused.length).toBeGreaterThan(0);
}
