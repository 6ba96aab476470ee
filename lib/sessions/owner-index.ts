/**
 * The owner index: one create-only entry per session and owner,
 * `owners/<sha256(owner) hex>/<id>.json`, in the store without versions
 * (deployed, the leases bucket), written before the session itself when it is
 * created (and before an adoption), so that `GET /sessions?owner=me` lists the
 * caller's own sessions, newest first like the sessions, at a cost that grows
 * with that page, not with every stored session.
 *
 * An entry proves nothing on its own: a listing keeps it only when the session
 * it names exists and carries exactly that owner, so an interrupted create
 * (entry written, session not) and an entry left by an owner since replaced
 * are invisible. Sessions stored before owners have no owner and no entry:
 * only plain listings show them (to operators, and to everyone under
 * `readers: account`).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { isSessionId } from '../domain/ids.ts';
import { ConditionNotMet, type ObjectStore } from '../storage/port.ts';
import type { ListingScope } from './name-index.ts';

/** Every owner index entry lives under this prefix. */
export const OWNERS_PREFIX = 'owners/';

const ENTRY_KEY = /^owners\/[0-9a-f]{64}\/([0-9a-f]{32})\.json$/;

/** The prefix of the entries of `owner`. */
export function ownerIndexPrefix(owner: string): string {
  return `${OWNERS_PREFIX}${createHash('sha256').update(owner, 'utf-8').digest('hex')}/`;
}

/** The entry of session `id` under `owner`. Only ever called with a validated ID. */
export function ownerIndexKey(owner: string, id: string): string {
  if (!isSessionId(id)) throw new RangeError('not a session id');
  return `${ownerIndexPrefix(owner)}${id}.json`;
}

/** The session ID an entry names, or undefined when the key is not an entry. */
export function idFromOwnerIndexKey(key: string): string | undefined {
  return ENTRY_KEY.exec(key)?.[1];
}

/** The scope of a listing of the sessions of `owner`; its cursors are session IDs, as every listing's. */
export function ownerListingScope(owner: string): ListingScope {
  return { prefix: ownerIndexPrefix(owner), keyOf: (id) => ownerIndexKey(owner, id), idOf: idFromOwnerIndexKey };
}

/** The owner index of one store. */
export class OwnerIndex {
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** The store the entries live in (a listing lists it). */
  get store(): ObjectStore {
    return this.#store;
  }

  /** Makes the entry of `id` under `owner`; one already there (an earlier attempt's) is fine. */
  async enter(owner: string, id: string): Promise<void> {
    try {
      await this.#store.put(ownerIndexKey(owner, id), JSON.stringify({ owner, session_id: id }), { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }
}
