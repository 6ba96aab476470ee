/**
 * Status changes of a session (`PATCH /sessions/{id}`): the status machine of
 * lib/domain/session.ts behind the lease's fence; leaving `active` ends the lease.
 *
 * @module
 */

import { InvalidTransition } from '../domain/errors.ts';
import { type ChangeAuthority, fence, releaseLease } from '../domain/lease.ts';
import { type Lease, type Session, type SessionStatus, transition } from '../domain/session.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, nowSeconds, renewalFor, requireId, type SessionChangeOptions, type SessionsContext } from './context.ts';
import { pruneRenewals } from './leases.ts';

/**
 * Moves the session to `status`. Setting the status it already has writes nothing.
 * @throws InvalidTransition, LeaseRequired, LeaseLost, SessionNotFound, PreconditionFailed, ConflictRetry
 */
export async function setStatus(
  context: SessionsContext,
  id: string,
  status: SessionStatus,
  options: SessionChangeOptions = {},
): Promise<ChangeResult> {
  const result = await changeSession(context, requireId(id), options, async (session) => {
    const now = nowSeconds(context);
    const authority = fence(session, await renewalFor(context, session), options.leaseEpoch, now);
    switch (transition(session.status, status)) {
      case 'unchanged':
        return undefined;
      case 'refused':
        throw new InvalidTransition(session.id, session.status, status);
      case 'allowed':
        return { ...session, status, ...endedLease(session, status, authority, now) };
    }
  });
  if (result.changed && status !== 'active' && result.session.lease) await pruneRenewals(context, result.session.id);
  return result;
}

/**
 * The lease after a status change to `status`: leaving `active` ends a lease
 * that has not ended — released by its holder, or, when an operator acts (the
 * lease was not live, or the change would have been refused), expired.
 */
export function endedLease(session: Session, status: SessionStatus, authority: ChangeAuthority, now: number): { lease?: Lease } {
  const lease = session.lease;
  if (status === 'active' || lease === undefined || lease === null || lease.ended !== undefined) return {};
  return { lease: authority === 'holder' ? releaseLease(lease, now) : { ...lease, ended: 'expired' } };
}
