import type { SessionStatus } from '../../domain/session.ts';
import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `PATCH /sessions/{id}` works on, once its schemas have validated it. */
export interface SetStatusInput {
  path: { id: string };
  headers: { 'if-match'?: string | undefined; 'lease-epoch'?: number | undefined };
  body: { status: SessionStatus };
}

/** `PATCH /sessions/{id}`: moves the session along the status machine; its current status is a no-op. */
export function createSetStatusHandler({ repository }: RouteDependencies): RouteHandler<SetStatusInput> {
  return async ({ path, headers, body }, caller) => {
    const result = await repository.setStatus(path.id, body.status, {
      ifMatch: headers['if-match'],
      leaseEpoch: headers['lease-epoch'],
      actor: caller.actor,
      caller,
    });
    return sessionResponse(200, result);
  };
}
