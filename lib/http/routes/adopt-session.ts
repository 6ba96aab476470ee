import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/owner` works on, once its schemas have validated it. */
export interface AdoptSessionInput {
  path: { id: string };
  headers: { 'if-match'?: string | undefined };
  body: { owner: string };
}

/** `POST /sessions/{id}/owner`: an operator gives the session an owner; anyone else hears 403 `forbidden`. */
export function createAdoptSessionHandler({ repository }: RouteDependencies): RouteHandler<AdoptSessionInput> {
  return async ({ path, headers, body }, caller) => {
    const result = await repository.adoptSession(path.id, body.owner, { ifMatch: headers['if-match'], actor: caller.actor, caller });
    return sessionResponse(200, result);
  };
}
