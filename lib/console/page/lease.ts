/// <reference lib="dom" />
/**
 * What the console says about a session's lease: whether it is live, who
 * holds it until when, and what an operator's action does to that holder.
 * @module
 */

import type { Lease, Session, Status } from './api.ts';
import { el } from './dom.ts';
import { clock, countdown, iso, keepCurrent, nowSeconds } from './time.ts';

/** The session's lease when it is live (expires in the future), else undefined. */
export function liveLease(session: Session, now = nowSeconds()): Lease | undefined {
  const lease = session.lease;
  return lease && lease.expires_at > now ? lease : undefined;
}

/** "build-7:4711 holds this session until 12:03:10". */
export function holdsUntil(lease: Lease): string {
  return `${lease.holder} holds this session until ${clock(lease.expires_at)}`;
}

/** A line for the sessions list: holder, epoch and a live countdown; empty when the session is not held. */
export function leaseSummary(session: Session): HTMLElement {
  const lease = session.lease;
  const cell = el('span', { class: 'lease' });
  if (!lease) return cell;
  const expiry = el('time', { class: 'countdown', attrs: { datetime: iso(lease.expires_at), title: iso(lease.expires_at) } });
  keepCurrent(expiry, () => {
    const live = lease.expires_at > nowSeconds();
    expiry.textContent = countdown(lease.expires_at);
    cell.classList.toggle('lease-live', live);
  });
  cell.append(
    el('span', { class: 'holder', text: lease.holder }),
    ' ',
    el('span', { class: 'epoch', text: `epoch ${lease.epoch}` }),
    ' ',
    expiry,
  );
  return cell;
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
