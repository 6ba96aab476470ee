import { createHash } from 'node:crypto';
import { idFromKey, isSessionId, SESSIONS_PREFIX, sessionKey } from '../domain/ids.ts';

/** Every name index entry lives under this prefix. */
export const NAMES_PREFIX = 'names/';

const INDEX_KEY = /^names\/[0-9a-f]{64}\/([0-9a-f]{32})\.json$/;

/**
 * The name index: one create-only object per named session,
 * `names/<sha256(name) hex>/<id>.json`, written before the session itself.
 *
 * Hashing keeps arbitrary Unicode names out of keys and gives every name a
 * prefix of its own, so the sessions of one name are a plain prefix listing,
 * newest first like the sessions themselves (IDs sort newest first). An entry
 * proves nothing on its own: a reader keeps it only when the session it names
 * exists and carries exactly that name, so an interrupted create (entry
 * written, session not) and a hash collision are both invisible.
 */
export function nameIndexPrefix(name: string): string {
  return `${NAMES_PREFIX}${createHash('sha256').update(name, 'utf-8').digest('hex')}/`;
}

/** The index entry of session `id` under `name`. Only ever called with a validated ID. */
export function nameIndexKey(name: string, id: string): string {
  if (!isSessionId(id)) throw new RangeError('not a session id');
  return `${nameIndexPrefix(name)}${id}.json`;
}

/** The session ID an index entry points at, or undefined when the key is not an index entry. */
export function idFromNameIndexKey(key: string): string | undefined {
  return INDEX_KEY.exec(key)?.[1];
}

/** The body of an entry: the name in full, so that an operator can tell a hash collision apart, and the session ID. */
export function nameIndexBody(name: string, id: string): string {
  return JSON.stringify({ name, session_id: id });
}

/**
 * Where a listing finds its keys: every session (`sessions/`), or the index
 * entries of one name. Either way a cursor is only a session ID, resolved
 * against the prefix of the request it comes with, so it cannot move a
 * listing to another prefix.
 */
export interface ListingScope {
  prefix: string;
  /** The key a listing resumes after, for the last ID of the previous page. */
  keyOf(id: string): string;
  /** The session ID a listed key names, or undefined for a key that is no entry of this scope. */
  idOf(key: string): string | undefined;
}

/** The scope of a listing of every session, or of the sessions named `name`. */
export function listingScope(name: string | undefined): ListingScope {
  if (name === undefined) return { prefix: SESSIONS_PREFIX, keyOf: sessionKey, idOf: idFromKey };
  return { prefix: nameIndexPrefix(name), keyOf: (id) => nameIndexKey(name, id), idOf: idFromNameIndexKey };
}
