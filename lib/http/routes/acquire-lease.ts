import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/lease` works on, once its schemas have validated it. */
export interface AcquireLeaseInput {
  path: { id: string };
  body: { holder?: string | undefined; seconds?: number | undefined; force?: boolean | undefined };
}

/** `POST /sessions/{id}/lease`: a new lease one epoch up; a paused session becomes active (the resume). */
export function createAcquireLeaseHandler({ repository }: RouteDependencies): RouteHandler<AcquireLeaseInput> {
  return async ({ path, body }, { actor }) => {
    const result = await repository.acquireLease(path.id, { holder: body.holder, seconds: body.seconds, force: body.force, actor });
    return sessionResponse(200, result);
  };
}
