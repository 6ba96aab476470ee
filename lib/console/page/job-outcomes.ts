/**
 * How each job ended, in the console's words: its state, exit code or signal
 * and duration, the counts a session keeps (`job_counts`), and which jobs a
 * state filter keeps. No DOM here.
 * @module
 */

import type { JobCounts, JobOutcome, Session } from './api.ts';
import { nowSeconds } from './time.ts';

/** The states a job may be in, in the order the console lists them. */
export const JOB_STATES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** What the jobs panel's state filter keeps: every job, the jobs in one state, or the jobs recorded without one. */
export type StateFilter = '' | JobState | 'none';

/** Whether the session records outcomes: some job has a state (a server without outcomes, or only bare appends: no). */
export function hasOutcomes(session: Session): boolean {
  const counts = session.job_counts;
  if (counts !== undefined && JOB_STATES.some((state) => counts[state] > 0)) return true;
  return session.jobs !== undefined && Object.keys(session.jobs).length > 0;
}

/** The outcome recorded for `job`, if any (own properties only: a job ID is caller text). */
export function outcomeOf(session: Session, job: string): JobOutcome | undefined {
  const jobs = session.jobs;
  return jobs !== undefined && Object.hasOwn(jobs, job) ? jobs[job] : undefined;
}

/** Whether `filter` keeps a job with `outcome`. */
export function keeps(filter: StateFilter, outcome: JobOutcome | undefined): boolean {
  if (filter === '') return true;
  if (filter === 'none') return outcome === undefined;
  return outcome?.state === filter;
}

/** "2", "SIGKILL" (the signal that ended it), or "" when neither is recorded. */
export function exitText(outcome: JobOutcome | undefined): string {
  if (outcome === undefined) return '';
  if (typeof outcome.signal === 'string') return outcome.signal;
  return typeof outcome.exit_code === 'number' ? String(outcome.exit_code) : '';
}

/** How long the job ran: `finished_at − started_at`, or for a running job the time since it started; undefined when unknown. */
export function durationOf(outcome: JobOutcome | undefined, now = nowSeconds()): number | undefined {
  if (outcome === undefined || typeof outcome.started_at !== 'number') return undefined;
  if (typeof outcome.finished_at === 'number') return Math.max(0, outcome.finished_at - outcome.started_at);
  return outcome.state === 'running' ? Math.max(0, Math.floor(now - outcome.started_at)) : undefined;
}

/** "0 s", "59 s", "1 min 0 s", "2 h 5 min", "3 d 4 h". */
export function durationText(seconds: number): string {
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
  return `${Math.floor(whole / 86_400)} d ${Math.floor((whole % 86_400) / 3600)} h`;
}

/** The session's counts: as it keeps them, or counted from `jobs` for an answer without them. */
export function countsOf(session: Session): JobCounts {
  if (session.job_counts !== undefined) return session.job_counts;
  const counts: JobCounts = { total: session.job_ids.length, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  for (const outcome of Object.values(session.jobs ?? {})) {
    if ((JOB_STATES as readonly string[]).includes(outcome.state)) counts[outcome.state as JobState]++;
  }
  return counts;
}

/** "12 jobs: 1 running, 8 succeeded, 2 failed, 1 cancelled" (states with none left out); "3 jobs" without outcomes. */
export function countsText(counts: JobCounts): string {
  const total = `${counts.total} job${counts.total === 1 ? '' : 's'}`;
  const states = JOB_STATES.filter((state) => counts[state] > 0).map((state) => `${counts[state]} ${state}`);
  return states.length === 0 ? total : `${total}: ${states.join(', ')}`;
}
