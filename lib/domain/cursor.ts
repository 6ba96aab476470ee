import { InvalidRequest } from './errors.ts';
import { isSessionId } from './ids.ts';
import * as z from './zod.ts';

/**
 * An opaque cursor: base64url of a small JSON object. Callers cannot read
 * into it, and `decodeOpaqueCursor` refuses anything that does not decode to
 * exactly the expected shape, before it can reach storage.
 */
export function encodeOpaqueCursor(payload: Record<string, string>): string {
  return Buffer.from(JSON.stringify(payload), 'utf-8').toString('base64url');
}

/** The payload of a cursor. @throws InvalidRequest (`query.cursor`) for anything this service did not issue. */
export function decodeOpaqueCursor<T>(cursor: string, schema: z.ZodMiniType<T>, maxLength: number): T {
  const invalid = InvalidRequest.field('query.cursor', 'is not a cursor returned by this API');
  if (cursor.length > maxLength || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf-8'));
  } catch {
    throw invalid;
  }
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) throw invalid;
  return parsed.data;
}

const ListCursorSchema = z.strictObject({ after: z.string().check(z.refine(isSessionId)) });

/**
 * A listing cursor: the ID of the last session the previous page examined.
 * Listing resumes strictly after its key, so a page can end anywhere (a
 * filtered page ends as soon as it is full).
 */
export function encodeCursor(afterId: string): string {
  return encodeOpaqueCursor({ after: afterId });
}

/** The session ID a listing cursor resumes after. @throws InvalidRequest for anything this service did not issue. */
export function decodeCursor(cursor: string): string {
  return decodeOpaqueCursor(cursor, ListCursorSchema, 200).after;
}
