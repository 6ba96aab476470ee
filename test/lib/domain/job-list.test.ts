import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sessionEventView } from '#lib/domain/events.ts';
import { hasJob, jobListJson, sessionJson, withJob } from '#lib/domain/job-list.ts';
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
