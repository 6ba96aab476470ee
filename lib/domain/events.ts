/**
 * The events a session's stored versions announce. An event is derived from
 * two consecutive stored versions — never from what a handler meant to
 * store — so whoever reads the versions (the deployed announcer on S3
 * notifications, the local announcer on the file store) announces the same
 * thing, and a crash between a write and its announcement loses nothing.
 *
 * @module
 */

import { LEASE_EXPIRY_ACTOR } from './lease.ts';
import { type Session, SessionSchema, type SessionStatus } from './session.ts';
import { parseStoredObject } from './stored-object.ts';

/** The `source` of every event. */
export const EVENT_SOURCE = 'runner-sessions';

/** The `detail-type`s, one per kind of announced change. */
export const EVENT_TYPES = [
  'Session Created',
  'Session Status Changed',
  'Session Lease Acquired',
  'Session Lease Expired',
  'Session Restored',
  'Session Job Failed',
] as const;
export type SessionEventType = (typeof EVENT_TYPES)[number];

/** The `detail` of every event. `session_id` + `version_id` identify it (a consumer may see one twice). */
export interface SessionEventDetail {
  session_id: string;
  name: string | null;
  /** Null for a creation. */
  old_status: SessionStatus | null;
  new_status: SessionStatus;
  /** The lease epoch after the change; null for a session never held. */
  epoch: number | null;
  /** Who wrote the version (`updated_by`), `lease-expiry` for an expiry. */
  actor: string | null;
  /** The stored version the event announces. */
  version_id: string;
  /** When the version was written (its `updated_at`, Unix seconds). */
  at: number;
}

/** The `detail` of `Session Job Failed`: the job, how it ended, and the version that recorded it. */
export interface JobFailedDetail {
  session_id: string;
  name: string | null;
  job_id: string;
  exit_code: number | null;
  signal: string | null;
  /** The lease epoch at the write; null for a session never held. */
  epoch: number | null;
  actor: string | null;
  version_id: string;
  at: number;
}

/** An event as EventBridge delivers it (and as the local `events.jsonl` holds it, one per line). */
export interface SessionEvent {
  id: string;
  time: string;
  source: typeof EVENT_SOURCE;
  'detail-type': SessionEventType;
  detail: SessionEventDetail | JobFailedDetail;
}

const JOBS_KEY = '"job_ids":[';
const AFTER_JOBS = '],"created_at":';
const OUTCOMES_KEY = ',"jobs":{';
const AFTER_OUTCOMES = '},"job_counts":{"total":';

/**
 * What events read of a stored session body: the session with its job list
 * and outcomes left out (events read the counts and the outcomes the write
 * recorded, `last_jobs`, instead), or the reason it is none. A body laid out as
 * the service writes it (`job_ids` before `created_at`; `jobs` just before
 * `job_counts`) has its job array and outcomes cut out before parsing, so that
 * announcing the versions of a session of 10,000 jobs costs what it costs for
 * an empty one. The cuts are exact: a JSON string cannot hold an unescaped `"`,
 * so these markers occur in the body only as its structure (an outcome is
 * written `{"state":…}`, never `{"total":…}`). Any other layout is parsed whole.
 */
export function sessionEventView(body: string): Session | Error {
  return parseStoredObject(cut(cut(body, JOBS_KEY, AFTER_JOBS), OUTCOMES_KEY, AFTER_OUTCOMES), SessionSchema);
}

/** `body` with what lies between `open` and `close` (their first occurrences) left out. */
function cut(body: string, open: string, close: string): string {
  const start = body.indexOf(open);
  const end = start < 0 ? -1 : body.indexOf(close, start + open.length - 1);
  return end < 0 ? body : `${body.slice(0, start + open.length)}${body.slice(end)}`;
}

/**
 * The kind of change from `previous` (null: none, the session was created) to
 * `next`, or undefined when the change is not announced (job appends, a
 * holder's lease extension, a restore-free no-op).
 */
export function eventTypeOf(previous: Session | null, next: Session): SessionEventType | undefined {
  if (previous === null) return 'Session Created';
  if (next.restored_from !== undefined && next.restored_from !== previous.restored_from) return 'Session Restored';
  if ((next.lease?.epoch ?? 0) > (previous.lease?.epoch ?? 0)) return 'Session Lease Acquired';
  if (previous.status === next.status) return undefined;
  // Only the sweeper's pause is an expiry; an operator pausing a session whose lease lapsed is a status change.
  const expired = next.status === 'paused' && next.updated_by === LEASE_EXPIRY_ACTOR;
  return expired ? 'Session Lease Expired' : 'Session Status Changed';
}

/** The detail of the event `next` announces, or undefined when it announces none. */
export function deriveEvent(
  previous: Session | null,
  next: Session,
  versionId: string,
): { type: SessionEventType; detail: SessionEventDetail } | undefined {
  const type = eventTypeOf(previous, next);
  if (type === undefined) return undefined;
  return {
    type,
    detail: {
      session_id: next.id,
      name: next.name,
      old_status: previous?.status ?? null,
      new_status: next.status,
      epoch: next.lease?.epoch ?? null,
      actor: next.updated_by ?? null,
      version_id: versionId,
      at: next.updated_at,
    },
  };
}

/** A stable event ID for one announced version, so that a repeat announcement carries the same ID. */
function eventId(detail: Pick<SessionEventDetail, 'session_id' | 'version_id'>): string {
  return `${detail.session_id}:${detail.version_id}`;
}

/**
 * The details of the `Session Job Failed` events `next` announces: one per job its write recorded as failed
 * (`last_jobs`), when its stored count of failed jobs grew over `previous`'s. Counts, not the job list, tell
 * whether anything failed; a restore (announced as such) and a creation announce none.
 */
export function failedJobs(previous: Session | null, next: Session, versionId: string): JobFailedDetail[] {
  if (previous === null || next.last_jobs === undefined) return [];
  if (next.restored_from !== undefined && next.restored_from !== previous.restored_from) return [];
  if ((next.job_counts?.failed ?? 0) <= (previous.job_counts?.failed ?? 0)) return [];
  return Object.entries(next.last_jobs)
    .filter(([, outcome]) => outcome.state === 'failed')
    .map(([jobId, outcome]) => ({
      session_id: next.id,
      name: next.name,
      job_id: jobId,
      exit_code: outcome.exit_code,
      signal: outcome.signal,
      epoch: next.lease?.epoch ?? null,
      actor: next.updated_by ?? null,
      version_id: versionId,
      at: next.updated_at,
    }));
}

/**
 * Every event `next` announces, as EventBridge delivers them: the session's own change ({@link sessionEvent}),
 * then a `Session Job Failed` for each job the version recorded as failed (ID `session:version:job`).
 */
export function sessionEvents(previous: Session | null, next: Session, versionId: string): SessionEvent[] {
  const own = sessionEvent(previous, next, versionId);
  const jobs = failedJobs(previous, next, versionId).map(
    (detail): SessionEvent => ({
      id: `${eventId(detail)}:${detail.job_id}`,
      time: new Date(detail.at * 1000).toISOString(),
      source: EVENT_SOURCE,
      'detail-type': 'Session Job Failed',
      detail,
    }),
  );
  return own === undefined ? jobs : [own, ...jobs];
}

/**
 * The event `next` announces, as EventBridge delivers it, or undefined when it announces none. Its `id` and
 * `time` come from the stored version alone, so an announcement repeated after a crash is the same event.
 */
export function sessionEvent(previous: Session | null, next: Session, versionId: string): SessionEvent | undefined {
  const derived = deriveEvent(previous, next, versionId);
  if (derived === undefined) return undefined;
  return {
    id: eventId(derived.detail),
    time: new Date(derived.detail.at * 1000).toISOString(),
    source: EVENT_SOURCE,
    'detail-type': derived.type,
    detail: derived.detail,
  };
}

/** An event with the envelope fields EventBridge adds on delivery: what a rule's target, and `events.jsonl`, receive. */
export interface DeliveredSessionEvent {
  version: '0';
  id: string;
  'detail-type': SessionEventType;
  source: typeof EVENT_SOURCE;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: SessionEventDetail | JobFailedDetail;
}

/** `event` as EventBridge delivers it from `account` in `region`, its fields in EventBridge's order. */
export function deliveredEvent(event: SessionEvent, { account, region }: { account: string; region: string }): DeliveredSessionEvent {
  return {
    version: '0',
    id: event.id,
    'detail-type': event['detail-type'],
    source: event.source,
    account,
    time: event.time,
    region,
    resources: [],
    detail: event.detail,
  };
}
