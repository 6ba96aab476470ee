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
 * The outcomes (`jobs`, an object keyed by job ID) are kept the same way: a
 * new version of them is one recording in a line shared along the versions,
 * seen through a read-only object, and each entry's JSON is made once, when
 * it is recorded, so recording an outcome neither copies nor encodes the others.
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
 * The recordings of outcomes along one line of versions, shared by every version of the line: each job's
 * recordings (oldest first, with their position in the line), and the JSON of each job's entry as the newest
 * version holds it, in the order `JSON.stringify` writes an object's keys — array indices first, ascending
 * (`indices`, `indexed`), then the others in the order they were first recorded (`named`).
 */
interface OutcomeLine {
  length: number;
  recordings: Map<string, { at: number; outcome: JobOutcome }[]>;
  indices: number[];
  indexed: string[];
  named: Map<string, string>;
}

/** What an outcomes object is a version of: its line, and how many of the line's recordings it holds. */
const versions = new WeakMap<JobOutcomes, { line: OutcomeLine; length: number }>();

/** The largest array index, 2³² − 2: such keys come first in an object, whatever order they were added in. */
const MAX_ARRAY_INDEX = 2 ** 32 - 2;

function arrayIndexOf(key: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(key)) return undefined;
  const index = Number(key);
  return index <= MAX_ARRAY_INDEX ? index : undefined;
}

function record(line: OutcomeLine, jobId: string, outcome: JobOutcome): void {
  const recordings = line.recordings.get(jobId);
  if (recordings === undefined) line.recordings.set(jobId, [{ at: line.length, outcome }]);
  else recordings.push({ at: line.length, outcome });
  line.length += 1;
  const json = `${JSON.stringify(jobId)}:${JSON.stringify(outcome)}`;
  const index = arrayIndexOf(jobId);
  if (index === undefined) {
    line.named.set(jobId, json);
    return;
  }
  // Binary search: build numbers tend to grow, so this is usually the end.
  let low = 0;
  let high = line.indices.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (line.indices[middle]! < index) low = middle + 1;
    else high = middle;
  }
  if (line.indices[low] === index) line.indexed[low] = json;
  else {
    line.indices.splice(low, 0, index);
    line.indexed.splice(low, 0, json);
  }
}

/** A new line holding `jobs` (read once: their JSON, entry by entry). */
function lineOf(jobs: JobOutcomes): OutcomeLine {
  const line: OutcomeLine = { length: 0, recordings: new Map(), indices: [], indexed: [], named: new Map() };
  for (const [jobId, outcome] of Object.entries(jobs)) record(line, jobId, outcome);
  return line;
}

/** The version of `jobs`; an object not recorded here (read from the store) starts a line of its own. */
function versionOf(jobs: JobOutcomes): { line: OutcomeLine; length: number } {
  let version = versions.get(jobs);
  if (version === undefined) {
    const line = lineOf(jobs);
    version = { line, length: line.length };
    versions.set(jobs, version);
  }
  return version;
}

/**
 * The outcomes the first `length` recordings of `line` make: a read-only object whose entries are looked up in the
 * line, so that a new version costs one recording, not a copy of every outcome (a copy of 10,000 entries costs as
 * much as encoding them).
 */
function outcomesAt(line: OutcomeLine, length: number): JobOutcomes {
  const outcomeOf = (key: string | symbol): JobOutcome | undefined => {
    if (typeof key !== 'string') return undefined;
    const recordings = line.recordings.get(key);
    if (recordings === undefined || recordings[0]!.at >= length) return undefined;
    return recordings.findLast((recording) => recording.at < length)!.outcome;
  };
  const keys = (): string[] => {
    const held = (jobId: string) => line.recordings.get(jobId)![0]!.at < length;
    const indexed = line.indices.map(String).filter(held);
    const named = [...line.named.keys()].filter(held);
    return [...indexed, ...named];
  };
  const outcomes = new Proxy<JobOutcomes>(
    {},
    {
      get: (target, key, receiver) => outcomeOf(key) ?? Reflect.get(target, key, receiver),
      has: (target, key) => outcomeOf(key) !== undefined || Reflect.has(target, key),
      ownKeys: keys,
      getOwnPropertyDescriptor: (_target, key) => {
        const value = outcomeOf(key);
        return value === undefined ? undefined : { value, writable: false, enumerable: true, configurable: true };
      },
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
      setPrototypeOf: () => false,
    },
  );
  versions.set(outcomes, { line, length });
  return outcomes;
}

/** New outcomes: `jobs` with `outcome` recorded for `jobId` (in its place when it had one). `jobs` is left as it was. */
export function withOutcome(jobs: JobOutcomes | undefined, jobId: string, outcome: JobOutcome): JobOutcomes {
  const version = jobs === undefined ? undefined : versionOf(jobs);
  // Only the newest version of a line extends it; a recording onto an older one (a retry) starts a line of its own.
  const line = version === undefined ? lineOf({}) : version.length === version.line.length ? version.line : lineOf(jobs!);
  record(line, jobId, outcome);
  return outcomesAt(line, line.length);
}

/** `JSON.stringify(jobs)`, from the entries' JSON made when each was recorded by {@link withOutcome}. */
export function outcomesJson(jobs: JobOutcomes): string {
  const { line, length } = versionOf(jobs);
  if (length !== line.length) return JSON.stringify(jobs);
  const indexed = line.indexed.join(',');
  const named = [...line.named.values()].join(',');
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
