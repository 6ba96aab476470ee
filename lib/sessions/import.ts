/**
 * Importing exported sessions (`runner-sessions export`, one session per line
 * in the wire format) straight into a store: an operator's tool, not a route.
 *
 * A session is written as a create does it (see `SessionRepository`'s
 * `createSession`): its name index entry, then its status index entry, then the
 * session itself create-only (`If-None-Match: *`), then the renewal record of
 * a lease that is still open, so that the sweeper finds it when it lapses.
 * Every field is kept as given, unknown ones included. Nothing is ever
 * overwritten: a session that is already there with the same content is left
 * alone, one with other content is reported and left alone. History is not
 * carried: an imported session has one version, its import.
 *
 * @module
 */

import { isDeepStrictEqual } from 'node:util';
import { systemClock } from '../common/clock.ts';
import { sessionKey } from '../domain/ids.ts';
import { sessionJson } from '../domain/job-list.ts';
import { currentLease, openLease } from '../domain/lease.ts';
import { type Session, SessionSchema } from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import { ConditionNotMet, type ObjectStore, type PrunableObjectStore } from '../storage/port.ts';
import { nameIndexBody, nameIndexKey } from './name-index.ts';
import { RenewalRecords } from './renewals.ts';
import { StatusIndex } from './status-index.ts';

/** What importing one session did: written, already there with this content, or there with other content (left alone). */
export type ImportOutcome = 'imported' | 'identical' | 'conflict';

/** The stores an import writes to: the sessions and their name index, and the soft state (status index, lease renewals). */
export interface ImportStores {
  sessions: ObjectStore;
  state: PrunableObjectStore;
}

/** A line of an export as a session, or why it is not one. */
export function parseExportedSession(line: string): Session | Error {
  const parsed = parseStoredObject(line, SessionSchema);
  if (!(parsed instanceof Error)) return parsed;
  if (parsed instanceof SyntaxError) return new Error(`not JSON (${parsed.message})`);
  const issue = (parsed as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
  if (issue === undefined) return new Error(`not a session (${parsed.message})`);
  return new Error(`not a session: ${issue.path.map(String).join('.') || 'the line'} ${issue.message}`);
}

/** Writes sessions into a store as their creation would have, create-only. */
export class SessionImporter {
  readonly #sessions: ObjectStore;
  readonly #statusIndex: StatusIndex;
  readonly #renewals: RenewalRecords;

  constructor({ sessions, state }: ImportStores) {
    this.#sessions = sessions;
    this.#statusIndex = new StatusIndex(state);
    this.#renewals = new RenewalRecords({ store: state, clock: systemClock, cacheSize: 1 });
  }

  /**
   * Imports one session. Safe to repeat and to run beside a server on the
   * same store: the session write is create-only, and the index entries it
   * makes first are hints that readers check against the session.
   * @throws StoreFault when the store failed; the session may or may not be there (importing it again settles it).
   */
  async importSession(session: Session): Promise<ImportOutcome> {
    const key = sessionKey(session.id);
    // Read first, so that a session already there gets no index entries of the imported content.
    const existing = await this.#sessions.get(key);
    if (existing !== undefined) return this.#compare(existing.body, session);
    if (session.name !== null)
      await this.#createOnly(this.#sessions, nameIndexKey(session.name, session.id), nameIndexBody(session.name, session.id));
    await this.#statusIndex.enter(session.status, session.id);
    try {
      await this.#sessions.put(key, sessionJson(session), { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
      const written = await this.#sessions.get(key);
      return written === undefined ? 'conflict' : this.#compare(written.body, session);
    }
    await this.#startRenewal(session);
    return 'imported';
  }

  /** Whether the stored body holds `session`, as a reader is shown it (the lease as heartbeats extended it). */
  async #compare(body: string, session: Session): Promise<ImportOutcome> {
    const stored = parseStoredObject(body, SessionSchema);
    if (stored instanceof Error) return 'conflict';
    const lease = openLease(stored);
    const renewal = lease === undefined ? undefined : await this.#renewals.read(stored.id, lease.epoch, lease.seconds);
    const shown = lease === undefined ? stored : { ...stored, lease: currentLease(stored, renewal?.renewal) };
    if (!isDeepStrictEqual(shown, session) && !isDeepStrictEqual(stored, session)) return 'conflict';
    // An earlier import may have stopped between the session and its renewal record.
    if (renewal === undefined) await this.#startRenewal(stored);
    return 'identical';
  }

  /** The renewal record of a lease still open, as a create makes it: what lets the sweeper find the lease when it lapses. */
  async #startRenewal(session: Session): Promise<void> {
    const lease = openLease(session);
    if (lease === undefined) return;
    try {
      await this.#renewals.write(session.id, lease, lease.expires_at);
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }

  async #createOnly(store: ObjectStore, key: string, body: string): Promise<void> {
    try {
      await store.put(key, body, { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }
}
