import { z } from 'zod';
import { createdResponse } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { sessionRepository } from '#lib/runtime.ts';
import { SessionNameSchema } from '#lib/session.ts';

const CreateSessionBody = z.strictObject({ name: SessionNameSchema.nullable().optional() }).default({});

/** `POST /sessions`: opens an active session with no jobs; 201 with `Location` and `ETag`. */
export const handler = httpRoute('POST /sessions', { body: CreateSessionBody }, async ({ body }, { actor }) => {
  const created = await sessionRepository().createSession({ name: body.name ?? null, actor });
  return createdResponse(created);
});
