import { countJobs, type JobCounts, JobCountsSchema, JobOutcomesSchema } from './job-outcome.ts';
import { JOB_ID_MAX_BYTES, LABEL_MAX_BYTES } from './limits.ts';
import * as z from './zod.ts';

/** The four states of a session. */
export const SESSION_STATUSES = ['active', 'paused', 'completed', 'terminated'] as const;
export const SessionStatusSchema = z.enum(SESSION_STATUSES);
export type SessionStatus = z.infer<typeof SessionStatusSchema>;

/** Control characters (C0, DEL, C1) are refused in names and job IDs. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Bidirectional formatting controls (ALM, LRM, RLM, LRE…RLO, LRI…PDI): they reorder what a terminal shows. */
const BIDI_CONTROLS = /\p{Bidi_Control}/u;

/** U+2028 and U+2029 end a line in many viewers, so one label could pose as two rows of output. */
const LINE_SEPARATORS = /[\u2028\u2029]/;

/** The 66 noncharacters (U+FDD0–U+FDEF and the last two code points of every plane): never for interchange. */
const NONCHARACTERS = /\p{Noncharacter_Code_Point}/u;

/**
 * A 1–256 character string without control characters, and well-formed
 * UTF-16 (no lone surrogate), as every Rust `String` is. Characters that can
 * make one label look like another, or like more than one line of a table, are
 * refused too: bidirectional controls, line and paragraph separators,
 * noncharacters. What is stored is read with these rules; what callers send is
 * held to a byte bound as well ({@link LabelSchema}, {@link JobIdSchema}).
 */
export const StoredLabelSchema = z.string().check(
  z.minLength(1),
  z.maxLength(256),
  z.refine((value) => !CONTROL_CHARACTERS.test(value), { message: 'must not contain control characters' }),
  z.refine((value) => value.isWellFormed(), { message: 'must not contain lone surrogates' }),
  z.refine((value) => !BIDI_CONTROLS.test(value), {
    message: 'must not contain bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)',
  }),
  z.refine((value) => !LINE_SEPARATORS.test(value), { message: 'must not contain a line or paragraph separator (U+2028, U+2029)' }),
  z.refine((value) => !NONCHARACTERS.test(value), { message: 'must not contain Unicode noncharacters (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF)' }),
);

/** A stored label of at most `bytes` bytes of UTF-8 (checked once the length is in range, so a long one hears one reason). */
function withinBytes(bytes: number): typeof StoredLabelSchema {
  return StoredLabelSchema.check(
    z.refine((value) => value.length > 256 || Buffer.byteLength(value, 'utf-8') <= bytes, {
      message: `must be at most ${bytes} bytes of UTF-8`,
    }),
  );
}

/** A label a caller sends (a name, a holder): as stored, and at most {@link LABEL_MAX_BYTES} bytes of UTF-8. */
export const LabelSchema = withinBytes(LABEL_MAX_BYTES);

export const SessionNameSchema = LabelSchema;
/** A job ID a caller sends: a label of at most {@link JOB_ID_MAX_BYTES} bytes of UTF-8. */
export const JobIdSchema = withinBytes(JOB_ID_MAX_BYTES);

/** Shortest and longest lease, in seconds, and the length when none is asked for. */
export const LEASE_SECONDS = { min: 5, max: 3600, default: 60 } as const;

/** A lease length: a whole number of seconds from 5 to 3600. */
export const LeaseSecondsSchema = z.number().check(
  z.int(),
  z.refine((value) => value >= LEASE_SECONDS.min && value <= LEASE_SECONDS.max, {
    message: `must be a whole number of seconds from ${LEASE_SECONDS.min} to ${LEASE_SECONDS.max}`,
  }),
);

/** The `lease` field of a session. */
export const LeaseSchema = z.looseObject({
  holder: StoredLabelSchema,
  epoch: z.number().check(z.int(), z.positive()),
  seconds: LeaseSecondsSchema,
  expires_at: z.number().check(z.int(), z.nonnegative()),
  /** Set when the lease ended before its time ran out: released by a status change, paused by the sweeper, or ended by a forced restore. */
  ended: z.optional(z.enum(['released', 'expired', 'restored'])),
  /** Set on a lease whose acquire fenced out another holder's live lease (a forced take-over). */
  taken_over: z.optional(z.boolean()),
});
export type Lease = z.infer<typeof LeaseSchema>;

/**
 * A session as stored in `sessions/<id>.json` and sent on the wire. Compatible
 * with the original Rust `Session` JSON (snake_case, Unix seconds). The object
 * is loose: fields this version does not know survive a read-modify-write.
 */
export const SessionSchema = z.looseObject({
  id: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
  name: z.nullable(StoredLabelSchema),
  job_ids: z.array(StoredLabelSchema),
  created_at: z.number().check(z.int(), z.nonnegative()),
  updated_at: z.number().check(z.int(), z.nonnegative()),
  status: SessionStatusSchema,
  updated_by: z.optional(z.string()),
  /** Set only on the version a restore wrote: the ID of the version whose content it made current again. */
  restored_from: z.optional(z.string()),
  /** The runner lease; absent or null on a session that was never held. */
  lease: z.optional(z.nullable(LeaseSchema)),
  /** How each job ended, keyed by job ID: only jobs reported with a state (lib/domain/job-outcome.ts). */
  jobs: z.optional(JobOutcomesSchema.check(z.describe('How each job reported with a state stands, keyed by job ID (absent until one is)'))),
  /** How many jobs the session holds in each state; absent on sessions stored before it was kept ({@link withJobCounts}). */
  job_counts: z.optional(JobCountsSchema.check(z.describe('How many jobs the session holds, and how many of them are in each state'))),
  /** The outcomes the last write that recorded any recorded, keyed by job ID: what events and history name. */
  last_jobs: z.optional(JobOutcomesSchema.check(z.describe('The outcomes recorded by the last write that recorded any, keyed by job ID'))),
});
export type Session = z.infer<typeof SessionSchema>;

/** `session` with its `job_counts`, counted once when it was stored before they were kept (its next write stores them). */
export function withJobCounts(session: Session): Session & { job_counts: JobCounts } {
  if (session.job_counts !== undefined) return session as Session & { job_counts: JobCounts };
  return { ...session, job_counts: countJobs(session.job_ids, session.jobs) };
}

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
