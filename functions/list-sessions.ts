import { jsonResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { ListSessionsQuerySchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `GET /sessions`: a page of sessions, newest first, optionally of one status and one name; unknown parameters are refused. */
export const handler = httpRoute('GET /sessions', { query: ListSessionsQuerySchema }, async ({ query }) => {
  const page = await sessionRepository().listSessions(query);
  return jsonResponse(200, { sessions: page.sessions, next_cursor: page.nextCursor });
});
