/**
 * What an API refusal means to an operator, in one sentence, and whether
 * reloading the view is the way out.
 * @module
 */

import { ApiError } from './api.ts';
import { clock } from './time.ts';

/** A sentence for `error`; `stale` is true when the view is out of date and a reload is the fix. */
export function explain(error: unknown): { message: string; stale: boolean } {
  if (!(error instanceof ApiError)) return { message: `Something went wrong: ${String(error)}`, stale: false };
  const { code, details } = error;
  switch (code) {
    case 'precondition_failed':
      return { message: 'Someone changed it meanwhile — reload to see the current version, then try again.', stale: true };
    case 'lease_held': {
      const holder = typeof details.holder === 'string' ? details.holder : 'another runner';
      const until = typeof details.expires_at === 'number' ? ` until ${clock(details.expires_at)}` : '';
      return { message: `${holder} holds this session${until}. Use “Take over” to fence it out and act anyway.`, stale: true };
    }
    case 'lease_lost':
      return {
        message: `The lease was lost (${String(details.reason ?? 'superseded')}): someone else holds it now — reload.`,
        stale: true,
      };
    case 'lease_required':
      return { message: 'A runner holds a live lease on this session: take it over first, then act.', stale: true };
    case 'invalid_transition':
      return { message: `Not allowed from the session's current status: ${error.message}.`, stale: true };
    case 'forbidden':
      return { message: 'You do not own this session: only its owner and operators may change it. Ask an operator.', stale: false };
    case 'not_granted':
      return { message: `Your credentials are not granted this (operators only): ${error.message}. Ask an operator.`, stale: false };
    case 'session_not_found':
      return { message: 'This session does not exist (or no longer exists).', stale: false };
    case 'versioning_disabled':
      return { message: 'This store keeps no versions, so there is no history to show or restore.', stale: false };
    case 'conflict_retry':
      return { message: 'The session is very busy right now; try again in a moment.', stale: false };
    case 'no_route':
      return { message: `The server does not offer this yet: ${error.message}.`, stale: false };
    case 'network_error':
      return { message: `The server cannot be reached: ${error.message}.`, stale: false };
    default:
      return { message: `${error.message} (${code}, HTTP ${error.status}).`, stale: false };
  }
}
