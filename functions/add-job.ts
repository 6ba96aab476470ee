import { sessionResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { AddJobBodySchema, IfMatchHeadersSchema, SessionPathSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `POST /sessions/{id}/jobs`: appends a job ID; a job already present leaves the session unchanged. */
export const handler = httpRoute(
  'POST /sessions/{id}/jobs',
  { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: AddJobBodySchema },
  async ({ path, headers, body }, { actor }) => {
    const result = await sessionRepository().addJob(path.id, body.job_id, { ifMatch: headers['if-match'], actor });
    return sessionResponse(200, result);
  },
);
