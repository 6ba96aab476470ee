import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countJobs,
  countsAfter,
  describeOutcome,
  ExitCodeSchema,
  JOB_STATES,
  type JobOutcome,
  type JobReport,
  NO_JOBS,
  planJobChange,
  SignalSchema,
} from '#lib/domain/job-outcome.ts';

const NOW = 1_763_942_400;
const running: JobOutcome = { state: 'running', exit_code: null, signal: null, started_at: NOW - 60, finished_at: null };
const failed: JobOutcome = { state: 'failed', exit_code: 2, signal: null, started_at: NOW - 60, finished_at: NOW - 1 };

describe('planJobChange', () => {
  it('appends a new job bare when no state is reported', () => {
    expect(planJobChange(false, undefined, {}, NOW)).toEqual({ kind: 'append', outcome: undefined });
  });

  it('appends a new job with a final state in one step, started and finished now', () => {
    const change = planJobChange(false, undefined, { state: 'failed', exitCode: 2 }, NOW);

    expect(change).toEqual({
      kind: 'append',
      outcome: { state: 'failed', exit_code: 2, signal: null, started_at: NOW, finished_at: NOW },
    });
  });

  it('appends a running job with no exit code, signal or finish time', () => {
    const change = planJobChange(false, undefined, { state: 'running', exitCode: 3, signal: 'SIGTERM' }, NOW);

    expect(change).toEqual({
      kind: 'append',
      outcome: { state: 'running', exit_code: null, signal: null, started_at: NOW, finished_at: null },
    });
  });

  it('finishes a running job, keeping when it started', () => {
    const change = planJobChange(true, running, { state: 'failed', signal: 'SIGKILL' }, NOW);

    expect(change).toEqual({
      kind: 'record',
      outcome: { state: 'failed', exit_code: null, signal: 'SIGKILL', started_at: NOW - 60, finished_at: NOW },
    });
  });

  it('records a state for a job that was appended bare', () => {
    expect(planJobChange(true, undefined, { state: 'succeeded', exitCode: 0 }, NOW)).toMatchObject({
      kind: 'record',
      outcome: { state: 'succeeded', exit_code: 0, started_at: NOW, finished_at: NOW },
    });
  });

  it.each<[string, boolean, JobOutcome | undefined, JobReport]>([
    ['a bare re-append of a bare job', true, undefined, {}],
    ['a bare re-append of a running job', true, running, {}],
    ['a bare re-append of a finished job', true, failed, {}],
    ['running again for a running job', true, running, { state: 'running' }],
    ['the same final outcome again', true, failed, { state: 'failed', exitCode: 2 }],
  ])('changes nothing for %s', (_, present, recorded, report) => {
    expect(planJobChange(present, recorded, report, NOW)).toEqual({ kind: 'unchanged' });
  });

  it.each<[string, JobReport]>([
    ['another final state', { state: 'succeeded', exitCode: 0 }],
    ['the same state with another exit code', { state: 'failed', exitCode: 3 }],
    ['the same state with a signal', { state: 'failed', exitCode: 2, signal: 'SIGTERM' }],
    ['running again', { state: 'running' }],
  ])('refuses %s for a finished job, naming the recorded outcome', (_, report) => {
    expect(planJobChange(true, failed, report, NOW)).toEqual({ kind: 'finished', recorded: failed });
  });
});

describe('job counts', () => {
  it('recounts a session stored before outcomes: every job counted, none in a state', () => {
    expect(countJobs(['a', 'b', 'c'], undefined)).toEqual({ ...NO_JOBS, total: 3 });
  });

  it('stay equal to a recount under any sequence of reports', () => {
    const report = fc.record({
      job: fc.constantFrom('a', 'b', 'c', 'd'),
      state: fc.option(fc.constantFrom(...JOB_STATES), { nil: undefined }),
      exitCode: fc.option(fc.integer({ min: -3, max: 3 }), { nil: undefined }),
      signal: fc.option(fc.constantFrom('SIGTERM', 'SIGKILL'), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(report, { maxLength: 40 }), (reports) => {
        const list: string[] = [];
        const jobs: Record<string, JobOutcome> = {};
        let counts = NO_JOBS;
        for (const [step, { job, ...rest }] of reports.entries()) {
          const before = jobs[job];
          const change = planJobChange(list.includes(job), before, rest, NOW + step);
          if (change.kind === 'finished') expect(before && before.state !== 'running').toBe(true);
          counts = countsAfter(counts, change, before);
          if (change.kind === 'append') list.push(job);
          if ((change.kind === 'append' || change.kind === 'record') && change.outcome) jobs[job] = change.outcome;
          if (before && before.state !== 'running') expect(jobs[job]).toEqual(before);
          expect(counts).toEqual(countJobs(list, jobs));
        }
      }),
    );
  });
});

describe('outcome fields', () => {
  it.each([0, 255, -1, 2 ** 31 - 1, -(2 ** 31)])('accepts exit code %d', (code) => {
    expect(ExitCodeSchema.safeParse(code).success).toBe(true);
  });

  it.each([2 ** 31, -(2 ** 31) - 1, 1.5, Number.NaN])('refuses exit code %d', (code) => {
    expect(ExitCodeSchema.safeParse(code).success).toBe(false);
  });

  it.each(['SIGKILL', 'SIGTERM', 'SIGRTMIN1'])('accepts signal %s', (signal) => {
    expect(SignalSchema.safeParse(signal).success).toBe(true);
  });

  it.each(['KILL', 'sigkill', 'SIG', '9', 'SIGKILL '])('refuses signal %j', (signal) => {
    expect(SignalSchema.safeParse(signal).success).toBe(false);
  });

  it('names the change as history shows it', () => {
    expect(describeOutcome('build-42', failed)).toBe('job build-42 failed (exit 2)');
    expect(describeOutcome('build-43', { ...failed, state: 'succeeded', exit_code: 0 })).toBe('job build-43 succeeded');
    expect(describeOutcome('build-44', { ...failed, exit_code: null, signal: 'SIGTERM' })).toBe('job build-44 failed (SIGTERM)');
    expect(describeOutcome('build-45', running)).toBe('job build-45 started');
  });
});
