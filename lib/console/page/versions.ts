/**
 * Comparing two versions of a session, for the history's diffs and for what
 * a restore will change: fields changed, jobs added and removed, the lease.
 * @module
 */

import type { JobOutcome, Lease, Session } from './api.ts';

/** Job IDs a diff names before it only counts the rest. */
const JOBS_NAMED = 5;
/**
 * Fields a diff does not list: the entry already says when and by whom, jobs and lease get lines of their own, and
 * outcomes and their counts follow the jobs (a raw diff of them would repeat every outcome).
 */
const NOT_LISTED = new Set(['updated_at', 'updated_by', 'job_ids', 'lease', 'restored_from', 'id', 'jobs', 'job_counts', 'last_jobs']);

/** One line of a diff. */
export interface DiffLine {
  kind: 'field' | 'jobs-added' | 'jobs-removed' | 'outcomes' | 'lease';
  text: string;
}

/** What changed from `before` to `after`, as lines a person reads. */
export function diffSessions(before: Session, after: Session): DiffLine[] {
  const lines: DiffLine[] = [];
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const field of [...fields].sort()) {
    if (NOT_LISTED.has(field)) continue;
    const was = JSON.stringify(before[field] ?? null);
    const now = JSON.stringify(after[field] ?? null);
    if (was !== now) lines.push({ kind: 'field', text: `${field}: ${was} → ${now}` });
  }
  const had = new Set(before.job_ids);
  const has = new Set(after.job_ids);
  const added = after.job_ids.filter((job) => !had.has(job));
  const removed = before.job_ids.filter((job) => !has.has(job));
  if (added.length > 0) lines.push({ kind: 'jobs-added', text: `${countJobs(added.length)} added: ${named(added)}` });
  if (removed.length > 0) lines.push({ kind: 'jobs-removed', text: `${countJobs(removed.length)} removed: ${named(removed)}` });
  const outcomes = outcomeChanges(before.jobs ?? {}, after.jobs ?? {}, has);
  if (outcomes.length > 0) {
    const shown = outcomes.slice(0, JOBS_NAMED).join(', ');
    const more = outcomes.length > JOBS_NAMED ? `, … (+${outcomes.length - JOBS_NAMED} more)` : '';
    lines.push({ kind: 'outcomes', text: `${shown}${more}` });
  }
  const lease = leaseChange(before.lease ?? null, after.lease ?? null);
  if (lease !== undefined) lines.push({ kind: 'lease', text: lease });
  return lines;
}

/** What a history entry's `change` is about, for its marker on the timeline. */
export function changeKind(change: string): 'created' | 'jobs' | 'failed' | 'status' | 'lease' | 'restored' | 'other' {
  if (change.startsWith('created')) return 'created';
  if (change.split('; ').some((part) => /^job \S+ failed/.test(part))) return 'failed';
  if (change.startsWith('restored')) return 'restored';
  if (/lease/.test(change)) return 'lease';
  if (change.startsWith('status')) return 'status';
  if (/^jobs?_|^job /.test(change)) return 'jobs';
  return 'other';
}

function leaseChange(before: Lease | null, after: Lease | null): string | undefined {
  if (after === null) return before === null ? undefined : 'lease removed';
  if (before === null || after.epoch !== before.epoch) {
    // Servers that mark a forced take-over say so; older versions are told by the old lease still running at the acquire.
    const taken =
      before !== null && (after.taken_over ?? (before.holder !== after.holder && before.expires_at > after.expires_at - after.seconds));
    return taken
      ? `lease taken over by ${after.holder} from ${before.holder} (epoch ${before.epoch} → ${after.epoch})`
      : `lease acquired by ${after.holder} (epoch ${after.epoch}, ${after.seconds} s)`;
  }
  if (after.ended !== undefined && after.ended !== before.ended && after.ended !== 'released')
    return `lease ${after.ended} (epoch ${after.epoch})`;
  if (after.expires_at < before.expires_at || (after.ended === 'released' && before.ended === undefined)) {
    return `lease released by ${after.holder} (epoch ${after.epoch})`;
  }
  if (after.expires_at > before.expires_at) return `lease extended (epoch ${after.epoch})`;
  return undefined;
}

/** "job b-1 failed (exit 2)" for each job of `after` (still in the list) whose outcome `before` did not record. */
function outcomeChanges(before: Record<string, JobOutcome>, after: Record<string, JobOutcome>, listed: Set<string>): string[] {
  const lines: string[] = [];
  for (const [job, outcome] of Object.entries(after)) {
    const was = Object.hasOwn(before, job) ? before[job] : undefined;
    if (!listed.has(job) || (was?.state === outcome.state && was.exit_code === outcome.exit_code && was.signal === outcome.signal))
      continue;
    lines.push(describeOutcome(job, outcome));
  }
  return lines;
}

/** "job b-1 started", "job b-1 succeeded", "job b-1 failed (exit 2)", "job b-1 failed (SIGKILL)", as the history says them. */
export function describeOutcome(job: string, { state, exit_code, signal }: JobOutcome): string {
  const verb = state === 'running' ? 'started' : state;
  const how = typeof signal === 'string' ? signal : typeof exit_code === 'number' && state !== 'succeeded' ? `exit ${exit_code}` : '';
  return `job ${job} ${verb}${how === '' ? '' : ` (${how})`}`;
}

function countJobs(count: number): string {
  return count === 1 ? '1 job' : `${count} jobs`;
}

function named(jobs: string[]): string {
  const shown = jobs.slice(0, JOBS_NAMED).join(', ');
  return jobs.length > JOBS_NAMED ? `${shown}, … (+${jobs.length - JOBS_NAMED} more)` : shown;
}
