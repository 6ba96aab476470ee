/**
 * The announcer: turns a session's stored versions into its events, for the
 * deployed stack (on S3 notifications, publishing to EventBridge) and the
 * local server (after each write, appending to `events.jsonl`) alike.
 *
 * One run lists the session's versions newest first down to the last version
 * already announced — a per-session cursor record `announced/<id>.json`
 * holding `{ "version_id": … }` in a store without versions — reads the new
 * versions and the one before them, derives their events (`lib/domain/events.ts`),
 * publishes them oldest first and only then moves the cursor, by
 * compare-and-swap. A crash between the publish and the cursor write
 * republishes the same events (same `id`) on the next run: at least once,
 * never a loss. The cursor only ever moves to a version published after it
 * was read, so concurrent announcers repeat events but never skip one, and
 * every event's first publication comes after those of the versions before it.
 *
 * @module
 */

import { type SessionEvent, sessionEvents, sessionEventView } from '../domain/events.ts';
import { isSessionId, SESSIONS_PREFIX, sessionKey } from '../domain/ids.ts';
import type { Session } from '../domain/session.ts';
import {
  ConditionNotMet,
  keepsVersions,
  MAX_LIST_KEYS,
  NULL_VERSION_ID,
  type ObjectStore,
  type VersionedObjectStore,
} from '../storage/port.ts';

/** Where the cursor records live in the cursor store. */
export const ANNOUNCED_PREFIX = 'announced/';

/** Most events one `publish` call carries (EventBridge's PutEvents limit). */
export const PUBLISH_BATCH = 10;

/** Most new versions one run announces; the rest wait for the next run. */
export const ANNOUNCE_DEPTH = 100;

/** Sessions whose last announced version an announcer keeps in memory. */
const REMEMBERED_VIEWS = 1_000;

/** Versions asked for in the first listing page: almost always enough to reach the cursor. */
const FIRST_PAGE = 10;

/** Where announced events go. */
export interface Publisher {
  /** Publishes up to {@link PUBLISH_BATCH} events, in order; resolves once they are accepted. @throws when any was not. */
  publish(events: SessionEvent[]): Promise<void>;
}

export interface AnnouncerOptions {
  /** The sessions, with their versions. */
  sessions: VersionedObjectStore;
  /** The cursor records: a store without versions (deployed, the leases bucket). */
  cursors: ObjectStore;
  publisher: Publisher;
  /** Most new versions one run announces. Default {@link ANNOUNCE_DEPTH}. */
  depth?: number;
}

/** What one run did. */
export interface AnnounceReport {
  sessionId: string;
  /** New versions the run went through (events or not). */
  versions: number;
  /** Events published. */
  published: number;
  /** True when new versions are left for another run (beyond the depth, or another announcer moved the cursor meanwhile). */
  remaining: boolean;
  /** True when the announced version is no longer stored (expired): the oldest listed version became the starting point, unannounced. */
  gap: boolean;
  /** True when the session's newest version is S3's "null" one (a bucket without versions): nothing was announced. */
  unversioned?: boolean;
  /** Store requests the run made: cursor read and write, listings, version reads. */
  requests: number;
}

/** What a store without versions is told to use instead, wherever events are refused. */
const USE_INSTEAD =
  'enable versioning on the bucket (aws s3api put-bucket-versioning --versioning-configuration Status=Enabled) ' +
  'or serve from the local store (leave SESSIONS_BUCKET unset)';

/** Why events cannot be announced from a bucket whose sessions are S3's "null" version. */
export const UNVERSIONED_EVENTS =
  'the sessions bucket keeps no versions (its sessions have version ID "null"), and events are derived from versions: ' +
  `one change cannot be told from the next, so none is announced; ${USE_INSTEAD}`;

/**
 * Why events cannot be announced from `store`, or undefined when they can.
 * Events are derived from the stored versions of each session, so a store
 * that keeps none — not a versioned store, or an S3 bucket without
 * versioning, whose sessions are all version "null" — announces nothing
 * rather than wrong events (one "created" for a life cycle, every session
 * "created" again at each start). Looks at the newest version of the first
 * session listed; with no session stored yet, the announcer checks each
 * session's newest version as it goes (`unversioned` in its report).
 * @throws StoreFault.
 */
export async function eventsUnavailable(store: ObjectStore): Promise<string | undefined> {
  if (!keepsVersions(store)) return `the sessions store keeps no versions, and events are derived from versions; ${USE_INSTEAD}`;
  const [key] = (await store.list(SESSIONS_PREFIX, { limit: 1 })).keys;
  if (key === undefined) return undefined;
  const [newest] = (await store.listVersions(key, { limit: 1 })).versions;
  return newest?.versionId === NULL_VERSION_ID ? UNVERSIONED_EVENTS : undefined;
}

/** The cursor record of a session: the newest of its versions whose event (if any) was published. */
export interface AnnouncedCursor {
  version_id: string;
}

/** The cursor store key of a session. */
export function announcedKey(sessionId: string): string {
  if (!isSessionId(sessionId)) throw new RangeError('not a session id');
  return `${ANNOUNCED_PREFIX}${sessionId}.json`;
}

/** The version ID an announced cursor record holds. @throws Error when the body is not such a record. */
export function parseAnnouncedCursor(body: string, key: string): string {
  let record: unknown;
  try {
    record = JSON.parse(body);
  } catch (error) {
    throw new Error(`stored object ${key} is not an announced cursor`, { cause: error });
  }
  const versionId = (record as Partial<AnnouncedCursor> | null)?.version_id;
  if (typeof versionId !== 'string' || versionId === '') throw new Error(`stored object ${key} is not an announced cursor`);
  return versionId;
}

/** Announces the changes of sessions; see the module documentation. */
export class Announcer {
  readonly #sessions: VersionedObjectStore;
  readonly #cursors: ObjectStore;
  readonly #publisher: Publisher;
  readonly #depth: number;
  /**
   * The newest version each recent run announced up to, as events read it, so that the next run of that session
   * need not read it again: the previous version of every run is then one this instance has read already.
   */
  readonly #announcedViews = new Map<string, { versionId: string; view: Session }>();

  constructor({ sessions, cursors, publisher, depth = ANNOUNCE_DEPTH }: AnnouncerOptions) {
    if (!(Number.isInteger(depth) && depth >= 1)) throw new RangeError(`depth must be a positive whole number, got ${depth}`);
    this.#sessions = sessions;
    this.#cursors = cursors;
    this.#publisher = publisher;
    this.#depth = depth;
  }

  /** One run for one session: at most `depth` new versions announced, then the cursor moved past them. */
  async announce(sessionId: string): Promise<AnnounceReport> {
    const key = sessionKey(sessionId);
    const cursorKey = announcedKey(sessionId);
    const report: AnnounceReport = { sessionId, versions: 0, published: 0, remaining: false, gap: false, requests: 1 };
    const stored = await this.#cursors.get(cursorKey);
    const announced = stored === undefined ? undefined : parseAnnouncedCursor(stored.body, cursorKey);

    const listing = await this.#newVersions(key, announced);
    report.requests += listing.requests;
    // Every write of a bucket without versions is version "null": one change cannot be told from the next.
    if (listing.newestFirst[0] === NULL_VERSION_ID) return { ...report, unversioned: true };
    const newest = listing.newestFirst;
    const oldestFirst = newest.reverse();
    let previousId = listing.reached ? announced : undefined;
    if (announced !== undefined && !listing.reached) {
      report.gap = true;
      previousId = oldestFirst.shift();
    }
    const batch = oldestFirst.slice(0, this.#depth);
    report.remaining = oldestFirst.length > batch.length;
    const target = batch.at(-1) ?? (report.gap ? previousId : undefined);
    if (target === undefined) return report;

    const remembered = this.#announcedViews.get(sessionId);
    const known = previousId !== undefined && remembered?.versionId === previousId ? remembered.view : undefined;
    const bodies = await this.#read(key, previousId === undefined || known !== undefined ? batch : [previousId, ...batch]);
    report.requests += bodies.length;
    let previous = previousId === undefined ? null : (known ?? bodies.shift()!);
    const events: SessionEvent[] = [];
    for (const [index, versionId] of batch.entries()) {
      const next = bodies[index]!;
      events.push(...sessionEvents(previous, next, versionId));
      previous = next;
    }
    for (let start = 0; start < events.length; start += PUBLISH_BATCH)
      await this.#publisher.publish(events.slice(start, start + PUBLISH_BATCH));
    report.versions = batch.length;
    report.published = events.length;

    const record: AnnouncedCursor = { version_id: target };
    report.requests++;
    try {
      await this.#cursors.put(cursorKey, JSON.stringify(record), stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.etag });
      if (previous !== null && batch.at(-1) === target) this.#remember(sessionId, target, previous);
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
      // Another announcer moved the cursor first; what this run published beyond it will be published again.
      report.remaining = true;
    }
    return report;
  }

  /** Runs {@link announce} until nothing new is left (at most `maxRuns` runs); the reports of the runs that did something. */
  async announceAll(sessionId: string, maxRuns = 1000): Promise<AnnounceReport[]> {
    const reports: AnnounceReport[] = [];
    for (let run = 0; run < maxRuns; run++) {
      const report = await this.announce(sessionId);
      reports.push(report);
      if (!report.remaining) break;
    }
    return reports;
  }

  /** The version IDs newer than `announced`, newest first; `reached` false when the listing ran out before finding it. */
  async #newVersions(key: string, announced: string | undefined): Promise<{ newestFirst: string[]; reached: boolean; requests: number }> {
    const newestFirst: string[] = [];
    let cursor: string | undefined;
    let requests = 0;
    do {
      const page = await this.#sessions.listVersions(key, { limit: requests === 0 ? FIRST_PAGE : MAX_LIST_KEYS, cursor });
      requests++;
      for (const version of page.versions) {
        if (version.versionId === announced) return { newestFirst, reached: true, requests };
        newestFirst.push(version.versionId);
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return { newestFirst, reached: announced === undefined, requests };
  }

  /** Remembers the view of the version a run announced up to (the most recent sessions', a bounded number). */
  #remember(sessionId: string, versionId: string, view: Session): void {
    this.#announcedViews.delete(sessionId);
    this.#announcedViews.set(sessionId, { versionId, view });
    if (this.#announcedViews.size > REMEMBERED_VIEWS) this.#announcedViews.delete(this.#announcedViews.keys().next().value!);
  }

  /** The sessions stored as these versions of `key`, in the same order, read a batch at a time. */
  async #read(key: string, versionIds: string[]): Promise<Session[]> {
    const sessions: Session[] = [];
    for (let start = 0; start < versionIds.length; start += PUBLISH_BATCH) {
      const chunk = versionIds.slice(start, start + PUBLISH_BATCH);
      sessions.push(...(await Promise.all(chunk.map((versionId) => this.#readVersion(key, versionId)))));
    }
    return sessions;
  }

  async #readVersion(key: string, versionId: string): Promise<Session> {
    const stored = await this.#sessions.getVersion(key, versionId);
    // A listed version that cannot be read is a store fault to retry, never a version to skip.
    if (stored === undefined) throw new Error(`version ${versionId} of ${key} was listed but cannot be read`);
    // Events never look at the job list or its outcomes (counts and `last_jobs` say what failed): the view leaves
    // them out, at a cost that does not grow with them.
    const session = sessionEventView(stored.body);
    if (session instanceof Error) throw new Error(`version ${versionId} of ${key} is not a valid session`, { cause: session });
    return session;
  }
}
