import { createdResponse, replayedResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions` works on, once its schemas have validated it. */
export interface CreateSessionInput {
  headers: { 'idempotency-key'?: string | undefined };
  body: { name?: string | null | undefined; lease_seconds?: number | undefined; holder?: string | undefined };
}

/**
 * `POST /sessions`: opens an active session with no jobs; 201 with `Location` and `ETag`.
 * With `Idempotency-Key`, a repeat of the key answers the same session: 200, `Idempotent-Replayed: true`.
 */
export function createCreateSessionHandler({ repository }: RouteDependencies): RouteHandler<CreateSessionInput> {
  return async ({ headers, body }, { actor, owner }) => {
    const created = await repository.createSession({
      name: body.name ?? null,
      actor,
      owner,
      idempotencyKey: headers['idempotency-key'],
      leaseSeconds: body.lease_seconds,
      holder: body.holder,
    });
    return created.replayed ? replayedResponse(created) : createdResponse(created);
  };
}
