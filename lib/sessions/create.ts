/**
 * Creating sessions (`POST /sessions`): a create-only write of the session,
 * its name index entry and status index entry first; under an
 * `Idempotency-Key`, the key's record first (lib/sessions/idempotency.ts), so
 * that a repeat answers the session the first request opened.
 *
 * @module
 */

import { ConflictRetry, SessionNotFound } from '../domain/errors.ts';
import { sessionKey } from '../domain/ids.ts';
import { NO_JOBS } from '../domain/job-outcome.ts';
import type { Session } from '../domain/session.ts';
import { ConditionNotMet, StoreFault } from '../storage/port.ts';
import { readSession, SESSION_CODEC, type SessionsContext, type SessionVersion } from './context.ts';
import { startRenewals } from './leases.ts';
import { nameIndexBody, nameIndexKey } from './name-index.ts';

export interface CreateOptions {
  name?: string | null | undefined;
  actor?: string | undefined;
  /** Open the session held: a lease of this many seconds, epoch 1. */
  leaseSeconds?: number | undefined;
  /** Holder of that lease; default: the actor. */
  holder?: string | undefined;
  /** The caller's `Idempotency-Key`: a repeat within the window answers the session the first request opened. */
  idempotencyKey?: string | undefined;
}

/** A created session, or the one an earlier request with the same idempotency key opened. */
export interface CreateResult extends SessionVersion {
  /** True when the idempotency key had been presented before: the session is the recorded one, as it now stands. */
  replayed: boolean;
}

/** The lease a session is opened with. */
interface NewLease {
  holder: string;
  seconds: number;
}

const CREATE_ATTEMPTS = 3;

/**
 * Creates an active session with no jobs. Never overwrites: the write is
 * `If-None-Match: *`. A named session gets its name index entry first.
 * With an `idempotencyKey`, a repeat of the key within the window answers
 * the session the first request opened (`replayed`), finishing its creation
 * if that request stopped half-way.
 * @throws InvalidRequest when the key was used for a different request.
 */
export async function createSession(
  context: SessionsContext,
  { name = null, actor, idempotencyKey, leaseSeconds, holder }: CreateOptions = {},
): Promise<CreateResult> {
  const lease = leaseSeconds === undefined ? undefined : { holder: holder ?? actor ?? 'anonymous', seconds: leaseSeconds };
  if (idempotencyKey !== undefined) return createOnce(context, name, actor, idempotencyKey, lease);
  const nowMs = context.clock.now();
  const seconds = Math.floor(nowMs / 1000);
  for (let attempt = 1; ; attempt++) {
    const id = context.newId(nowMs);
    const session = newSession(id, name, seconds, actor, lease);
    try {
      return { ...(await writeNewSession(context, session)), replayed: false };
    } catch (error) {
      if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
      // Our own write (or an earlier attempt of it) may have landed with its answer lost: then the object is ours.
      const existing = await context.store.get(sessionKey(id));
      if (existing?.body === SESSION_CODEC.serialise(session)) return { session, etag: existing.etag, replayed: false };
      if (error instanceof StoreFault) throw error;
      if (attempt >= CREATE_ATTEMPTS) throw new ConflictRetry(id, attempt);
    }
  }
}

/**
 * A create under an idempotency key: claim the key (its record names the
 * session ID), then write the name index entry and the session, each
 * create-only. Every step can be cut short: a repeat finds the record and
 * finishes the same session, and of two requests finishing it only one
 * session write can win.
 */
async function createOnce(
  context: SessionsContext,
  name: string | null,
  actor: string | undefined,
  idempotencyKey: string,
  lease: NewLease | undefined,
): Promise<CreateResult> {
  const { record, claimed } = await context.idempotency.claim({
    actor,
    key: idempotencyKey,
    request: lease === undefined ? { name } : { name, lease_seconds: lease.seconds, holder: lease.holder },
    draw: () => {
      const nowMs = context.clock.now();
      return { id: context.newId(nowMs), createdAt: Math.floor(nowMs / 1000) };
    },
  });
  const id = record.session_id;
  if (!claimed) {
    const existing = await readSession(context, id).catch((error: unknown) => {
      if (error instanceof SessionNotFound) return undefined;
      throw error;
    });
    if (existing !== undefined) return { session: existing.value, etag: existing.etag, replayed: true };
  }
  try {
    return { ...(await writeNewSession(context, newSession(id, name, record.created_at, actor, lease))), replayed: !claimed };
  } catch (error) {
    if (!(error instanceof ConditionNotMet)) throw error;
  }
  // Another request finishing this create wrote it first, or our own write landed with its answer lost.
  const current = await readSession(context, id);
  return { session: current.value, etag: current.etag, replayed: !claimed };
}

/** Writes a new session create-only, its index entries first, and remembers the version written. */
async function writeNewSession(context: SessionsContext, session: Session): Promise<SessionVersion> {
  const key = sessionKey(session.id);
  const body = SESSION_CODEC.serialise(session);
  await indexName(context, session.name, session.id);
  // Its status index entry first; nothing can delete it before the session exists (see lib/sessions/status-index.ts).
  await context.statusIndex.enter(session.status, session.id);
  const etag = await context.store.put(key, body, { ifNoneMatch: '*' });
  context.sessions.remember(key, { value: session, etag, body });
  if (session.lease) await startRenewals(context, session.id, session.lease, { fresh: true });
  return { session, etag };
}

/** Writes the name index entry of a session about to be created; an entry that is already there is an earlier attempt's. */
async function indexName(context: SessionsContext, name: string | null, id: string): Promise<void> {
  if (name === null) return;
  try {
    await context.store.put(nameIndexKey(name, id), nameIndexBody(name, id), { ifNoneMatch: '*' });
  } catch (error) {
    if (!(error instanceof ConditionNotMet)) throw error;
  }
}

/** An active session with no jobs, created at `seconds` (Unix) by `actor`, held from the start when `lease` is given. */
function newSession(id: string, name: string | null, seconds: number, actor: string | undefined, lease?: NewLease): Session {
  return {
    id,
    name,
    job_ids: [],
    created_at: seconds,
    updated_at: seconds,
    status: 'active',
    ...(actor === undefined ? {} : { updated_by: actor }),
    ...(lease === undefined
      ? {}
      : { lease: { holder: lease.holder, epoch: 1, seconds: lease.seconds, expires_at: seconds + lease.seconds } }),
    job_counts: { ...NO_JOBS },
  };
}
