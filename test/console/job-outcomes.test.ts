import { describe, expect, it } from 'vitest';
import type { JobOutcome, Session } from '#lib/console/page/api.ts';
import { countsOf, countsText, durationOf, durationText, exitText, hasOutcomes, keeps } from '#lib/console/page/job-outcomes.ts';
import { changeKind, diffSessions } from '#lib/console/page/versions.ts';

const base: Session = { id: 'f'.repeat(32), name: 'exec', job_ids: ['a', 'b'], created_at: 100, updated_at: 100, status: 'active' };
const outcome = (fields: Partial<JobOutcome>): JobOutcome => ({
  state: 'running',
  exit_code: null,
  signal: null,
  started_at: 1000,
  finished_at: null,
  ...fields,
});

describe('job outcomes', () => {
  it('tells a session with outcomes from one without (an older server, or only bare appends)', () => {
    expect(hasOutcomes(base)).toBe(false);
    expect(hasOutcomes({ ...base, job_counts: { total: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 } })).toBe(false);
    expect(hasOutcomes({ ...base, job_counts: { total: 2, running: 0, succeeded: 0, failed: 1, cancelled: 0 } })).toBe(true);
    expect(hasOutcomes({ ...base, jobs: { a: outcome({}) } })).toBe(true);
  });

  it('says the exit code or the signal, and the duration: finished − started, or since the start while running', () => {
    expect(exitText(outcome({ state: 'failed', exit_code: 2 }))).toBe('2');
    expect(exitText(outcome({ state: 'failed', exit_code: null, signal: 'SIGKILL' }))).toBe('SIGKILL');
    expect(exitText(undefined)).toBe('');
    expect(durationOf(outcome({ state: 'succeeded', finished_at: 1061 }), 5000)).toBe(61);
    expect(durationOf(outcome({}), 1090.7)).toBe(90);
    expect(durationOf(outcome({ state: 'cancelled' }), 5000)).toBeUndefined();
    expect([0, 59, 60, 3599, 3600, 86_399, 90_000].map(durationText)).toEqual([
      '0 s',
      '59 s',
      '1 min 0 s',
      '59 min 59 s',
      '1 h 0 min',
      '23 h 59 min',
      '1 d 1 h',
    ]);
  });

  it('uses the counts the session keeps, and counts `jobs` for an answer without them', () => {
    const kept = { total: 9, running: 1, succeeded: 5, failed: 2, cancelled: 0 };
    expect(countsOf({ ...base, job_counts: kept, jobs: {} })).toBe(kept);
    const counted = countsOf({ ...base, jobs: { a: outcome({ state: 'failed' }), b: outcome({}) } });
    expect(counted).toEqual({ total: 2, running: 1, succeeded: 0, failed: 1, cancelled: 0 });
    expect(countsText(kept)).toBe('9 jobs: 1 running, 5 succeeded, 2 failed');
    expect(countsText({ total: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0 })).toBe('1 job');
  });

  it.each([
    ['', undefined, true],
    ['', outcome({}), true],
    ['failed', outcome({ state: 'failed' }), true],
    ['failed', outcome({ state: 'succeeded' }), false],
    ['failed', undefined, false],
    ['none', undefined, true],
    ['none', outcome({}), false],
  ] as const)('the state filter %j keeps %j: %s', (filter, recorded, kept) => {
    expect(keeps(filter, recorded)).toBe(kept);
  });

  it('names the outcomes a version recorded in its diff, as the history says them, and marks a failure', () => {
    const before: Session = { ...base, jobs: { a: outcome({}) } };
    const after: Session = {
      ...base,
      job_ids: ['a', 'b', 'c'],
      jobs: { a: outcome({ state: 'failed', exit_code: 2, finished_at: 1100 }), c: outcome({ state: 'succeeded', exit_code: 0 }) },
      job_counts: { total: 3, running: 0, succeeded: 1, failed: 1, cancelled: 0 },
    };

    expect(diffSessions(before, after)).toEqual([
      { kind: 'jobs-added', text: '1 job added: c' },
      { kind: 'outcomes', text: 'job a failed (exit 2), job c succeeded' },
    ]);
    expect(diffSessions(after, after)).toEqual([]);
    expect(changeKind('job a failed (exit 2)')).toBe('failed');
    expect(changeKind('job a succeeded')).toBe('jobs');
  });
});
