import { z } from 'zod';
import { InvalidRequest } from './errors.ts';
import { isSessionId } from './ids.ts';

const CursorSchema = z.strictObject({ after: z.string().refine(isSessionId) });

/**
 * An opaque listing cursor: the ID of the last session the previous page
 * examined. Listing resumes strictly after its key, so a page can end anywhere
 * (a filtered page ends as soon as it is full) and a cursor is checked here,
 * before it can reach storage.
 */
export function encodeCursor(afterId: string): string {
  return Buffer.from(JSON.stringify({ after: afterId }), 'utf-8').toString('base64url');
}

/** The session ID a cursor resumes after. @throws InvalidRequest for anything this service did not issue. */
export function decodeCursor(cursor: string): string {
  const invalid = InvalidRequest.field('query.cursor', 'is not a cursor returned by this API');
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf-8'));
  } catch {
    throw invalid;
  }
  const parsed = CursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid;
  return parsed.data.after;
}
