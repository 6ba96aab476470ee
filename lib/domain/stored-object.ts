import type * as z from './zod.ts';

/**
 * The value a stored JSON body holds according to `schema`, or the reason it
 * holds none (not JSON, or not that shape). Every reader of stored objects
 * parses through here, so that all of them tell a bad object the same way.
 */
export function parseStoredObject<S extends z.ZodMiniType>(body: string, schema: S): z.output<S> | Error {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : parsed.error;
}
