/**
 * A change of a stored session: one compare-and-swap (lib/storage/compare-and-swap.ts)
 * with the status index kept in step. Every use case that changes a session
 * goes through `changeSession`; it says what the change means, this module
 * stamps, writes, retries and settles the index.
 *
 * @module
 */

import { ConflictRetry, Forbidden, PreconditionFailed, SessionNotFound } from '../domain/errors.ts';
import { sessionKey } from '../domain/ids.ts';
import { mayChange } from '../domain/owner.ts';
import type { Session, SessionStatus } from '../domain/session.ts';
import type { SwapResult } from '../storage/compare-and-swap.ts';
import { StoreFault } from '../storage/port.ts';
import { type ChangeResult, nowSeconds, type SessionChangeOptions, type SessionsContext } from './context.ts';
import { landedAfter } from './history.ts';

/** A change to a session: the new session, `undefined` when already in place, or a thrown refusal. */
export type Change = (session: Session) => Session | undefined | Promise<Session | undefined>;

/**
 * A compare-and-swap of session `id`: `apply` says what the change means, the
 * engine reads, writes `If-Match` and retries. A `caller` that is neither the
 * session's owner nor an operator is refused (`Forbidden`) on the version read,
 * before `apply` judges anything (the lease included). No change rewrites
 * `owner`, except an adoption (`adopt`). The status index entry of a
 * status the session moves into is made before the write and the one it left
 * is deleted after. A restore (`restoredFrom`) recognises its own lost write
 * among the versions written since (it is not applied again over what others
 * wrote after it).
 */
export async function changeSession(
  context: SessionsContext,
  id: string,
  { ifMatch, actor, caller, adopt = false }: Pick<SessionChangeOptions, 'ifMatch' | 'actor' | 'caller'> & { adopt?: boolean },
  apply: Change,
  restoredFrom?: string,
): Promise<ChangeResult> {
  const key = sessionKey(id);
  // The statuses this change may move the session into (their index entries are made before the write), and the
  // status of the version the write replaced.
  const entered = new Set<SessionStatus>();
  let replaced: SessionStatus | undefined;
  let result: SwapResult<Session>;
  try {
    result = await context.sessions.swap({
      key,
      ifMatch,
      change: async (session) => {
        if (caller !== undefined && !mayChange(session.owner, caller)) throw new Forbidden(id);
        const next = await apply(session);
        if (next === undefined) return undefined;
        replaced = session.status;
        if (next.status !== session.status && !entered.has(next.status)) {
          await context.statusIndex.enter(next.status, id);
          entered.add(next.status);
        }
        return stamp(
          context,
          session,
          adopt || next.owner === session.owner ? next : { ...next, owner: session.owner },
          actor,
          restoredFrom,
        );
      },
      missing: () => new SessionNotFound(id),
      mismatch: (expected) => new PreconditionFailed(id, expected),
      exhausted: (attempts) => new ConflictRetry(id, attempts),
      landedAfter: restoredFrom === undefined ? undefined : (baseEtag, body) => landedAfter(context.store, key, baseEtag, body),
    });
  } catch (error) {
    // Nothing was written (or it is unknown whether it was): each entry made for it is checked against the session.
    await settleStatusIndex(context, id, entered, undefined);
    throw error;
  }
  const status = result.value.status;
  if (result.changed && replaced !== undefined && replaced !== status) entered.add(status).add(replaced);
  await settleStatusIndex(context, id, entered, result.changed ? status : undefined);
  return { session: result.value, etag: result.etag, changed: result.changed, attempts: result.attempts, conflicts: result.conflicts };
}

/**
 * After a write (or a failed one) of session `id`: the entry of the status it was written in (`landed`) is made
 * again, since a concurrent `leave` may have deleted it before the write landed, and every other status in
 * `touched` is left (deleted, then made again if the session is in it after all). Best effort: the write stands
 * either way, and an entry left behind is only skipped by readers.
 */
async function settleStatusIndex(
  context: SessionsContext,
  id: string,
  touched: ReadonlySet<SessionStatus>,
  landed: SessionStatus | undefined,
): Promise<void> {
  if (touched.size === 0) return;
  const readStatus = async (sessionId: string) => (await context.sessions.read(sessionKey(sessionId)))?.value.status;
  try {
    if (landed !== undefined) await context.statusIndex.enter(landed, id);
    for (const status of touched) {
      if (status !== landed) await context.statusIndex.leave(status, id, readStatus);
    }
  } catch (error) {
    if (!(error instanceof StoreFault)) throw error;
    context.onWarning({ message: 'could not bring the status index up to date after a change', key: sessionKey(id), error });
  }
}

/**
 * Sets `updated_at` (never backwards) and `updated_by` on a changed session,
 * and `restored_from` on the version a restore writes: every other change
 * drops it, so that it marks exactly one version.
 */
function stamp(context: SessionsContext, previous: Session, next: Session, actor: string | undefined, restoredFrom?: string): Session {
  const seconds = Math.max(previous.updated_at, nowSeconds(context));
  const { restored_from: _inherited, ...changed } = next;
  return {
    ...changed,
    updated_at: seconds,
    ...(actor === undefined ? {} : { updated_by: actor }),
    ...(restoredFrom === undefined ? {} : { restored_from: restoredFrom }),
  };
}
