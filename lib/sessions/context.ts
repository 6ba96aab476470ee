/**
 * What every use case of lib/sessions works over: the stores and the records
 * kept in them, the clock, the limits, and where warnings go. Built once by
 * `SessionRepository` (lib/sessions/repository.ts) from what its caller passes;
 * each use case takes it as its first argument.
 *
 * @module
 */

import type { Clock } from '../common/clock.ts';
import type { ServiceConfig } from '../domain/config.ts';
import { InvalidRequest, SessionNotFound } from '../domain/errors.ts';
import { isSessionId, sessionKey } from '../domain/ids.ts';
import { sessionJson } from '../domain/job-list.ts';
import { currentLease, needsRenewal, openLease, type Renewal } from '../domain/lease.ts';
import type { Caller } from '../domain/owner.ts';
import { endingWriteTags } from '../domain/retention.ts';
import { type Session, SessionSchema, withJobCounts } from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import type { Codec, CompareAndSwap, StoredVersion } from '../storage/compare-and-swap.ts';
import type { ObjectStore } from '../storage/port.ts';
import type { IdempotencyRecords } from './idempotency.ts';
import type { OwnerIndex } from './owner-index.ts';
import type { RenewalRecords } from './renewals.ts';
import type { StatusIndex } from './status-index.ts';

/** Something worth a log line that is not an error of the request itself. */
export interface RepositoryWarning {
  message: string;
  key: string;
  error: unknown;
}

/** The collaborators of the session use cases. */
export interface SessionsContext {
  /** The sessions and their name index entries (deployed: the versioned bucket). */
  readonly store: ObjectStore;
  readonly config: Readonly<ServiceConfig>;
  readonly clock: Clock;
  /** The ID of a session created at `unixMs`. */
  readonly newId: (unixMs: number) => string;
  readonly onWarning: (warning: RepositoryWarning) => void;
  /** Compare-and-swap of sessions, with its cache of the versions last read or written. */
  readonly sessions: CompareAndSwap<Session>;
  readonly idempotency: IdempotencyRecords;
  /** The lease renewal records (in the store without versions). */
  readonly renewals: RenewalRecords;
  /** The status index (in the store without versions). */
  readonly statusIndex: StatusIndex;
  /** The owner index (in the store without versions). */
  readonly ownerIndex: OwnerIndex;
}

/** A session together with the ETag of the stored version it was read from or written as. */
export interface SessionVersion {
  session: Session;
  etag: string;
}

/** The outcome of a change: the session as it now stands and what it took to get there. */
export interface ChangeResult extends SessionVersion {
  /** False when the change was already in place and nothing was written. */
  changed: boolean;
  /** Conditional writes sent (0 when nothing needed writing). */
  attempts: number;
  /** Writes refused because another writer got there first. */
  conflicts: number;
  /** The stored version the write replaced (retention: a restore untags it when it was an ending). */
  replacedVersion?: StoredVersion<Session> | undefined;
}

/** How a change to a session is made. */
export interface SessionChangeOptions {
  /** Apply the change only to this version (the caller's `If-Match`). */
  ifMatch?: string | undefined;
  /** Who makes the change; stored as `updated_by`. */
  actor?: string | undefined;
  /** Whose change it is: refused (`Forbidden`) unless the session's owner or an operator. Undefined: the service's own (the sweeper). */
  caller?: Caller | undefined;
  /** The caller's `Lease-Epoch`: the change is the lease holder's, and lands only while that epoch's lease is live. */
  leaseEpoch?: number | undefined;
}

/** Sessions as stored: JSON that must match the session schema. */
export const SESSION_CODEC: Codec<Session> = {
  parse(body, key) {
    const session = parseStoredObject(body, SessionSchema);
    if (session instanceof Error) throw new Error(`stored object ${key} is not a valid session`, { cause: session });
    // A session stored before counts were kept answers with them counted, and its next write stores them.
    return withJobCounts(session);
  },
  // JSON.stringify(session), without re-encoding every job on each append.
  serialise: sessionJson,
  // Retention: every write that leaves a session ended carries the ended tag (lifecycle expires such versions).
  writeOptions: (session) => endingWriteTags(session.status),
};

/** Unix seconds now. */
export function nowSeconds(context: SessionsContext): number {
  return Math.floor(context.clock.now() / 1000);
}

/**
 * A session ID that names a session key: the one check the use cases make of
 * an ID themselves, since it becomes part of a store key.
 * @throws InvalidRequest (`path.id`)
 */
export function requireId(id: string): string {
  if (!isSessionId(id)) throw InvalidRequest.field('path.id', 'must be 32 lowercase hexadecimal characters');
  return id;
}

/** The current version of session `id`, read fresh (and remembered). @throws SessionNotFound */
export async function readSession(context: SessionsContext, id: string): Promise<StoredVersion<Session>> {
  const current = await context.sessions.read(sessionKey(id));
  if (current === undefined) throw new SessionNotFound(id);
  return current;
}

/** `session` with its lease as heartbeats extended it (one read of its renewal record while it is held). */
export async function withCurrentLease(context: SessionsContext, session: Session): Promise<Session> {
  const lease = openLease(session);
  if (lease === undefined) return session;
  const stored = await context.renewals.read(session.id, lease.epoch, lease.seconds);
  return { ...session, lease: currentLease(session, stored?.renewal) };
}

/** The renewal record that decides whether the lease is live, read only when the session's own expiry has passed. */
export async function renewalFor(context: SessionsContext, session: Session): Promise<Renewal | undefined> {
  if (!needsRenewal(session, nowSeconds(context))) return undefined;
  const lease = session.lease!;
  return (await context.renewals.read(session.id, lease.epoch, lease.seconds))?.renewal;
}
