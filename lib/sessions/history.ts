/**
 * The audit trail and undo of a session, built on the versions the object
 * store keeps of `sessions/<id>.json`: every write of a session is a version,
 * so the history is exactly the changes made, atomic with them.
 *
 * - `readHistory` lists a page of versions newest first and describes each
 *   one against the version before it. A page of N entries costs one version
 *   listing (of N + 1 versions) and N + 1 version reads: the oldest entry of a
 *   page needs the version below it to say what it changed. A page also ends
 *   early at `MAX_PAGE_BYTES` of JSON (its cursor continues from there), and
 *   reads no further version once the request's deadline has passed.
 * - `readRestoreTarget` reads the version a restore brings back; the restore
 *   itself is a compare-and-swap of the repository.
 *
 * An entry's `at` is when the store recorded the version (S3's LastModified;
 * the file store's clock at the write), in Unix seconds: the store's time,
 * not the writer's, which stays in the entry's `session.updated_at`.
 *
 * @module
 */

import { decodeOpaqueCursor, encodeOpaqueCursor } from '../domain/cursor.ts';
import { InvalidRequest, SessionNotFound, VersioningDisabled } from '../domain/errors.ts';
import { checkPageLimit, HISTORY_LIMIT, MAX_PAGE_BYTES } from '../domain/limits.ts';
import { type Session, SessionSchema, withJobCounts } from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import * as z from '../domain/zod.ts';
import {
  keepsVersions,
  NULL_VERSION_ID,
  type ObjectStore,
  type ObjectVersion,
  sameEtag,
  UnknownVersion,
  type VersionedObjectStore,
} from '../storage/port.ts';
import { describeChange } from './history-change.ts';

/** Version reads a history page runs at once. */
const READ_CONCURRENCY = 16;
/** What a history page's JSON holds besides its entries: its keys and a cursor (at most 2,048 characters). */
const PAGE_FRAME_BYTES = 4096;

/**
 * A version ID as callers may send it: 1–1024 printable ASCII characters
 * without spaces. S3's IDs are URL-safe strings of at most 1,024 bytes; the
 * file store's are its own; each store then decides whether it knows the ID.
 */
export const VERSION_ID_PATTERN = /^[\x21-\x7e]{1,1024}$/;

/** One version of a session, as the history shows it. */
export interface HistoryEntry {
  version_id: string;
  /** When the store recorded this version, in Unix seconds. */
  at: number;
  /** Who wrote it (`updated_by`), or null when the version does not say. */
  actor: string | null;
  /**
   * What this version changed from the one before it: `created`,
   * `job_added JOB`, `jobs_added N: A, B, …` (several at once),
   * `job JOB started`, `job JOB failed (exit 2)`, `job JOB succeeded` (an outcome recorded),
   * `job_removed JOB` / `jobs_removed N: …`, `status A→B`,
   * `restored VERSION`, several of these joined by `; `, `unchanged` (nothing
   * but the time and the writer), or `older versions expired` (the oldest
   * version kept is not the session's creation).
   */
  change: string;
  /** The session as this version stored it. */
  session: Session;
}

/** Which page of a session's history to read. */
export interface SessionHistoryOptions {
  /** 1–100, default 20. */
  limit?: number | undefined;
  /** From a previous page's `nextCursor`. */
  cursor?: string | undefined;
  /** Aborted when the request's deadline has passed: no further version is read. */
  signal?: AbortSignal | undefined;
}

/** One page of a session's history. */
export interface SessionHistoryPage {
  /** Newest first. */
  versions: HistoryEntry[];
  /** Where the next (older) page starts, or null when this one reaches the oldest version. */
  nextCursor: string | null;
}

/** Something a history read skipped, worth a log line. */
export interface HistoryWarning {
  message: string;
  key: string;
  error: unknown;
}

const HistoryCursorSchema = z.strictObject({ v: z.string().check(z.regex(VERSION_ID_PATTERN)) });

/** The opaque cursor of a history page: the version ID of its last entry. */
export function encodeHistoryCursor(versionId: string): string {
  return encodeOpaqueCursor({ v: versionId });
}

/** The version ID a history cursor resumes after. @throws InvalidRequest for anything this service did not issue. */
export function decodeHistoryCursor(cursor: string): string {
  return decodeOpaqueCursor(cursor, HistoryCursorSchema, 2048).v;
}

/**
 * A page of the history of session `id` (stored at `key`), newest first.
 * A version that vanished between the listing and its read (an expired old
 * version) or does not hold this session is left out, the latter with a warning.
 * @throws SessionNotFound when the key has no version at all.
 * @throws VersioningDisabled when the store keeps no versions of it: not a
 *   versioned store, or the current object is S3's "null" version (written
 *   while the bucket kept no versions).
 * @throws InvalidRequest for a bad limit or cursor; StoreFault.
 */
export async function readHistory(
  store: ObjectStore,
  key: string,
  id: string,
  { limit = HISTORY_LIMIT.default, cursor, signal }: SessionHistoryOptions = {},
  onWarning: (warning: HistoryWarning) => void = () => {},
): Promise<SessionHistoryPage> {
  checkPageLimit(limit, HISTORY_LIMIT);
  const after = cursor === undefined ? undefined : decodeHistoryCursor(cursor);
  if (!keepsVersions(store)) throw new VersioningDisabled();
  let listed: ObjectVersion[];
  try {
    listed = (await store.listVersions(key, { limit: limit + 1, ...(after === undefined ? {} : { cursor: after }) })).versions;
  } catch (error) {
    if (error instanceof UnknownVersion) throw InvalidRequest.field('query.cursor', 'names a version this session no longer has');
    throw error;
  }
  if (after === undefined) checkVersioned(listed[0], id);

  // Versions are read a window at a time, in order, until the page is full in count or in bytes.
  const read: (Omit<HistoryEntry, 'change'> | undefined)[] = [];
  const readThrough = async (index: number): Promise<void> => {
    while (read.length <= index && read.length < listed.length) {
      signal?.throwIfAborted();
      const window = listed.slice(read.length, read.length + READ_CONCURRENCY);
      read.push(...(await mapBounded(window, READ_CONCURRENCY, (version) => readEntry(store, key, id, version, onWarning))));
    }
  };
  const versions: HistoryEntry[] = [];
  // The page's JSON so far: the keys and the cursor around its entries, a comma between them.
  let bytes = PAGE_FRAME_BYTES;
  const pageEnd = Math.min(limit, listed.length);
  for (let index = 0; index < pageEnd; index++) {
    await readThrough(index);
    const entry = read[index];
    if (entry === undefined) continue;
    let older: Omit<HistoryEntry, 'change'> | undefined;
    for (let below = index + 1; below < listed.length && older === undefined; below++) {
      await readThrough(below);
      older = read[below];
    }
    const described = { ...entry, change: describeChange(entry.session, older?.session) };
    const size = Buffer.byteLength(JSON.stringify(described), 'utf-8') + 1;
    // A page ends before the entry that would take it past the byte bound; it always holds one, so paging moves on.
    if (versions.length > 0 && bytes + size > MAX_PAGE_BYTES) {
      return { versions, nextCursor: encodeHistoryCursor(listed[index - 1]!.versionId) };
    }
    bytes += size;
    versions.push(described);
  }
  const last = listed.length > limit ? listed[limit - 1] : undefined;
  return { versions, nextCursor: last === undefined ? null : encodeHistoryCursor(last.versionId) };
}

/**
 * The session as version `versionId` of `key` stored it: the content a
 * restore makes current again. One version read; when that finds nothing
 * (or S3's "null" version), one listing of the latest version to say why.
 * @throws InvalidRequest (`body.version_id`) when the session has no such version.
 * @throws SessionNotFound, VersioningDisabled, StoreFault.
 */
export async function readRestoreTarget(store: ObjectStore, key: string, id: string, versionId: string): Promise<Session> {
  const notOurs = InvalidRequest.field('body.version_id', `is not a version of session ${id}`);
  if (!VERSION_ID_PATTERN.test(versionId)) throw notOurs;
  if (!keepsVersions(store)) throw new VersioningDisabled();
  const stored = await store.getVersion(key, versionId);
  if (stored === undefined || versionId === NULL_VERSION_ID) {
    const latest = (await store.listVersions(key, { limit: 1 })).versions[0];
    checkVersioned(latest, id);
    if (stored === undefined) throw notOurs;
  }
  const session = parseStoredObject(stored.body, SessionSchema);
  if (session instanceof Error || session.id !== id) throw notOurs;
  return withJobCounts(session);
}

/** How many of the newest versions `landedAfter` looks through. */
const LANDED_SCAN = 20;

/**
 * Whether `body` is one of the versions of `key` written after the version
 * with ETag `baseEtag`: a write conditioned on that version that landed though
 * it was reported as failed, whatever was written after it. Looks through the
 * newest versions, down to that one; false on a store that keeps none.
 * @throws StoreFault.
 */
export async function landedAfter(store: ObjectStore, key: string, baseEtag: string, body: string): Promise<boolean> {
  if (!keepsVersions(store)) return false;
  const { versions } = await store.listVersions(key, { limit: LANDED_SCAN });
  for (const version of versions) {
    if (sameEtag(version.etag, baseEtag)) return false;
    const stored = await store.getVersion(key, version.versionId);
    if (stored?.body === body) return true;
  }
  return false;
}

/** Whether a restore of `target` onto `current` would change anything but the time, the writer and the lease. */
export function sameContent(current: Session, target: Session): boolean {
  return contentOf(current) === contentOf(target);
}

/** The session a restore writes: the target's content; the repository stamps time, writer and `restored_from`. */
export function restoredSession(target: Session, current: Session): Session {
  // The owner is the current one's: a restore never changes who owns the session.
  const { updated_by: _writer, restored_from: _restore, lease: _lease, owner: _owner, ...content } = target;
  const owned = current.owner === undefined ? content : { ...content, owner: current.owner };
  return current.lease === undefined ? owned : { ...owned, lease: current.lease };
}

function contentOf(session: Session): string {
  const { updated_at: _time, updated_by: _writer, restored_from: _restore, lease: _lease, owner: _owner, ...content } = session;
  return JSON.stringify(Object.entries(content).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The newest version tells: none at all, the session does not exist; S3's "null" one, the store keeps no versions of it. */
function checkVersioned(latest: ObjectVersion | undefined, id: string): void {
  if (latest === undefined) throw new SessionNotFound(id);
  if (latest.versionId === NULL_VERSION_ID) throw new VersioningDisabled();
}

async function readEntry(
  store: VersionedObjectStore,
  key: string,
  id: string,
  version: ObjectVersion,
  onWarning: (warning: HistoryWarning) => void,
): Promise<Omit<HistoryEntry, 'change'> | undefined> {
  const stored = await store.getVersion(key, version.versionId);
  if (stored === undefined) return undefined;
  const session = parseStoredObject(stored.body, SessionSchema);
  if (session instanceof Error || session.id !== id) {
    onWarning({
      message: `skipped version ${version.versionId}: it does not hold session ${id}`,
      key,
      error: session instanceof Error ? session : undefined,
    });
    return undefined;
  }
  return {
    version_id: version.versionId,
    at: Math.floor(version.lastModified.getTime() / 1000),
    actor: session.updated_by ?? null,
    session: withJobCounts(session),
  };
}

/** `task` over `items` in order, at most `width` at a time. */
async function mapBounded<T, R>(items: T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]!);
      }
    }),
  );
  return results;
}
