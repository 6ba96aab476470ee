/**
 * The lease on the page: a line in the sessions list and the Lease panel of a
 * session, both kept current each second (a live lease counts down; once it
 * is gone they say when and how it ended, never a future time).
 * @module
 */

import type { HistoryEntry, Session } from './api.ts';
import { el } from './dom.ts';
import { endedInHistory, endedText, leaseStanding } from './lease.ts';
import { keepCurrent } from './ticker.ts';
import { clock, countdown, iso } from './time.ts';

/** A line for the sessions list: holder, epoch and a live countdown or when it ended; empty when never held. */
export function leaseSummary(session: Session): HTMLElement {
  const lease = session.lease;
  const cell = el('span', { class: 'lease' });
  if (!lease) return cell;
  const expiry = el('time', { class: 'countdown' });
  keepCurrent(expiry, () => {
    const standing = leaseStanding(session);
    const shown = standing.kind === 'ended' ? standing.at : lease.expires_at;
    expiry.textContent = standing.kind === 'ended' ? endedText(standing).toLowerCase() : countdown(lease.expires_at);
    expiry.dateTime = iso(shown);
    expiry.title = iso(shown);
    cell.classList.toggle('lease-live', standing.kind === 'live');
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

/** The Lease panel's content: holder, whether it is live, epoch, expiry or ending, and term. */
export function leaseFacts(session: Session, history: HistoryEntry[]): Node[] {
  const lease = session.lease;
  const body: Node[] = [el('h2', { text: 'Lease', attrs: { id: 'lease-title' } })];
  if (!lease) {
    body.push(el('p', { class: 'muted', text: 'Never held: no runner has taken a lease on this session.' }));
    return body;
  }
  const endedBy = endedInHistory(history, lease);
  const when = el('time', { class: 'countdown' });
  const state = el('span', { class: 'lease-state' });
  const whenTerm = el('dt', { text: 'Expiry' });
  keepCurrent(when, () => {
    const standing = leaseStanding(session, undefined, endedBy);
    const live = standing.kind === 'live';
    const at = standing.kind === 'ended' ? standing.at : lease.expires_at;
    whenTerm.textContent = live ? 'Expiry' : 'Ended';
    when.textContent = standing.kind === 'ended' ? endedText(standing) : `${countdown(lease.expires_at)} (${clock(lease.expires_at)})`;
    when.dateTime = iso(at);
    when.title = iso(at);
    state.textContent = live ? 'live' : 'not live';
    state.className = live ? 'lease-state live' : 'lease-state';
  });
  body.push(
    el(
      'dl',
      { class: 'facts' },
      el('dt', { text: 'Holder' }),
      el('dd', {}, el('span', { class: 'holder', text: lease.holder })),
      el('dt', { text: 'State' }),
      el('dd', {}, state),
      el('dt', { text: 'Epoch' }),
      el('dd', { text: String(lease.epoch) }),
      whenTerm,
      el('dd', {}, when),
      el('dt', { text: 'Term' }),
      el('dd', { text: `${lease.seconds} s` }),
    ),
  );
  return body;
}
