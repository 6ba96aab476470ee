import { sessionResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { SetStatusBodySchema, IfMatchHeadersSchema, SessionPathSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `PATCH /sessions/{id}`: moves the session along the status machine; its current status is a no-op. */
export const handler = httpRoute(
  'PATCH /sessions/{id}',
  { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: SetStatusBodySchema },
  async ({ path, headers, body }, { actor }) => {
    const result = await sessionRepository().setStatus(path.id, body.status, { ifMatch: headers['if-match'], actor });
    return sessionResponse(200, result);
  },
);
