/**
 * Adoption (`POST /sessions/{id}/owner`): an operator gives a session an owner
 * — a session stored before owners, which until then only operators change.
 * A compare-and-swap like every change, recorded in the history (`owner
 * changed to X`) and announced (`Session Owner Changed`); the new owner's
 * index entry is made before the write, so that its listings find the session.
 *
 * @module
 */

import { Forbidden } from '../domain/errors.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, requireId, type SessionChangeOptions, type SessionsContext } from './context.ts';

/**
 * Makes `owner` the owner of session `id`. Only an operator may (`caller`);
 * giving a session the owner it has writes nothing.
 * @throws Forbidden when `caller` is no operator; SessionNotFound, PreconditionFailed, ConflictRetry
 */
export async function adoptSession(
  context: SessionsContext,
  id: string,
  owner: string,
  { caller, ...options }: Pick<SessionChangeOptions, 'ifMatch' | 'actor' | 'caller'> = {},
): Promise<ChangeResult> {
  const checked = requireId(id);
  if (caller !== undefined && !caller.operator) throw new Forbidden(checked);
  await context.ownerIndex.enter(owner, checked);
  return changeSession(context, checked, { ...options, caller, adopt: true }, (session) =>
    session.owner === owner ? undefined : { ...session, owner },
  );
}
