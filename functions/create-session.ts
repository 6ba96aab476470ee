import { createdResponse, replayedResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { CreateSessionBodySchema, CreateSessionHeadersSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';
import * as z from '#lib/zod.ts';

/**
 * `POST /sessions`: opens an active session with no jobs; 201 with `Location` and `ETag`.
 * With `Idempotency-Key`, a repeat of the key answers the same session: 200, `Idempotent-Replayed: true`.
 */
export const handler = httpRoute(
  'POST /sessions',
  { headers: CreateSessionHeadersSchema, body: z._default(CreateSessionBodySchema, {}) },
  async ({ headers, body }, { actor }) => {
    const created = await sessionRepository().createSession({ name: body.name ?? null, actor, idempotencyKey: headers['idempotency-key'] });
    return created.replayed ? replayedResponse(created) : createdResponse(created);
  },
);
