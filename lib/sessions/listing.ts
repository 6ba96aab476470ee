/**
 * Listing sessions (`GET /sessions`), newest first, in three modes: every
 * session (a prefix listing of the sessions), one name (its name index
 * entries), one status (its status index entries once the index is complete,
 * else a filtered scan); and the backfill that completes the status index.
 * Every page is bounded by count, by the keys it may scan, and by the bytes of
 * the sessions it holds (`MAX_PAGE_BYTES`): it ends early and its cursor continues.
 *
 * @module
 */

import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { idFromKey, SESSIONS_PREFIX, sessionKey } from '../domain/ids.ts';
import { MAX_PAGE_BYTES, SESSION_LIST_LIMIT } from '../domain/limits.ts';
import { type Session, SessionSchema, type SessionStatus, withJobCounts } from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import { MAX_LIST_KEYS } from '../storage/port.ts';
import { nowSeconds, requireId, type SessionsContext, withCurrentLease } from './context.ts';
import { listingScope } from './name-index.ts';
import { statusListingScope } from './status-index.ts';

/** Which page of sessions to list (the route's query schema checks the values). */
export interface ListSessionsOptions {
  /** 1–100, default 50. */
  limit?: number | undefined;
  /** From a previous page's `nextCursor`. */
  cursor?: string | undefined;
  status?: SessionStatus | undefined;
  /** Only the sessions with exactly this name, read through the name index. */
  name?: string | undefined;
}

export interface ListResult {
  /** Newest first. */
  sessions: Session[];
  /** Where the next page starts, or null when there is none. */
  nextCursor: string | null;
  /** Keys examined to build this page. */
  scanned: number;
}

/** What one step of the status index backfill did. */
export interface StatusBackfill {
  /** Session keys walked in this step. */
  indexed: number;
  /** True once every session has its entry and the record says so. */
  complete: boolean;
}

/** A listed session and the size of its stored JSON, in UTF-8 bytes. */
interface Listed {
  session: Session;
  bytes: number;
}

const LIST_READ_CONCURRENCY = 32;

/**
 * A page of sessions, newest first: a prefix listing in key order. With a
 * status filter it reads further until the page is full or the scan budget
 * is spent, then hands back a cursor. Objects that do not parse are skipped
 * and reported through `onWarning`. With a name it lists that name's index
 * entries instead (one LIST and one read per entry, however many other
 * sessions exist) and keeps an entry only when its session exists and
 * carries exactly that name. With a status (and no name), once the status
 * index is complete, it lists that status's index entries instead and keeps
 * an entry only when its session is in that status. A page holds at least one
 * session, and no more than fit in `MAX_PAGE_BYTES`.
 * @throws InvalidRequest (`query.cursor`) for a cursor this service did not issue.
 */
export async function listSessions(
  context: SessionsContext,
  { limit = SESSION_LIST_LIMIT.default, cursor, status, name }: ListSessionsOptions = {},
): Promise<ListResult> {
  const indexed = status !== undefined && name === undefined && (await context.statusIndex.isComplete());
  const scope = indexed ? statusListingScope(status) : listingScope(name);
  const keys = indexed ? context.statusIndex.store : context.store;
  let after = cursor === undefined ? undefined : scope.keyOf(decodeCursor(cursor));
  const budget = context.config.listScanBudget;
  const sessions: Session[] = [];
  let bytes = 0;
  let scanned = 0;
  let lastId: string | undefined;
  let more = true;
  let full = false;
  while (more && !full && sessions.length < limit && scanned < budget) {
    // Unfiltered, every key is a match: list exactly what is missing. Filtered, list ahead
    // (one LIST returns up to 1,000 keys) and read only as many as the page still needs.
    const pageSize = Math.min(MAX_LIST_KEYS, status === undefined || indexed ? limit - sessions.length : budget - scanned);
    const page = await keys.list(scope.prefix, { limit: pageSize, ...(after === undefined ? {} : { startAfter: after }) });
    let consumed = 0;
    while (!full && consumed < page.keys.length && sessions.length < limit && scanned < budget) {
      const width = Math.min(LIST_READ_CONCURRENCY, limit - sessions.length, budget - scanned);
      const chunk = page.keys.slice(consumed, consumed + width);
      const read = await Promise.all(chunk.map((key) => readListed(context, scope.idOf(key))));
      for (const [offset, listed] of read.entries()) {
        const key = chunk[offset]!;
        // An index entry counts only when its session exists with that very name (interrupted creates, hash collisions).
        const session = listed?.session;
        const matches =
          session !== undefined && (name === undefined || session.name === name) && (status === undefined || session.status === status);
        // A session that would take the page past its bytes starts the next page (a page holds at least one).
        if (matches && sessions.length > 0 && bytes + listed!.bytes > MAX_PAGE_BYTES) {
          full = true;
          break;
        }
        consumed++;
        scanned++;
        after = key;
        lastId = scope.idOf(key) ?? lastId;
        if (matches) {
          sessions.push(session);
          bytes += listed!.bytes;
        }
        if (sessions.length >= limit) break;
      }
    }
    more = consumed < page.keys.length || (page.truncated && page.keys.length > 0);
  }
  const shown = await Promise.all(sessions.map((session) => withCurrentLease(context, session)));
  return { sessions: shown, nextCursor: more && lastId !== undefined ? encodeCursor(lastId) : null, scanned };
}

/**
 * One step of the status index backfill: gives the sessions after the last
 * one walked (at most `limit` of them) the entry of their current status,
 * and records how far it got in `indexes/status.json` — complete once the
 * walk reached the end; status listings read the index from then on.
 * Re-runnable and resumable, and safe beside writers (they keep the entries
 * of what they change) and beside another backfill (compare-and-swap on the
 * record). A no-op once complete.
 */
export async function backfillStatusIndex(
  context: SessionsContext,
  { limit = Number.POSITIVE_INFINITY }: { limit?: number } = {},
): Promise<StatusBackfill> {
  const { statusIndex } = context;
  if (statusIndex.knownComplete) return { indexed: 0, complete: true };
  const { record, etag } = await statusIndex.progress();
  if (record?.complete) return { indexed: 0, complete: true };
  let startAfter = record?.after === undefined ? undefined : sessionKey(requireId(record.after));
  let indexed = 0;
  let complete = false;
  while (!complete && indexed < limit) {
    const page = await context.store.list(SESSIONS_PREFIX, {
      limit: Math.min(MAX_LIST_KEYS, limit - indexed),
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    for (let start = 0; start < page.keys.length; start += LIST_READ_CONCURRENCY) {
      const chunk = page.keys.slice(start, start + LIST_READ_CONCURRENCY);
      const listed = await Promise.all(chunk.map((key) => readListed(context, idFromKey(key))));
      await Promise.all(listed.map((entry) => entry && statusIndex.enter(entry.session.status, entry.session.id)));
      indexed += chunk.length;
    }
    startAfter = page.keys.at(-1) ?? startAfter;
    complete = !page.truncated || page.keys.length === 0;
  }
  const after = startAfter === undefined ? undefined : idFromKey(startAfter);
  await statusIndex.recordProgress({ complete, ...(complete ? {} : { after }), at: nowSeconds(context) }, etag);
  return { indexed, complete };
}

/** The session a listed key names, or undefined when there is none or it does not parse (then a warning). */
async function readListed(context: SessionsContext, id: string | undefined): Promise<Listed | undefined> {
  if (id === undefined) return undefined;
  const key = sessionKey(id);
  const stored = await context.store.get(key);
  if (stored === undefined) return undefined;
  const session = parseStoredObject(stored.body, SessionSchema);
  if (session instanceof Error) {
    context.onWarning({ message: 'skipped a stored object that is not a valid session', key, error: session });
    return undefined;
  }
  // A session stored before counts were kept is answered with them: the page's bytes count them too.
  const counted = withJobCounts(session);
  const added = counted === session ? 0 : `,"job_counts":${JSON.stringify(counted.job_counts)}`.length;
  return { session: counted, bytes: Buffer.byteLength(stored.body, 'utf-8') + added };
}
