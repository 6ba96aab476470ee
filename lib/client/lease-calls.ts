/**
 * The lease side of `SessionsClient`: the requests that acquire and heartbeat a
 * lease, how a status change tells its own earlier release from a lost lease,
 * and the reconnect flows that take back the newest session of a name. The
 * client's lease methods answer with these.
 *
 * @module
 */

import { LeaseLostError, NoResumableSession, SessionsApiError } from './errors.ts';
import { defaultHolder } from './held-lease.ts';
import type { Session } from './schemas.ts';
import { type Call, definedFields, sessionPath } from './transport.ts';
import type { AcquireLeaseOptions, ChangeOptions, HeartbeatOptions, ResumedSession, VersionedSession } from './types.ts';

/**
 * `POST /sessions/{id}/lease`, under the holder given or `HOST:PID`; sent again only after an answer that says
 * nothing was done, since a second acquire would supersede the first.
 */
export function acquireLeaseCall(id: string, { holder, seconds, force, leaseEpoch }: AcquireLeaseOptions): Call {
  return {
    method: 'POST',
    path: `${sessionPath(id)}/lease`,
    body: definedFields({ holder: holder ?? defaultHolder(), seconds, force }),
    headers: leaseEpoch === undefined ? {} : { 'lease-epoch': String(leaseEpoch) },
    retryable: 'unapplied',
  };
}

/** `POST /sessions/{id}/heartbeat` for the lease of `epoch`: safe to repeat for one epoch, so retried like a read. */
export function heartbeatCall(id: string, epoch: number, { seconds, signal }: HeartbeatOptions): Call {
  return {
    method: 'POST',
    path: `${sessionPath(id)}/heartbeat`,
    body: definedFields({ seconds }),
    headers: { 'lease-epoch': String(epoch) },
    retryable: true,
    signal,
  };
}

/**
 * Whether a status change's `error` may be its own release seen again: a retry after a lost answer finds the lease of
 * its epoch released by the change it repeats. The change is done when the session then has the status asked.
 */
export function mayBeOwnRelease(error: unknown, { leaseEpoch }: ChangeOptions): boolean {
  return error instanceof LeaseLostError && error.attempts > 1 && error.reason === 'released' && error.epoch === leaseEpoch;
}

/**
 * The first of `sessions` (newest first, all named `name`) that is paused or active and that `take` takes (it answers
 * undefined to pass one over), with whether it was paused.
 * @throws NoResumableSession when none is taken.
 */
export async function takeNewest(
  sessions: AsyncIterable<Session>,
  name: string,
  take: (session: Session) => Promise<VersionedSession | undefined>,
): Promise<ResumedSession> {
  for await (const session of sessions) {
    if (session.status !== 'paused' && session.status !== 'active') continue;
    const taken = await take(session);
    if (taken !== undefined) return { ...taken, wasPaused: session.status === 'paused' };
  }
  throw new NoResumableSession(name);
}

/** An acquire's failure that passes its session over: it was completed or terminated meanwhile. Anything else is thrown. */
export function passOverEnded(error: unknown): undefined {
  if (error instanceof SessionsApiError && error.code === 'invalid_transition') return undefined;
  throw error;
}
