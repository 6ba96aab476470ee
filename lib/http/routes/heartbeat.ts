import { LeaseRequired } from '../../domain/errors.ts';
import { jsonResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/heartbeat` works on, once its schemas have validated it. */
export interface HeartbeatInput {
  path: { id: string };
  headers: { 'lease-epoch'?: number | undefined };
  body: { seconds?: number | undefined };
}

/** `POST /sessions/{id}/heartbeat`: extends the caller's lease; answers only the lease. */
export function createHeartbeatHandler({ repository }: RouteDependencies): RouteHandler<HeartbeatInput> {
  return async ({ path, headers, body }, caller) => {
    const epoch = headers['lease-epoch'];
    if (epoch === undefined) throw new LeaseRequired(path.id);
    return jsonResponse(200, { lease: await repository.heartbeat(path.id, epoch, body.seconds, caller) });
  };
}
