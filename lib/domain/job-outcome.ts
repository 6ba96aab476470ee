/**
 * How each job of a session ended: the job state machine and the counts kept beside it.
 *
 * A session's `job_ids` stays the original list (insertion order, no duplicates). Beside it,
 * `jobs` maps a job ID to its outcome, for the jobs that have a state other than a bare append,
 * and `job_counts` holds how many jobs are in each state, so that no reader walks the list.
 *
 * States: absent (or a bare append) → `running` → a final state, or absent → a final state in
 * one step. A final state is kept: the same outcome again is a no-op, another one a conflict.
 *
 * @module
 */

import * as z from './zod.ts';

export const JOB_STATES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export const JobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobStateSchema>;

export const FINAL_JOB_STATES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobState[];
export type FinalJobState = (typeof FINAL_JOB_STATES)[number];

/** A process exit code as a 32-bit signed integer (Windows exit codes use the whole range). */
export const ExitCodeSchema = z.number().check(
  z.int(),
  z.refine((value) => value >= -(2 ** 31) && value <= 2 ** 31 - 1, { message: 'must be a 32-bit signed integer' }),
);

/** A POSIX signal name: `SIG` and 1–13 upper-case letters or digits (`SIGKILL`, `SIGRTMIN1`). */
export const SignalSchema = z.string().check(z.regex(/^SIG[A-Z0-9]{1,13}$/, { message: 'must be a signal name such as SIGKILL' }));

/** One job's outcome as stored in `jobs`. Times are the server's, in Unix seconds. */
export const JobOutcomeSchema = z.looseObject({
  state: JobStateSchema,
  exit_code: z.nullable(ExitCodeSchema),
  signal: z.nullable(SignalSchema),
  started_at: z.number().check(z.int(), z.nonnegative()),
  finished_at: z.nullable(z.number().check(z.int(), z.nonnegative())),
});
export type JobOutcome = z.infer<typeof JobOutcomeSchema>;

/**
 * Outcomes keyed by job ID, as `jobs` holds them. Checked in place rather than copied: a copy made by assignment
 * (as a record schema makes) would turn a job called `__proto__` into the copy's prototype, and lose it.
 */
export const JobOutcomesSchema = z.custom<Record<string, JobOutcome>>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((outcome) => JobOutcomeSchema.safeParse(outcome).success),
  { message: 'must map job IDs to job outcomes' },
);

/** The outcome recorded for `jobId` in `jobs`, if any (own entries only: a job may be called `constructor`). */
export function recordedOutcome(jobs: Readonly<Record<string, JobOutcome>> | undefined, jobId: string): JobOutcome | undefined {
  return jobs !== undefined && Object.hasOwn(jobs, jobId) ? jobs[jobId] : undefined;
}

const count = z.number().check(z.int(), z.nonnegative());

/** How many jobs a session holds, and how many of them are in each state. */
export const JobCountsSchema = z.object({ total: count, running: count, succeeded: count, failed: count, cancelled: count });
export type JobCounts = z.infer<typeof JobCountsSchema>;

/** What a caller reports about a job: nothing (a bare append), or a state with an optional exit code and signal. */
export interface JobReport {
  state?: JobState | undefined;
  exitCode?: number | undefined;
  signal?: string | undefined;
}

/** What a report does to a job, given what is recorded of it. */
export type JobChange =
  /** The job is new: append it, with `outcome` when the report had a state. */
  | { kind: 'append'; outcome: JobOutcome | undefined }
  /** The job is in the list: record `outcome` for it. */
  | { kind: 'record'; outcome: JobOutcome }
  /** Nothing to write: a repeat of what is recorded (retries are safe). */
  | { kind: 'unchanged' }
  /** The job has finished with another outcome, or is asked to run again: refused. */
  | { kind: 'finished'; recorded: JobOutcome };

/** True for `succeeded`, `failed` and `cancelled`. */
export function isFinal(state: JobState): state is FinalJobState {
  return state !== 'running';
}

/**
 * The change a report makes to a job that is `present` in the list or not, with `recorded`
 * its outcome so far (undefined for a bare append), at server time `now`.
 */
export function planJobChange(present: boolean, recorded: JobOutcome | undefined, report: JobReport, now: number): JobChange {
  const state = report.state;
  if (!present) return { kind: 'append', outcome: state === undefined ? undefined : outcomeOf(report, state, undefined, now) };
  if (state === undefined) return { kind: 'unchanged' };
  if (recorded === undefined) return { kind: 'record', outcome: outcomeOf(report, state, undefined, now) };
  if (!isFinal(recorded.state)) {
    return state === 'running' ? { kind: 'unchanged' } : { kind: 'record', outcome: outcomeOf(report, state, recorded, now) };
  }
  return sameOutcome(recorded, report) ? { kind: 'unchanged' } : { kind: 'finished', recorded };
}

function outcomeOf(report: JobReport, state: JobState, running: JobOutcome | undefined, now: number): JobOutcome {
  const final = isFinal(state);
  return {
    state,
    exit_code: final ? (report.exitCode ?? null) : null,
    signal: final ? (report.signal ?? null) : null,
    started_at: running?.started_at ?? now,
    finished_at: final ? now : null,
  };
}

function sameOutcome(recorded: JobOutcome, report: JobReport): boolean {
  return recorded.state === report.state && recorded.exit_code === (report.exitCode ?? null) && recorded.signal === (report.signal ?? null);
}

/** Counts of an empty session. */
export const NO_JOBS: JobCounts = Object.freeze({ total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });

/** The counts of a session recounted from its list and outcomes (for a session stored before counts were kept). */
export function countJobs(jobIds: readonly string[], jobs: Readonly<Record<string, JobOutcome>> | undefined): JobCounts {
  const counts = { ...NO_JOBS, total: jobIds.length };
  for (const outcome of Object.values(jobs ?? {})) counts[outcome.state] += 1;
  return counts;
}

/** `counts` after `change` was applied to a job whose outcome was `before` (undefined: bare or new). */
export function countsAfter(counts: JobCounts, change: JobChange, before: JobOutcome | undefined): JobCounts {
  if (change.kind === 'unchanged' || change.kind === 'finished') return counts;
  const next = { ...counts };
  if (change.kind === 'append') next.total += 1;
  if (before !== undefined) next[before.state] -= 1;
  if (change.outcome !== undefined) next[change.outcome.state] += 1;
  return next;
}

/** How history names a job's change: `job build-42 failed (exit 2)`, `job build-43 succeeded`. */
export function describeOutcome(jobId: string, outcome: JobOutcome): string {
  const how =
    outcome.signal !== null
      ? ` (${outcome.signal})`
      : outcome.exit_code !== null && outcome.state !== 'succeeded'
        ? ` (exit ${outcome.exit_code})`
        : '';
  return `job ${jobId} ${outcome.state === 'running' ? 'started' : outcome.state}${how}`;
}
