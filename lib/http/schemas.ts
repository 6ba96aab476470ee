import { z } from 'zod';
import { isSessionId } from '../ids.ts';

/** A session ID in the path: exactly `^[0-9a-f]{32}$`, checked before anything touches storage. */
export const SessionIdSchema = z.string().refine(isSessionId, { message: 'must be 32 lowercase hexadecimal characters' });

/** `/sessions/{id}`. */
export const SessionPathSchema = z.object({ id: SessionIdSchema });

/** One entity tag (quoted, weak or bare); `*` means "any version" and sets no condition. */
const IfMatchSchema = z
  .string()
  .trim()
  .refine((value) => value === '*' || /^(W\/)?"[^"]*"$/.test(value) || /^[^\s",]+$/.test(value), {
    message: 'must be * or a single entity tag',
  })
  .transform((value) => (value === '*' ? undefined : value));

/** The optional `If-Match` of a change: apply it only to that version of the session (412 otherwise). */
export const IfMatchHeadersSchema = z.object({ 'if-match': IfMatchSchema.optional() });
