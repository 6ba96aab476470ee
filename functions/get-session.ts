import { sessionResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { SessionPathSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `GET /sessions/{id}`: the session and its `ETag`. */
export const handler = httpRoute('GET /sessions/{id}', { path: SessionPathSchema }, async ({ path }) => {
  const current = await sessionRepository().getSession(path.id);
  return sessionResponse(200, current);
});
