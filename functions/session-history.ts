import { jsonResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { SessionHistoryQuerySchema, SessionPathSchema } from '#lib/http/schemas.ts';
import { sessionRepository } from '#lib/runtime.ts';

/** `GET /sessions/{id}/history`: the session's versions, newest first, each with its time, writer and change. */
export const handler = httpRoute('GET /sessions/{id}/history', { path: SessionPathSchema, query: SessionHistoryQuerySchema }, async ({ path, query }) => {
  const page = await sessionRepository().sessionHistory(path.id, query);
  return jsonResponse(200, { versions: page.versions, next_cursor: page.nextCursor });
});
