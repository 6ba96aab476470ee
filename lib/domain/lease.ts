/**
 * Leases and fencing: what a lease on a session is, when it is live, and what a
 * change carrying (or not carrying) a `Lease-Epoch` may do. Pure functions of
 * stored state and the time; the repository applies them inside the session's
 * compare-and-swap, so the epoch check and the write are one atomic step.
 *
 * Two objects hold a lease:
 * - the session's `lease` field — holder, epoch, length and the expiry as of the
 *   session's last write. It is the authority: only a write of the session can
 *   issue an epoch, and every change of the session checks it.
 * - a renewal record `leases/<id>/<epoch>-<seconds>.json` in a store that keeps
 *   no versions, written by heartbeats only. It can extend a lease, never issue
 *   one: it counts only for the session's current epoch while the session is
 *   active. Heartbeats therefore never touch the session and never show in its
 *   history, and a day of them leaves one small object.
 *
 * @module
 */

import { InvalidTransition, LeaseHeld, LeaseLost, type LeaseLostReason, LeaseRequired } from './errors.ts';
import { isSessionId } from './ids.ts';
import { type Lease, LeaseSecondsSchema, type Session, transition } from './session.ts';
import * as z from './zod.ts';

/** Who wrote the pause of an expired lease (`updated_by`). */
export const LEASE_EXPIRY_ACTOR = 'lease-expiry';

/** Key prefix of the renewal records, in the lease store. */
export const RENEWALS_PREFIX = 'leases/';

/** What a heartbeat stores: the extended expiry of one epoch's lease. */
export const RenewalSchema = z.looseObject({
  session_id: z.string(),
  epoch: z.number().check(z.int(), z.positive()),
  seconds: LeaseSecondsSchema,
  expires_at: z.number().check(z.int(), z.nonnegative()),
  /** Written by the sweeper before it pauses the session: from then on the record extends nothing. */
  expired: z.optional(z.boolean()),
});
export type Renewal = z.infer<typeof RenewalSchema>;

/** The renewal record of one epoch of a session's lease, `leases/<id>/<epoch>-<seconds>.json`. */
export function renewalKey(id: string, epoch: number, seconds: number): string {
  return `${RENEWALS_PREFIX}${id}/${epoch}-${seconds}.json`;
}

/** The prefix under which all renewal records of one session live. */
export function renewalPrefix(id: string): string {
  return `${RENEWALS_PREFIX}${id}/`;
}

/** What a renewal record's key says, or undefined for a key that is not one. */
export function parseRenewalKey(key: string): { id: string; epoch: number; seconds: number } | undefined {
  const match = /^leases\/([0-9a-f]{32})\/([1-9][0-9]{0,15})-([1-9][0-9]{0,3})\.json$/.exec(key);
  if (match === null || !isSessionId(match[1]!)) return undefined;
  return { id: match[1]!, epoch: Number(match[2]), seconds: Number(match[3]) };
}

/** Where a session's lease stands at a moment. */
export type LeaseState =
  | { kind: 'none' }
  | { kind: 'live'; lease: Lease; expiresAt: number }
  | { kind: 'gone'; lease: Lease; reason: Exclude<LeaseLostReason, 'superseded'> };

/**
 * The expiry of the session's lease counting the renewal: a renewal extends the
 * lease only when it is of the current epoch and the sweeper has not fenced it.
 */
export function effectiveExpiry(lease: Lease, renewal: Renewal | undefined): number {
  const extension = renewal !== undefined && renewal.epoch === lease.epoch && renewal.expired !== true ? renewal.expires_at : 0;
  return Math.max(lease.expires_at, extension);
}

/** Whether the session's lease is live at `now` (Unix seconds), and if not why not. */
export function leaseState(session: Session, renewal: Renewal | undefined, now: number): LeaseState {
  const lease = session.lease;
  if (lease === undefined || lease === null) return { kind: 'none' };
  if (lease.ended !== undefined) return { kind: 'gone', lease, reason: lease.ended };
  if (session.status !== 'active') return { kind: 'gone', lease, reason: 'released' };
  const expiresAt = effectiveExpiry(lease, renewal);
  return expiresAt > now ? { kind: 'live', lease, expiresAt } : { kind: 'gone', lease, reason: 'expired' };
}

/**
 * The lease a renewal record can still extend: the session's lease while it
 * has not ended and the session is active; undefined otherwise (never held,
 * released, expired, or the session no longer active).
 */
export function openLease(session: Session): Lease | undefined {
  const lease = session.lease;
  return lease !== undefined && lease !== null && lease.ended === undefined && session.status === 'active' ? lease : undefined;
}

/**
 * True when deciding about `session` needs its renewal record: only an active
 * session whose lease ran out by the session's own clock may have been kept
 * alive by heartbeats.
 */
export function needsRenewal(session: Session, now: number): boolean {
  const lease = openLease(session);
  return lease !== undefined && lease.expires_at <= now;
}

/** Who makes a change, as far as the lease is concerned. */
export type ChangeAuthority = 'holder' | 'operator';

/**
 * The fencing rule of every change of a session (add job, status change):
 * - with `Lease-Epoch` E: the lease must be live and of epoch E (else 409 `lease_lost`);
 * - without it: the lease must not be live (else 428 `lease_required`).
 * Checked before anything about the status, so a holder whose lease is gone hears `lease_lost` first.
 * @returns 'holder' when the change is the lease holder's (it then extends the lease), 'operator' otherwise.
 */
export function fence(session: Session, renewal: Renewal | undefined, epoch: number | undefined, now: number): ChangeAuthority {
  const state = leaseState(session, renewal, now);
  if (epoch === undefined) {
    if (state.kind === 'live') throw new LeaseRequired(session.id, state.lease.epoch);
    return 'operator';
  }
  if (state.kind === 'none') throw new LeaseLost(session.id, 'released', null);
  if (state.lease.epoch !== epoch) throw new LeaseLost(session.id, 'superseded', state.lease.epoch);
  if (state.kind === 'gone') throw new LeaseLost(session.id, state.reason, state.lease.epoch);
  return 'holder';
}

/** The lease of a holder's accepted change: extended by its length from `now`. */
export function extendLease(lease: Lease, now: number): Lease {
  return { ...lease, expires_at: Math.max(lease.expires_at, now + lease.seconds) };
}

/** The lease after a status change to `paused`, `completed` or `terminated`: it ends now. */
export function releaseLease(lease: Lease, now: number): Lease {
  return { ...lease, expires_at: Math.min(lease.expires_at, now), ended: 'released' };
}

/** What an acquire asks for. */
export interface AcquireRequest {
  holder: string;
  seconds: number;
  /** Take the lease even from a live holder, who is then fenced. */
  force: boolean;
  /** The caller's `Lease-Epoch`: the live lease's epoch proves the caller holds it (a re-acquire). */
  epoch?: number | undefined;
}

/**
 * The session after an acquire: a new lease one epoch above the last, and a
 * `paused` session `active` again (the resume). A live lease is taken only by
 * a caller presenting its epoch (its holder re-acquiring) or with `force`: a
 * holder's name proves nothing, since processes may share one.
 * @throws InvalidTransition on a completed or terminated session.
 * @throws LeaseHeld when a lease is live, the request does not carry its epoch and `force` is not set.
 */
export function acquireLease(session: Session, renewal: Renewal | undefined, request: AcquireRequest, now: number): Session {
  if (session.status !== 'active' && transition(session.status, 'active') === 'refused') {
    throw new InvalidTransition(session.id, session.status, 'active');
  }
  const state = leaseState(session, renewal, now);
  const takenOver = state.kind === 'live' && state.lease.epoch !== request.epoch;
  if (takenOver && !request.force) throw new LeaseHeld(session.id, state.lease.holder, state.expiresAt);
  const epoch = (session.lease?.epoch ?? 0) + 1;
  return {
    ...session,
    status: 'active',
    lease: {
      holder: request.holder,
      epoch,
      seconds: request.seconds,
      expires_at: now + request.seconds,
      ...(takenOver ? { taken_over: true } : {}),
    },
  };
}

/** The lease to show a reader: the session's, with the expiry a renewal extended it to. */
export function currentLease(session: Session, renewal: Renewal | undefined): Lease | null {
  const lease = openLease(session);
  if (lease === undefined) return session.lease ?? null;
  return { ...lease, expires_at: effectiveExpiry(lease, renewal) };
}
