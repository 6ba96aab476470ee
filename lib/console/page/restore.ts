/**
 * The restore of a version: a preview that says what the restore will do —
 * the content it brings back, and what happens to the lease (kept as it is,
 * or, when a runner holds it live, taken from that runner after a
 * confirmation that names it, sent as `force: true`) — applied only onto the
 * version the page showed (`If-Match`).
 * @module
 */

import { ApiError, getSession, type HistoryEntry, type Lease, restoreVersion, type Session } from './api.ts';
import { confirmAction, type ErrorTold } from './dialog.ts';
import { el } from './dom.ts';
import { diffList } from './history-view.ts';
import { holdsUntil, leaseStanding, liveLease } from './lease.ts';
import { timeAgo } from './ticker.ts';
import { clock } from './time.ts';
import { diffSessions } from './versions.ts';

export interface RestoreRequest {
  id: string;
  /** The session as the page shows it, and its ETag. */
  shown: { session: Session; etag: string | null };
  entry: HistoryEntry;
  /** Runs the request, announces `done` and reloads the page. */
  act: (work: () => Promise<unknown>, done: string) => Promise<void>;
  describeError: (error: unknown) => ErrorTold;
}

/** Opens the restore dialog for `entry`. */
export async function confirmRestore({ id, shown, entry, act, describeError }: RestoreRequest): Promise<void> {
  const { session } = shown;
  let { etag } = shown;
  // The lease is never part of what a restore brings back: the preview leaves it to its own line.
  const changes = diffSessions(session, entry.session).filter((line) => line.kind !== 'lease');
  const standing = leaseStanding(session);
  let force = standing.kind === 'live';
  /** Who holds the session, when a refusal showed that a runner took it after the page was shown. */
  let heldSince: string | undefined;
  const etagShown = el('code', { class: 'etag', text: etag ?? '—' });
  await confirmAction({
    title: 'Restore this version?',
    body: [
      el('p', {}, 'Makes the content of the version from ', timeAgo(entry.at), ' current again, as a new version.'),
      changes.length === 0
        ? el('p', { class: 'muted', text: 'It holds the same content as the current version: nothing will change.' })
        : el('div', {}, el('p', { text: 'What will change:' }), diffList(changes)),
      el('p', { class: force ? 'holder-effect restore-lease' : 'restore-lease', text: leaseLine(session) }),
      el('p', { class: 'muted' }, 'Only if the session is still at version ', etagShown, ' (the one shown).'),
    ],
    confirmLabel: force ? 'Force restore' : 'Restore',
    danger: force,
    describeError: (error) =>
      heldSince === undefined ? describeError(error) : { message: `${heldSince}. ${FENCES}`, retryLabel: 'Force restore' },
    action: async () => {
      if (etag === null) throw new Error('the session was shown without an ETag; reload and try again');
      const onto = etag;
      heldSince = undefined;
      try {
        await act(() => restoreVersion(id, entry.version_id, onto, { force }), 'Restored: that version’s content is current again.');
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        // A runner took the lease after the page was shown: the next confirm, which the dialog now names, forces.
        if (error.code === 'lease_held') heldSince = heldBy(error.details);
        // Taking the lease wrote a version, so the server refused the version shown (412). When the lease is all that
        // changed, the preview still holds: the dialog names the new holder and forces onto the version now current.
        if (error.code === 'precondition_failed') {
          const taken = await leaseTakenSince(id, session);
          if (taken !== undefined) {
            ({ etag } = taken);
            etagShown.textContent = etag;
            heldSince = holdsUntil(taken.lease);
          }
        }
        if (heldSince !== undefined) force = true;
        throw error;
      }
    },
  });
}

const FENCES = 'Restoring anyway takes the session from it: its next change is refused with lease_lost.';

/**
 * The session as it now stands when only its lease changed since `shown` and a runner holds it live; undefined
 * otherwise (its content changed too, or it cannot be read: the dialog then says to reload).
 */
async function leaseTakenSince(id: string, shown: Session): Promise<{ etag: string; lease: Lease } | undefined> {
  const now = await getSession(id).catch(() => undefined);
  if (now === undefined || now.etag === null) return undefined;
  const lease = liveLease(now.body);
  if (lease === undefined || diffSessions(shown, now.body).some((line) => line.kind !== 'lease')) return undefined;
  return { etag: now.etag, lease };
}

/** What the restore does to the lease, as shown now. */
function leaseLine(current: Session): string {
  const standing = leaseStanding(current);
  if (standing.kind === 'live') return `${holdsUntil(standing.lease)} (epoch ${standing.lease.epoch}). ${FENCES}`;
  if (standing.kind === 'none') return 'No runner has held this session: there is no lease to keep or take.';
  const { holder, epoch } = standing.lease;
  return `The lease stays as it is: ${holder}’s, epoch ${epoch}, ${standing.how} at ${clock(standing.at)}.`;
}

/** "build-7:4711 holds this session until 14:27:03", from a `lease_held` refusal's details. */
function heldBy(details: Record<string, unknown>): string {
  const holder = typeof details.holder === 'string' ? details.holder : 'Another runner';
  return typeof details.expires_at === 'number'
    ? holdsUntil({ holder, expires_at: details.expires_at })
    : `${holder} holds a live lease on this session`;
}
