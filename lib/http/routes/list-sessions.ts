import type { SessionRepository } from '../../sessions/repository.ts';
import { jsonResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `GET /sessions` works on, once its schemas have validated it. */
export interface ListSessionsInput {
  query: Parameters<SessionRepository['listSessions']>[0];
}

/** `GET /sessions`: a page of sessions, newest first, optionally of one status and one name; unknown parameters are refused. */
export function createListSessionsHandler({ repository }: RouteDependencies): RouteHandler<ListSessionsInput> {
  return async ({ query }) => {
    const page = await repository.listSessions(query);
    return jsonResponse(200, { sessions: page.sessions, next_cursor: page.nextCursor });
  };
}
