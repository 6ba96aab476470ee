import type { SessionRepository } from '../../sessions/repository.ts';
import { jsonResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `GET /sessions/{id}/history` works on, once its schemas have validated it. */
export interface SessionHistoryInput {
  path: { id: string };
  query: Parameters<SessionRepository['sessionHistory']>[1];
}

/** `GET /sessions/{id}/history`: the session's versions, newest first, each with its time, writer and change. */
export function createSessionHistoryHandler({ repository }: RouteDependencies): RouteHandler<SessionHistoryInput> {
  return async ({ path, query }, caller) => {
    const page = await repository.sessionHistory(path.id, { ...query, signal: caller.signal, caller });
    return jsonResponse(200, { versions: page.versions, next_cursor: page.nextCursor });
  };
}
