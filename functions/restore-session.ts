import { sessionResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { IfMatchHeadersSchema, RestoreSessionBodySchema, SessionPathSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `POST /sessions/{id}/restore`: makes an earlier version's content current again, as a new version. */
export const handler = httpRoute(
  'POST /sessions/{id}/restore',
  { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: RestoreSessionBodySchema },
  async ({ path, headers, body }, { actor }) => {
    const result = await sessionRepository().restoreVersion(path.id, body.version_id, { ifMatch: headers['if-match'], actor });
    return sessionResponse(200, result);
  },
);
