/**
 * How a session's history names the change a version made from the one
 * before it (the `change` of a history entry, lib/sessions/history.ts):
 * `created`, `job_added JOB`, `job JOB failed (exit 2)`, `status A→B`,
 * `restored VERSION`, several joined by `; `, and so on.
 *
 * @module
 */

import { describeOutcome, type JobCounts } from '../domain/job-outcome.ts';
import { LEASE_EXPIRY_ACTOR } from '../domain/lease.ts';
import { type Session, withJobCounts } from '../domain/session.ts';

/** Job IDs a change names before it only counts the rest. */
const JOBS_NAMED = 5;

/**
 * What `version` changed from `older`, the version written before it
 * (undefined when none is kept). A restore says so; anything else is told
 * by comparing status, jobs and name.
 */
export function describeChange(version: Session, older: Session | undefined): string {
  // A writer that keeps unknown fields may carry restored_from over: only a new value marks a restore.
  if (version.restored_from !== undefined && version.restored_from !== older?.restored_from) return `restored ${version.restored_from}`;
  if (older === undefined) return isFresh(version) ? 'created' : 'older versions expired';
  const parts: string[] = [];
  const lease = leaseChange(version, older);
  if (lease !== undefined) parts.push(lease);
  if (version.status !== older.status) {
    const expired = version.status === 'paused' && version.updated_by === LEASE_EXPIRY_ACTOR;
    parts.push(`status ${older.status}→${version.status}${expired ? ' (lease expired)' : ''}`);
  }
  const before = new Set(older.job_ids);
  const now = new Set(version.job_ids);
  const outcomes = recordedOutcomes(version, older);
  parts.push(
    ...jobsChange(
      'added',
      // A job appended with its outcome is named once, by the outcome.
      version.job_ids.filter((job) => !before.has(job) && !Object.hasOwn(outcomes, job)),
    ),
  );
  parts.push(...outcomesChange(outcomes));
  parts.push(
    ...jobsChange(
      'removed',
      older.job_ids.filter((job) => !now.has(job)),
    ),
  );
  if (version.name !== older.name) parts.push(`name ${older.name ?? '-'}→${version.name ?? '-'}`);
  if (version.owner !== older.owner && version.owner !== undefined) parts.push(`owner changed to ${version.owner}`);
  return parts.length === 0 ? 'unchanged' : parts.join('; ');
}

/**
 * The outcomes `version` recorded over `older`: its `last_jobs`, when the counts by state moved (every recorded
 * outcome moves one: a job only ever moves on, from bare to running to final; a bare append moves only the total),
 * without walking the job list.
 */
function recordedOutcomes(version: Session, older: Session): NonNullable<Session['last_jobs']> {
  if (version.last_jobs === undefined || sameStates(withJobCounts(version).job_counts, withJobCounts(older).job_counts)) return {};
  return version.last_jobs;
}

function sameStates(a: JobCounts, b: JobCounts): boolean {
  return a.running === b.running && a.succeeded === b.succeeded && a.failed === b.failed && a.cancelled === b.cancelled;
}

/** `job build-42 failed (exit 2)` for each outcome, the first {@link JOBS_NAMED} named and the rest counted. */
function outcomesChange(outcomes: NonNullable<Session['last_jobs']>): string[] {
  const entries = Object.entries(outcomes);
  const named = entries.slice(0, JOBS_NAMED).map(([jobId, outcome]) => describeOutcome(jobId, outcome));
  return entries.length > JOBS_NAMED ? [...named, `(+${entries.length - JOBS_NAMED} more outcomes)`] : named;
}

/** What happened to the lease between two versions, if anything worth a line: an acquire or a take-over. */
function leaseChange(version: Session, older: Session): string | undefined {
  const lease = version.lease;
  const previous = older.lease;
  if (lease === undefined || lease === null || lease.epoch <= (previous?.epoch ?? 0)) return undefined;
  return `lease ${lease.taken_over === true ? 'taken over' : 'acquired'} by ${lease.holder} (epoch ${lease.epoch})`;
}

function jobsChange(verb: 'added' | 'removed', jobs: string[]): string[] {
  if (jobs.length === 0) return [];
  if (jobs.length === 1) return [`job_${verb} ${jobs[0]}`];
  const named = jobs.slice(0, JOBS_NAMED).join(', ');
  const rest = jobs.length > JOBS_NAMED ? `, … (+${jobs.length - JOBS_NAMED} more)` : '';
  return [`jobs_${verb} ${jobs.length}: ${named}${rest}`];
}

/** A session as created: no jobs, active, never updated since. */
function isFresh(session: Session): boolean {
  return session.job_ids.length === 0 && session.status === 'active' && session.updated_at === session.created_at;
}
