/**
 * The status index: one create-only entry per session and status it is in,
 * `status/<status>/<id>.json`, in the store without versions (deployed, the
 * leases bucket), so that `GET /sessions?status=S` lists the entries of S —
 * a cost that grows with the sessions in S, not with every stored session.
 *
 * An entry is a hint, never the authority: a listing keeps it only when the
 * session exists and is in that status. The protocol that keeps every session
 * findable under its current status, whatever the interleaving:
 *
 * - a change into status S creates S's entry before its compare-and-swap
 *   (a crash after it leaves an extra entry, which readers skip) and again
 *   after it lands (a concurrent `leave` may have deleted it meanwhile); a
 *   create makes its entry only before, since nothing deletes the entry of a
 *   session that does not exist yet;
 * - a change out of S, once landed, deletes S's entry, then reads the session
 *   again and, if it is in S once more (another writer moved it back), creates
 *   the entry again.
 *
 * Whatever deletes an entry reads the session afterwards, and whatever moves
 * a session into S creates the entry after its write: so the last write into
 * S is followed by a create of S's entry, and any delete after that create is
 * followed by a read that sees S and creates it again.
 *
 * Sessions stored before the index existed have no entries: until the
 * backfill has walked every session and recorded that in
 * `indexes/status.json`, a status listing scans the sessions as before.
 *
 * @module
 */

import { isSessionId } from '../domain/ids.ts';
import type { SessionStatus } from '../domain/session.ts';
import { ConditionNotMet, type ObjectStore, type PrunableObjectStore } from '../storage/port.ts';
import type { ListingScope } from './name-index.ts';

/** Every status index entry lives under this prefix. */
export const STATUS_PREFIX = 'status/';

/**
 * The backfill's record: how far it walked the sessions (`after`, a session
 * ID), then `complete` once every session stored before the index has its
 * entry; from then on status listings read the index.
 */
export const STATUS_INDEXED_KEY = 'indexes/status.json';

/** Where the backfill records of indexes live: a prefix of their own, apart from the entries. */
export const INDEXES_PREFIX = 'indexes/';

/** The backfill's record, as stored. */
export interface BackfillProgress {
  complete: boolean;
  /** The last session ID walked, while not complete. */
  after?: string | undefined;
  /** Unix seconds of the last step. */
  at: number;
}

const ENTRY_KEY = /^status\/(?:active|paused|completed|terminated)\/([0-9a-f]{32})\.json$/;

/** The prefix of the entries of `status`. */
export function statusIndexPrefix(status: SessionStatus): string {
  return `${STATUS_PREFIX}${status}/`;
}

/** The entry of session `id` under `status`. Only ever called with a validated ID. */
export function statusIndexKey(status: SessionStatus, id: string): string {
  if (!isSessionId(id)) throw new RangeError('not a session id');
  return `${statusIndexPrefix(status)}${id}.json`;
}

/** The session ID an entry names, or undefined when the key is not an entry. */
export function idFromStatusIndexKey(key: string): string | undefined {
  return ENTRY_KEY.exec(key)?.[1];
}

/** The scope of a listing of the entries of `status`; its cursors are session IDs, as every listing's. */
export function statusListingScope(status: SessionStatus): ListingScope {
  return { prefix: statusIndexPrefix(status), keyOf: (id) => statusIndexKey(status, id), idOf: idFromStatusIndexKey };
}

/** Reads a session's status fresh from the store: undefined when there is no such session. */
export type StatusReader = (id: string) => Promise<SessionStatus | undefined>;

/** The status index of one store. */
export class StatusIndex {
  readonly #store: PrunableObjectStore;
  #indexed = false;

  /** `store`: one that can delete (deployed, the leases bucket). */
  constructor(store: PrunableObjectStore) {
    this.#store = store;
  }

  /** The store the entries live in (a listing lists it). */
  get store(): ObjectStore {
    return this.#store;
  }

  /** Makes the entry of `id` under `status`; one already there is fine. */
  async enter(status: SessionStatus, id: string): Promise<void> {
    try {
      await this.#store.put(statusIndexKey(status, id), entryBody(status, id), { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }

  /**
   * Deletes the entry of `id` under `status`, then reads the session's
   * status afresh and makes the entry again if the session is in `status`
   * (another writer moved it back meanwhile).
   */
  async leave(status: SessionStatus, id: string, read: StatusReader): Promise<void> {
    await this.#store.delete(statusIndexKey(status, id));
    if ((await read(id)) === status) await this.enter(status, id);
  }

  /** True once this instance has seen the backfill complete (it is never undone, so nothing needs reading again). */
  get knownComplete(): boolean {
    return this.#indexed;
  }

  /** True once the backfill finished: every session has its entry. */
  async isComplete(): Promise<boolean> {
    return this.#indexed || (await this.progress()).record?.complete === true;
  }

  /** The backfill's record and its ETag; no record before the first step. */
  async progress(): Promise<{ record: BackfillProgress | undefined; etag: string | undefined }> {
    const stored = await this.#store.get(STATUS_INDEXED_KEY);
    if (stored === undefined) return { record: undefined, etag: undefined };
    const record = JSON.parse(stored.body) as BackfillProgress;
    if (typeof record?.complete !== 'boolean') throw new Error(`stored object ${STATUS_INDEXED_KEY} is not a backfill record`);
    if (record.complete) this.#indexed = true;
    return { record, etag: stored.etag };
  }

  /**
   * Records a step of the backfill by compare-and-swap on the record read
   * before it (`etag`; none: the first). False when another backfill moved it
   * first (its own step stands; the entries both made are the same).
   */
  async recordProgress(record: BackfillProgress, etag: string | undefined): Promise<boolean> {
    try {
      await this.#store.put(STATUS_INDEXED_KEY, JSON.stringify(record), etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
      return false;
    }
    if (record.complete) this.#indexed = true;
    return true;
  }
}

/** The body of an entry: what its key says, for an operator reading the bucket. */
function entryBody(status: SessionStatus, id: string): string {
  return JSON.stringify({ session_id: id, status });
}
