import type { SessionRepository } from '../../sessions/repository.ts';
import { jsonResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `GET /sessions` works on, once its schemas have validated it. */
export interface ListSessionsInput {
  query: Omit<NonNullable<Parameters<SessionRepository['listSessions']>[0]>, 'owner'> & { owner?: 'me' | undefined };
}

/** `GET /sessions`: a page of sessions, newest first, optionally of one status, one name and the caller's own (`owner=me`); unknown parameters are refused. */
export function createListSessionsHandler({ repository }: RouteDependencies): RouteHandler<ListSessionsInput> {
  return async ({ query: { owner, ...query } }, caller) => {
    const page = await repository.listSessions({ ...query, ...(owner === 'me' ? { owner: caller.owner } : {}) }, caller);
    return jsonResponse(200, { sessions: page.sessions, next_cursor: page.nextCursor });
  };
}
