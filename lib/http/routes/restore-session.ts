import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/restore` works on, once its schemas have validated it. */
export interface RestoreSessionInput {
  path: { id: string };
  headers: { 'if-match'?: string | undefined };
  body: { version_id: string; force?: boolean | undefined };
}

/** `POST /sessions/{id}/restore`: makes an earlier version's content current again, as a new version. */
export function createRestoreSessionHandler({ repository }: RouteDependencies): RouteHandler<RestoreSessionInput> {
  return async ({ path, headers, body }, caller) => {
    const result = await repository.restoreVersion(path.id, body.version_id, {
      ifMatch: headers['if-match'],
      force: body.force,
      actor: caller.actor,
      caller,
    });
    return sessionResponse(200, result);
  };
}
