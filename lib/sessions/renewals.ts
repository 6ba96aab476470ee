/**
 * The renewal records of leases, in a store that keeps no versions: what a
 * heartbeat writes. One record per session and epoch,
 * `leases/<id>/<epoch>-<seconds>.json`; it can extend that epoch's lease,
 * never issue one (see `lib/domain/lease.ts`). A warm instance remembers the ETag of
 * each record it wrote, so a heartbeat is one conditional PUT.
 *
 * @module
 */

import type { TimeSource } from '../common/clock.ts';
import { LruCache } from '../common/lru-cache.ts';
import { parseRenewalKey, RENEWALS_PREFIX, type Renewal, RenewalSchema, renewalKey, renewalPrefix } from '../domain/lease.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import { ConditionNotMet, type ListedObject, MAX_LIST_KEYS, type PrunableObjectStore, type WriteCondition } from '../storage/port.ts';

/** A renewal record as read: its content and ETag. */
export interface StoredRenewal {
  key: string;
  renewal: Renewal;
  etag: string;
}

/** One renewal record as a listing shows it: which session, epoch and length, and when it was last written. */
export interface ListedRenewal extends ListedObject {
  id: string;
  epoch: number;
  seconds: number;
}

/** What a warm instance remembers of a record it wrote. */
interface RememberedRenewal {
  key: string;
  etag: string;
  epoch: number;
  seconds: number;
  holder: string;
  /** The owner of the session whose lease it is (none: a session stored before owners). */
  owner: string | undefined;
}

/** The renewal records of every session's lease. */
export class RenewalRecords {
  readonly #store: PrunableObjectStore;
  readonly #clock: TimeSource;
  readonly #written: LruCache<string, RememberedRenewal>;

  constructor({ store, clock, cacheSize }: { store: PrunableObjectStore; clock: TimeSource; cacheSize: number }) {
    this.#store = store;
    this.#clock = clock;
    this.#written = new LruCache(cacheSize);
  }

  /** The record of that epoch's lease, or undefined when there is none (or it does not parse: it then extends nothing). */
  async read(id: string, epoch: number, seconds: number): Promise<StoredRenewal | undefined> {
    const key = renewalKey(id, epoch, seconds);
    const stored = await this.#store.get(key);
    if (stored === undefined) return undefined;
    const renewal = parseStoredObject(stored.body, RenewalSchema);
    return renewal instanceof Error ? undefined : { key, renewal, etag: stored.etag };
  }

  /**
   * Writes the record of `holder`'s lease extended to `expiresAt`, on top of
   * `previous` (the version read) or as a new record; the session's `owner` is
   * remembered with it, for the heartbeats that do not read the session.
   * @throws ConditionNotMet when the record changed since it was read.
   */
  async write(
    id: string,
    lease: { epoch: number; seconds: number; holder: string; owner?: string | undefined },
    expiresAt: number,
    previous?: StoredRenewal,
  ): Promise<Renewal> {
    const key = renewalKey(id, lease.epoch, lease.seconds);
    const renewal: Renewal = { session_id: id, epoch: lease.epoch, seconds: lease.seconds, expires_at: expiresAt };
    const condition: WriteCondition = previous === undefined ? { ifNoneMatch: '*' } : { ifMatch: previous.etag };
    const etag = await this.#store.put(key, JSON.stringify(renewal), condition);
    this.#written.set(id, { key, etag, epoch: lease.epoch, seconds: lease.seconds, holder: lease.holder, owner: lease.owner });
    return renewal;
  }

  /**
   * A heartbeat from what this instance remembers, without reading anything:
   * one conditional PUT of the record it last wrote for that epoch. Undefined
   * when it remembers nothing for that epoch, or the record changed since (an
   * acquire, a release or the sweeper touched it), or `allowed` refuses the
   * owner it remembers: then the caller decides from the session.
   */
  async renewRemembered(
    id: string,
    epoch: number,
    extendBy: number | undefined,
    allowed: (owner: string | undefined) => boolean = () => true,
  ): Promise<{ holder: string; renewal: Renewal } | undefined> {
    const remembered = this.#written.get(id);
    if (remembered === undefined || remembered.epoch !== epoch || !allowed(remembered.owner)) return undefined;
    const now = Math.floor(this.#clock.now() / 1000);
    const renewal: Renewal = { session_id: id, epoch, seconds: remembered.seconds, expires_at: now + (extendBy ?? remembered.seconds) };
    try {
      const etag = await this.#store.put(remembered.key, JSON.stringify(renewal), { ifMatch: remembered.etag });
      this.#written.set(id, { ...remembered, etag });
      return { holder: remembered.holder, renewal };
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
      this.#written.delete(id);
      return undefined;
    }
  }

  /**
   * Fences a record before its lease is ended or taken on a lapsed lease: the
   * record is rewritten as extending nothing, `If-Match` the version that was
   * judged lapsed. False when a heartbeat landed meanwhile (the lease lives on).
   */
  async fence(stored: StoredRenewal): Promise<boolean> {
    try {
      await this.#store.put(stored.key, JSON.stringify({ ...stored.renewal, expired: true }), { ifMatch: stored.etag });
      this.#written.delete(stored.renewal.session_id);
      return true;
    } catch (error) {
      if (error instanceof ConditionNotMet) return false;
      throw error;
    }
  }

  /**
   * Deletes the records of a session's lease epochs below `belowEpoch` (all of
   * them when undefined): after a take-over, a release or an expiry, so that a
   * fenced holder's remembered record is gone and its next heartbeat reads the
   * session. One listing, one delete per record.
   */
  async prune(id: string, belowEpoch?: number): Promise<number> {
    const { objects } = await this.#store.listObjects(renewalPrefix(id), { limit: MAX_LIST_KEYS });
    const pruned = objects.filter(({ key }) => belowEpoch === undefined || (parseRenewalKey(key)?.epoch ?? 0) < belowEpoch);
    await Promise.all(pruned.map(({ key }) => this.#store.delete(key)));
    const remembered = this.#written.get(id);
    if (remembered !== undefined && (belowEpoch === undefined || remembered.epoch < belowEpoch)) this.#written.delete(id);
    return pruned.length;
  }

  /** Deletes one record (a stale one the sweeper found). */
  async delete(key: string): Promise<void> {
    await this.#store.delete(key);
    const parsed = parseRenewalKey(key);
    if (parsed !== undefined && this.#written.get(parsed.id)?.key === key) this.#written.delete(parsed.id);
  }

  /** Every record, a page (up to 1,000) at a time, with when each was last written; keys that are not records are skipped. */
  async *list(): AsyncGenerator<ListedRenewal[]> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#store.listObjects(RENEWALS_PREFIX, {
        limit: MAX_LIST_KEYS,
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      yield page.objects.flatMap((object) => {
        const parsed = parseRenewalKey(object.key);
        return parsed === undefined ? [] : [{ ...object, ...parsed }];
      });
      startAfter = page.objects.at(-1)?.key;
      if (!page.truncated || startAfter === undefined) return;
    }
  }
}
