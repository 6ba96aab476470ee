import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `GET /sessions/{id}` works on, once its schemas have validated it. */
export interface GetSessionInput {
  path: { id: string };
}

/** `GET /sessions/{id}`: the session and its `ETag`. */
export function createGetSessionHandler({ repository }: RouteDependencies): RouteHandler<GetSessionInput> {
  return async ({ path }, caller) => sessionResponse(200, await repository.getSession(path.id, caller));
}
