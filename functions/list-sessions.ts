import { z } from 'zod';
import { jsonResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { sessionRepository } from '#lib/runtime.ts';
import { SessionStatusSchema } from '#lib/session.ts';

const ListSessionsQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .refine((limit) => limit >= 1 && limit <= 100, 'must be an integer from 1 to 100')
    .optional(),
  cursor: z.string().min(1).optional(),
  status: SessionStatusSchema.optional(),
});

/** `GET /sessions`: a page of sessions, newest first, optionally of one status; unknown parameters are refused. */
export const handler = httpRoute('GET /sessions', { query: ListSessionsQuery }, async ({ query }) => {
  const page = await sessionRepository().listSessions(query);
  return jsonResponse(200, { sessions: page.sessions, next_cursor: page.nextCursor });
});
