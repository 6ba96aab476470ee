import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sessionEventView } from '#lib/domain/events.ts';
import { hasJob, type JobOutcomes, jobListJson, outcomesJson, sessionJson, withJob, withOutcome } from '#lib/domain/job-list.ts';
import { JOB_STATES } from '#lib/domain/job-outcome.ts';
import type { Session } from '#lib/domain/session.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const NOW = 1_796_000_000;

/** Labels a job or holder may be, with the characters that could confuse a cut of the JSON. */
const label = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.constantFrom('],"created_at":', '"job_ids":[', '\\', '\\"', '"', ']', '[', ',', 'ü', '🚀'),
);

const session = fc.record({
  jobs: fc.uniqueArray(label, { maxLength: 20 }),
  name: fc.option(label, { nil: null }),
  status: fc.constantFrom('active', 'paused', 'completed', 'terminated'),
  lease: fc.option(
    fc.record({ holder: label, epoch: fc.integer({ min: 1, max: 9 }), seconds: fc.constant(60), expires_at: fc.constant(NOW) }),
    {
      nil: undefined,
    },
  ),
  updatedBy: fc.option(label, { nil: undefined }),
});

type Fields = typeof session extends fc.Arbitrary<infer T> ? T : never;

function build({ jobs, name, status, lease, updatedBy }: Fields): Session {
  return {
    id: ID,
    name,
    job_ids: jobs,
    created_at: NOW,
    updated_at: NOW,
    status,
    ...(lease === undefined ? {} : { lease }),
    ...(updatedBy === undefined ? {} : { updated_by: updatedBy }),
  };
}

describe('job lists grown by appends', () => {
  it('answers membership and JSON exactly as includes and JSON.stringify would, along any line of appends and forks (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(label, fc.nat(3)), { maxLength: 60 }), (steps) => {
        // Lists kept alive at once: appends continue from any of them, as a retry on an older version would.
        const lists: string[][] = [[]];
        for (const [job, from] of steps) {
          const base = lists[from % lists.length]!;
          for (const list of lists) for (const probe of [job, ...list.slice(0, 3)]) expect(hasJob(list, probe)).toBe(list.includes(probe));
          if (!hasJob(base, job)) lists.push(withJob(base, job));
        }
        for (const list of lists) {
          expect(jobListJson(list)).toBe(JSON.stringify(list));
          for (const job of list) expect(hasJob(list, job)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves the list it grows from as it was', () => {
    const before = withJob(withJob([], 'a'), 'b');
    const after = withJob(before, 'c');
    expect(before).toEqual(['a', 'b']);
    expect(after).toEqual(['a', 'b', 'c']);
    expect(hasJob(before, 'c')).toBe(false);
    expect(hasJob(after, 'c')).toBe(true);
  });

  it('serialises a session exactly as JSON.stringify does (property)', () => {
    fc.assert(
      fc.property(session, (fields) => {
        const value = build(fields);
        expect(sessionJson(value)).toBe(JSON.stringify(value));
        let grown = value;
        for (const job of ['x', 'y']) {
          if (!hasJob(grown.job_ids, job)) grown = { ...grown, job_ids: withJob(grown.job_ids, job) };
          expect(sessionJson(grown)).toBe(JSON.stringify(grown));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the view of a stored session that events read', () => {
  it('is the session without its jobs, whatever the jobs, name and holder hold (property)', () => {
    fc.assert(
      fc.property(session, (fields) => {
        const value = build(fields);
        expect(sessionEventView(JSON.stringify(value))).toEqual({ ...value, job_ids: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('parses a body of another layout whole, and refuses one that is no session', () => {
    const reordered = { job_ids: ['a'], id: ID, name: null, status: 'active', created_at: NOW, updated_at: NOW };
    expect(sessionEventView(JSON.stringify(reordered))).toEqual(reordered);
    expect(sessionEventView('{"id":"x"}')).toBeInstanceOf(Error);
    expect(sessionEventView('not json')).toBeInstanceOf(Error);
  });
});

/** Job IDs an outcome may be recorded for: array indices (which an object lists first, ascending), and the confusing ones. */
const outcomeJob = fc.oneof(
  label,
  fc.nat(40).map(String),
  fc.constantFrom('4294967294', '4294967295', '01', '__proto__', 'constructor', '},"job_counts":{"total":', ',"jobs":{'),
);

const jobOutcome = fc.record({
  state: fc.constantFrom(...JOB_STATES),
  exit_code: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: null }),
  signal: fc.option(fc.constantFrom('SIGKILL', 'SIGTERM'), { nil: null }),
  started_at: fc.constant(NOW),
  finished_at: fc.option(fc.constant(NOW + 1), { nil: null }),
});

describe('outcomes recorded one at a time', () => {
  it('serialise exactly as JSON.stringify would, along any line of recordings and forks (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(outcomeJob, jobOutcome, fc.nat(3)), { maxLength: 60 }), (steps) => {
        // Outcome objects kept alive at once: recordings continue from any of them, as a retry on an older version would.
        const lines: JobOutcomes[] = [{}];
        for (const [job, outcome, from] of steps) lines.push(withOutcome(lines[from % lines.length], job, outcome));
        for (const jobs of lines) {
          const json = outcomesJson(jobs);
          expect(json).toBe(JSON.stringify(jobs));
          // The keys in the order a plain object holds them: array indices first, ascending.
          expect(JSON.stringify(JSON.parse(json))).toBe(json);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leave the outcomes they grow from as they were', () => {
    const before = withOutcome(undefined, 'a', { state: 'running', exit_code: null, signal: null, started_at: NOW, finished_at: null });
    const after = withOutcome(before, 'a', { state: 'failed', exit_code: 1, signal: null, started_at: NOW, finished_at: NOW });
    expect(before.a?.state).toBe('running');
    expect(() => Object.assign(after, { b: before.a })).toThrow(TypeError);
    expect(after.a?.state).toBe('failed');
    expect(outcomesJson(before)).toBe(JSON.stringify(before));
    expect(outcomesJson(after)).toBe(JSON.stringify(after));
  });

  it('encode only the outcome recorded, not the thousands before it', () => {
    let encoded = 0;
    /** An outcome that counts how often it is encoded. */
    const counted = (n: number) =>
      Object.assign({ state: 'failed', exit_code: n, signal: null, started_at: NOW, finished_at: NOW } as const, {
        toJSON() {
          encoded++;
          return { state: 'failed', exit_code: n, signal: null, started_at: NOW, finished_at: NOW };
        },
      });
    let jobs = withOutcome(undefined, 'build-0', counted(0));
    const value: Session = { id: ID, name: null, job_ids: ['build-0'], created_at: NOW, updated_at: NOW, status: 'active', jobs };
    sessionJson(value);
    for (let n = 1; n < 10_000; n++) jobs = withOutcome(jobs, `build-${n}`, counted(n));
    encoded = 0;

    jobs = withOutcome(jobs, 'build-10000', counted(10_000));
    jobs = withOutcome(jobs, 'build-5', counted(5));
    const json = sessionJson({ ...value, jobs });

    expect(encoded).toBe(2);
    expect(JSON.parse(json).jobs['build-5'].exit_code).toBe(5);
    expect(Object.keys(JSON.parse(json).jobs)).toHaveLength(10_001);
  });

  it('are cut out of the view events read, whatever the job IDs, which keeps the counts and the last outcomes (property)', () => {
    fc.assert(
      fc.property(session, fc.array(fc.tuple(outcomeJob, jobOutcome), { minLength: 1, maxLength: 10 }), (fields, recorded) => {
        let jobs: JobOutcomes = {};
        for (const [job, outcome] of recorded) jobs = withOutcome(jobs, job, outcome);
        const [lastJob, lastOutcome] = recorded.at(-1)!;
        const counts = { total: 1, running: 0, succeeded: 0, failed: 1, cancelled: 0 };
        const lastJobs = withOutcome(undefined, lastJob, lastOutcome);
        const value = { ...build(fields), jobs, job_counts: counts, last_jobs: lastJobs } as Session;

        expect(sessionEventView(sessionJson(value))).toEqual({ ...value, job_ids: [], jobs: {} });
      }),
      { numRuns: 300 },
    );
  });
});
