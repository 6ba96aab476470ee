import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/lease` works on, once its schemas have validated it. */
export interface AcquireLeaseInput {
  path: { id: string };
  headers: { 'lease-epoch'?: number | undefined };
  body: { holder?: string | undefined; seconds?: number | undefined; force?: boolean | undefined };
}

/** `POST /sessions/{id}/lease`: a new lease one epoch up; a paused session becomes active (the resume). */
export function createAcquireLeaseHandler({ repository }: RouteDependencies): RouteHandler<AcquireLeaseInput> {
  return async ({ path, headers, body }, caller) => {
    const { holder, seconds, force } = body;
    const result = await repository.acquireLease(path.id, {
      holder,
      seconds,
      force,
      leaseEpoch: headers['lease-epoch'],
      actor: caller.actor,
      caller,
    });
    return sessionResponse(200, result);
  };
}
