/**
 * The audit trail and the undo: a session's history (lib/sessions/history.ts
 * reads it) and the restore of an earlier version's content.
 *
 * @module
 */

import { LeaseHeld } from '../domain/errors.ts';
import { sessionKey } from '../domain/ids.ts';
import { leaseState } from '../domain/lease.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, nowSeconds, renewalFor, requireId, type SessionChangeOptions, type SessionsContext } from './context.ts';
import {
  readHistory,
  readRestoreTarget,
  restoredSession,
  type SessionHistoryOptions,
  type SessionHistoryPage,
  sameContent,
} from './history.ts';
import { pruneRenewals } from './leases.ts';
import { endedLease } from './status.ts';

/** How a restore is made. */
export interface RestoreOptions extends Pick<SessionChangeOptions, 'ifMatch' | 'actor' | 'caller'> {
  /** Restore even while a holder's lease is live; the holder is then fenced (`lease_lost`, reason `restored`). */
  force?: boolean | undefined;
}

/**
 * The session's history, newest first: each stored version with when it was
 * recorded, who wrote it and what it changed. A page of N costs one version
 * listing and N + 1 version reads.
 * @throws SessionNotFound, VersioningDisabled, InvalidRequest (limit, cursor)
 */
export function sessionHistory(context: SessionsContext, id: string, options: SessionHistoryOptions = {}): Promise<SessionHistoryPage> {
  const checked = requireId(id);
  return readHistory(context.store, sessionKey(checked), checked, options, context.onWarning);
}

/**
 * Makes the content of an earlier version current again, as a new version
 * written by compare-and-swap (the caller's `If-Match` honoured) that
 * records `restored_from: versionId`. Restoring content the session already
 * has writes nothing. A session whose lease is live is restored only with
 * `force`, which ends the lease (its holder hears `lease_lost`, `restored`).
 * One version read, then the change.
 * @throws LeaseHeld when a lease is live and `force` is not set.
 * @throws InvalidRequest when the session has no version `versionId`.
 * @throws Forbidden, SessionNotFound, VersioningDisabled, PreconditionFailed, ConflictRetry
 */
export async function restoreVersion(
  context: SessionsContext,
  id: string,
  versionId: string,
  { force = false, ...options }: RestoreOptions = {},
): Promise<ChangeResult> {
  const checked = requireId(id);
  const target = await readRestoreTarget(context.store, sessionKey(checked), checked, versionId);
  const result = await changeSession(
    context,
    checked,
    options,
    async (session) => {
      const now = nowSeconds(context);
      const state = leaseState(session, await renewalFor(context, session), now);
      if (state.kind === 'live') {
        if (!force) throw new LeaseHeld(checked, state.lease.holder, state.expiresAt);
        // A take-over by restore: the holder's lease ends now, whatever the restored content.
        return { ...restoredSession(target, session), lease: { ...state.lease, expires_at: now, ended: 'restored' } };
      }
      if (sameContent(session, target)) return undefined;
      // The lease and its epoch are never part of what a restore brings back; a restore out of `active` ends a lease.
      const restored = restoredSession(target, session);
      return { ...restored, ...endedLease(session, restored.status, 'operator', now) };
    },
    versionId,
  );
  const lease = result.session.lease;
  if (result.changed && lease && (lease.ended === 'restored' || result.session.status !== 'active')) await pruneRenewals(context, checked);
  return result;
}
