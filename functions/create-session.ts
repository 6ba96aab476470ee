import { createdResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { CreateSessionBodySchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `POST /sessions`: opens an active session with no jobs; 201 with `Location` and `ETag`. */
export const handler = httpRoute('POST /sessions', { body: CreateSessionBodySchema.default({}) }, async ({ body }, { actor }) => {
  const created = await sessionRepository().createSession({ name: body.name ?? null, actor });
  return createdResponse(created);
});
