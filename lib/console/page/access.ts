/**
 * What this console's caller may do, as the server's answers have shown it.
 * Run by an operator nothing is ever refused. Run with a runner's token the
 * server lists and answers only what that token may read; the first 403
 * `forbidden` to a change of a session (the token does not own it) disables
 * every change of that session, with a line that says why; a 403 to a route
 * the credentials are not granted at all (API Gateway's own, without an
 * error code: a runner grant has no restore) disables that action on every
 * session. No DOM here.
 * @module
 */

import { ApiError, type Session } from './api.ts';

/** The changes the console makes: a status or lease change, a restore, an adoption (operators only). */
export type Change = 'change' | 'restore' | 'adopt';

/** Sessions whose changes were refused to this caller, and routes refused on every session. */
const sessionsRefused = new Set<string>();
const routesRefused = new Set<Change>();

/** Learns from `error`, the answer to `change` of session `id`; true when it was a refusal to this caller. */
export function noteRefusal(error: unknown, change: Change, id: string): boolean {
  if (!(error instanceof ApiError)) return false;
  // Adoption is for operators only: a refusal of it is a refusal of the caller, whatever the session.
  if (error.code === 'forbidden' && change !== 'adopt') sessionsRefused.add(id);
  else if (error.code === 'forbidden' || error.code === 'not_granted') routesRefused.add(change);
  else return false;
  return true;
}

/** Whether `change` of session `id` is known to be refused to this caller. */
export function refused(change: Change, id: string): boolean {
  return sessionsRefused.has(id) || routesRefused.has(change);
}

/** Why the console's changes of `session` are disabled, or undefined when they are not. */
export function refusalNote(session: Session): string | undefined {
  if (sessionsRefused.has(session.id)) {
    const owner = typeof session.owner === 'string' ? `it belongs to ${session.owner}` : 'it has no owner yet';
    return `This console’s token may not change this session: ${owner}, and only its owner and operators may change it. Ask an operator.`;
  }
  if (routesRefused.has('restore')) return 'Restoring is for operators: this console’s credentials are not granted it.';
  if (routesRefused.has('adopt') && typeof session.owner !== 'string') return 'Adopting a session is for operators only.';
  return undefined;
}
