/**
 * What the console says about a session's lease: whether it is live (by the
 * server's rule), who holds it until when, when and how an ended lease ended,
 * and what an operator's action does to a live holder. No DOM here.
 * @module
 */

import type { HistoryEntry, Lease, Session, Status } from './api.ts';
import { clock, nowSeconds } from './time.ts';

/** Where a session's lease stands: never held, live, or ended (`how`, at `at`). */
export type LeaseStanding = { kind: 'none' } | { kind: 'live'; lease: Lease } | { kind: 'ended'; lease: Lease; how: string; at: number };

/** How an ended lease ended, in words, for the reasons the server records. */
const ENDINGS: Record<string, string> = {
  released: 'released',
  expired: 'expired',
  superseded: 'superseded',
  restored: 'ended by a restore',
};

/**
 * The lease's standing at `now`, by the server's rule: live only while it has
 * not ended, the session is active and its expiry is ahead. An ended lease
 * ended at its expiry or at the change that ended it, whichever came first:
 * `endedBy` is that change's time when the history shows it, else the
 * session's last update stands in (a change that ends a lease is an update).
 */
export function leaseStanding(session: Session, now = nowSeconds(), endedBy?: number): LeaseStanding {
  const lease = session.lease;
  if (lease === undefined || lease === null) return { kind: 'none' };
  const byChange = lease.ended !== undefined || session.status !== 'active';
  if (!byChange) return lease.expires_at > now ? { kind: 'live', lease } : { kind: 'ended', lease, how: 'expired', at: lease.expires_at };
  const at = Math.min(lease.expires_at, endedBy ?? session.updated_at);
  const recorded = lease.ended ?? 'released';
  // A change that ended the lease before its time (a restore out of `active`) is not an expiry, whatever it recorded.
  const how = recorded === 'expired' && at < lease.expires_at ? 'ended' : (ENDINGS[recorded] ?? `ended (${recorded})`);
  return { kind: 'ended', lease, how, at };
}

/**
 * When the session's lease ended, as far as the loaded history (newest first)
 * shows: the time of the oldest version in the newest run that holds this
 * epoch already ended. Undefined when the history does not reach it.
 */
export function endedInHistory(history: HistoryEntry[], lease: Lease): number | undefined {
  let at: number | undefined;
  for (const { session } of history) {
    const held = session.lease;
    if (held?.epoch !== lease.epoch || (held.ended === undefined && session.status === 'active')) return at;
    at = session.updated_at;
  }
  return undefined;
}

/** "Released at 14:20:01", "Expired at 14:27:03". */
export function endedText(standing: Extract<LeaseStanding, { kind: 'ended' }>): string {
  return `${standing.how.charAt(0).toUpperCase()}${standing.how.slice(1)} at ${clock(standing.at)}`;
}

/** The session's lease when it is live, else undefined. */
export function liveLease(session: Session, now = nowSeconds()): Lease | undefined {
  const standing = leaseStanding(session, now);
  return standing.kind === 'live' ? standing.lease : undefined;
}

/** "build-7:4711 holds this session until 12:03:10". */
export function holdsUntil(lease: Pick<Lease, 'holder' | 'expires_at'>): string {
  return `${lease.holder} holds this session until ${clock(lease.expires_at)}`;
}

/** The effect of an action on a live holder, for a confirmation dialog; empty when nobody holds the lease. */
export function effectOnHolder(session: Session, action: 'status' | 'resume' | 'force'): string {
  const lease = liveLease(session);
  if (lease === undefined) return '';
  const held = holdsUntil(lease);
  if (action === 'resume') return `${held}; resuming needs the lease, so it will be refused unless you take it over.`;
  return `${held}; ${action === 'force' ? 'forcing' : 'this takes the lease first, which'} will fence it out (its next write is refused with lease_lost).`;
}

/** What each status change does, in the words of a confirmation dialog. */
export const STATUS_EFFECTS: Record<Exclude<Status, 'active'>, { verb: string; effect: string }> = {
  paused: { verb: 'Pause', effect: 'The session stops accepting jobs until it is resumed; its lease is released.' },
  completed: { verb: 'Complete', effect: 'The session is finished for good: no job can be added and it cannot be resumed.' },
  terminated: { verb: 'Terminate', effect: 'The session is stopped for good: no job can be added and it cannot be resumed.' },
};
