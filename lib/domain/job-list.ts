/**
 * A session's job list, grown one append at a time at a cost that does not
 * depend on its length: "is this job already in it?" and "the JSON of the
 * session" are the two steps of an append that would otherwise read every
 * job (an `includes` and a `JSON.stringify` of the whole session).
 *
 * Job lists stay plain immutable arrays. Beside them, kept by array identity
 * (a WeakMap, so nothing outlives its array):
 *
 * - a position index, shared along one line of appends: each job's position
 *   in the newest list of the line (its owner). Every list of the line is a
 *   prefix of the owner, so a job is in a list exactly when its position is
 *   below that list's length. Only the owner extends the index; an append to
 *   an older list (a write that lost a race, then retried on it) starts an
 *   index of its own when one is next asked for.
 * - the JSON of the list's items, built from the previous list's by one
 *   concatenation (and in one piece again every {@link MAX_PIECES} appends).
 *
 * The outcomes (`jobs`, an object keyed by job ID) are kept the same way: each
 * entry's JSON is made once, when it is recorded, and the object's JSON is
 * those pieces joined, so recording an outcome never encodes the others again.
 *
 * @module
 */

import type { JobOutcome } from './job-outcome.ts';
import type { Session } from './session.ts';

interface PositionIndex {
  owner: readonly string[];
  positions: Map<string, number>;
}

const indexes = new WeakMap<readonly string[], PositionIndex>();
/** The JSON of a list's items, without the brackets, and how many concatenations it is made of. */
const itemsJson = new WeakMap<readonly string[], { json: string; pieces: number }>();

/**
 * Concatenations a list's JSON may be made of before it is built again in one piece: every string built of it is
 * flattened when written, and a flatten walks every piece, so unbounded pieces would cost a walk of every job anyway.
 */
const MAX_PIECES = 64;

function indexOf(jobs: readonly string[]): PositionIndex {
  let index = indexes.get(jobs);
  if (index === undefined) {
    const positions = new Map<string, number>();
    for (const [position, job] of jobs.entries()) if (!positions.has(job)) positions.set(job, position);
    index = { owner: jobs, positions };
    indexes.set(jobs, index);
  }
  return index;
}

/** True when `job` is in `jobs`; the first question about a list not grown here reads it once. */
export function hasJob(jobs: readonly string[], job: string): boolean {
  const position = indexOf(jobs).positions.get(job);
  return position !== undefined && position < jobs.length;
}

/** A new list: `jobs` and then `job`. `jobs` is left as it was. */
export function withJob(jobs: readonly string[], job: string): string[] {
  const next = [...jobs, job];
  const index = indexes.get(jobs);
  if (index !== undefined && index.owner === jobs) {
    if (!index.positions.has(job)) index.positions.set(job, jobs.length);
    index.owner = next;
    indexes.set(next, index);
  }
  const items = itemsJson.get(jobs);
  if (items !== undefined && items.pieces < MAX_PIECES) {
    const json = items.json === '' ? JSON.stringify(job) : `${items.json},${JSON.stringify(job)}`;
    itemsJson.set(next, { json, pieces: items.pieces + 1 });
  }
  return next;
}

/** `JSON.stringify(jobs)`, from the previous list's JSON when the list was grown by {@link withJob}. */
export function jobListJson(jobs: readonly string[]): string {
  let items = itemsJson.get(jobs);
  if (items === undefined) {
    items = { json: JSON.stringify(jobs).slice(1, -1), pieces: 0 };
    itemsJson.set(jobs, items);
  }
  return `[${items.json}]`;
}

/** A session's outcomes: job ID → how the job ended. */
export type JobOutcomes = Readonly<Record<string, JobOutcome>>;

/**
 * The JSON of each entry of an outcomes object, in the order `JSON.stringify` writes them: keys that are array
 * indices first, ascending (`indices`, `indexed`), then the others in insertion order (`named`). Shared along one
 * line of recordings as the position index is: only the newest object of the line (its owner) extends it.
 */
interface OutcomeEntries {
  owner: JobOutcomes;
  indices: number[];
  indexed: string[];
  named: Map<string, string>;
}

const outcomeEntries = new WeakMap<JobOutcomes, OutcomeEntries>();

/** The largest array index, 2³² − 2: such keys come first in an object, whatever order they were added in. */
const MAX_ARRAY_INDEX = 2 ** 32 - 2;

function arrayIndexOf(key: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(key)) return undefined;
  const index = Number(key);
  return index <= MAX_ARRAY_INDEX ? index : undefined;
}

function entryJson(jobId: string, outcome: JobOutcome): string {
  return `${JSON.stringify(jobId)}:${JSON.stringify(outcome)}`;
}

function setEntry(entries: OutcomeEntries, jobId: string, outcome: JobOutcome): void {
  const index = arrayIndexOf(jobId);
  if (index === undefined) {
    entries.named.set(jobId, entryJson(jobId, outcome));
    return;
  }
  // Binary search: build numbers tend to grow, so this is usually the end.
  let low = 0;
  let high = entries.indices.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (entries.indices[middle]! < index) low = middle + 1;
    else high = middle;
  }
  if (entries.indices[low] === index) entries.indexed[low] = entryJson(jobId, outcome);
  else {
    entries.indices.splice(low, 0, index);
    entries.indexed.splice(low, 0, entryJson(jobId, outcome));
  }
}

function entriesOf(jobs: JobOutcomes): OutcomeEntries {
  let entries = outcomeEntries.get(jobs);
  if (entries === undefined || entries.owner !== jobs) {
    entries = { owner: jobs, indices: [], indexed: [], named: new Map() };
    for (const [jobId, outcome] of Object.entries(jobs)) setEntry(entries, jobId, outcome);
    outcomeEntries.set(jobs, entries);
  }
  return entries;
}

/** New outcomes: `jobs` with `outcome` recorded for `jobId` (in its place when it had one). `jobs` is left as it was. */
export function withOutcome(jobs: JobOutcomes | undefined, jobId: string, outcome: JobOutcome): JobOutcomes {
  const base = jobs ?? {};
  const next: JobOutcomes = { ...base, [jobId]: outcome };
  const entries = outcomeEntries.get(base);
  if (entries !== undefined && entries.owner === base) {
    setEntry(entries, jobId, outcome);
    entries.owner = next;
    outcomeEntries.set(next, entries);
  }
  return next;
}

/** `JSON.stringify(jobs)`, from the entries' JSON made when each was recorded by {@link withOutcome}. */
export function outcomesJson(jobs: JobOutcomes): string {
  const entries = entriesOf(jobs);
  const indexed = entries.indexed.join(',');
  const named = [...entries.named.values()].join(',');
  return `{${indexed}${indexed !== '' && named !== '' ? ',' : ''}${named}}`;
}

/** Exactly `JSON.stringify(session)` (the same keys in the same order), with the job list's JSON from {@link jobListJson}. */
export function sessionJson(session: Session): string {
  let json = '{';
  for (const [key, value] of Object.entries(session)) {
    const encoded =
      key === 'job_ids'
        ? jobListJson(value as string[])
        : key === 'jobs' && value !== undefined
          ? outcomesJson(value as JobOutcomes)
          : JSON.stringify(value);
    // JSON.stringify leaves out what has no JSON form (undefined).
    if (encoded === undefined) continue;
    json += `${json === '{' ? '' : ','}${JSON.stringify(key)}:${encoded}`;
  }
  return `${json}}`;
}
