import { z } from 'zod';

/** The four states of a session. */
export const SESSION_STATUSES = ['active', 'paused', 'completed', 'terminated'] as const;
export const SessionStatusSchema = z.enum(SESSION_STATUSES);
export type SessionStatus = z.infer<typeof SessionStatusSchema>;

/** Control characters (C0, DEL, C1) are refused in names and job IDs. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A 1–256 character string without control characters, and well-formed
 * UTF-16 (no lone surrogate), as any Rust `String` is.
 */
export const LabelSchema = z
  .string()
  .min(1)
  .max(256)
  .refine((value) => !CONTROL_CHARACTERS.test(value), { message: 'must not contain control characters' })
  .refine((value) => value.isWellFormed(), { message: 'must not contain lone surrogates' });

export const SessionNameSchema = LabelSchema;
export const JobIdSchema = LabelSchema;

/**
 * A session as stored in `sessions/<id>.json` and sent on the wire. Compatible
 * with the original Rust `Session` JSON (snake_case, Unix seconds). The object
 * is loose: fields this version does not know survive a read-modify-write.
 */
export const SessionSchema = z.looseObject({
  id: z.string().regex(/^[0-9a-f]{32}$/),
  name: SessionNameSchema.nullable(),
  job_ids: z.array(JobIdSchema),
  created_at: z.number().int().nonnegative(),
  updated_at: z.number().int().nonnegative(),
  status: SessionStatusSchema,
  updated_by: z.string().optional(),
  /** Set only on the version a restore wrote: the ID of the version whose content it made current again. */
  restored_from: z.string().optional(),
});
export type Session = z.infer<typeof SessionSchema>;

/** Allowed moves between different states; setting the current state again is always a no-op. */
const TRANSITIONS: Readonly<Record<SessionStatus, readonly SessionStatus[]>> = {
  active: ['paused', 'completed', 'terminated'],
  paused: ['active', 'completed', 'terminated'],
  completed: [],
  terminated: [],
};

/** What asking a session in state `from` to move to `to` does. */
export type Transition = 'unchanged' | 'allowed' | 'refused';

/** The status machine: `active ⇄ paused`, either of them → `completed | terminated` (terminal). */
export function transition(from: SessionStatus, to: SessionStatus): Transition {
  if (from === to) return 'unchanged';
  return TRANSITIONS[from].includes(to) ? 'allowed' : 'refused';
}

/** Terminal states accept no further change. */
export function isTerminal(status: SessionStatus): boolean {
  return TRANSITIONS[status].length === 0;
}
