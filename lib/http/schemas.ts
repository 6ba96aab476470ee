import { isSessionId } from '../domain/ids.ts';
import { ExitCodeSchema, isFinal, JobStateSchema, SignalSchema } from '../domain/job-outcome.ts';
import { HISTORY_LIMIT, type PageLimit, pageLimitMessage, SESSION_LIST_LIMIT } from '../domain/limits.ts';
import { JobIdSchema, LabelSchema, LeaseSecondsSchema, SessionNameSchema, SessionStatusSchema } from '../domain/session.ts';
import * as z from '../domain/zod.ts';
import { VERSION_ID_PATTERN } from '../sessions/history.ts';
import { IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN } from '../sessions/idempotency.ts';

/** A session ID in the path: exactly `^[0-9a-f]{32}$`, checked before anything touches storage. */
export const SessionIdSchema = z.string().check(z.refine(isSessionId, { message: 'must be 32 lowercase hexadecimal characters' }));

/** `/sessions/{id}`. */
export const SessionPathSchema = z.object({ id: SessionIdSchema });

/** One entity tag (quoted, weak or bare); `*` means "any version" and sets no condition. */
const IfMatchSchema = z.pipe(
  z.string().check(
    z.trim(),
    z.refine((value) => value === '*' || /^(W\/)?"[^"]*"$/.test(value) || /^[^\s",]+$/.test(value), {
      message: 'must be * or a single entity tag',
    }),
  ),
  z.transform((value: string) => (value === '*' ? undefined : value)),
);

/** The optional `If-Match` of a change: apply it only to that version of the session (412 otherwise). */
export const IfMatchHeadersSchema = z.object({ 'if-match': z.optional(IfMatchSchema) });

/** `POST /sessions` body: an optional name; no body at all is the same as `{}`. */
export const CreateSessionBodySchema = z.strictObject({
  name: z.optional(z.nullable(SessionNameSchema)),
  /** Open the session held by a lease of this many seconds (epoch 1). */
  lease_seconds: z.optional(LeaseSecondsSchema),
  /** The lease's holder (default: the caller); only with `lease_seconds`. */
  holder: z.optional(LabelSchema),
});

/**
 * An `Idempotency-Key`: see `IDEMPOTENCY_KEY_PATTERN`, without commas. API
 * Gateway joins a header sent twice with `,`, so a comma is how a duplicated
 * key arrives; one request naming two keys is refused rather than hashed as a
 * third key that a retry sending it once would never match.
 */
export const IdempotencyKeySchema = z.string().check(
  z.regex(IDEMPOTENCY_KEY_PATTERN, `must be 1-${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters`),
  z.refine((key) => !key.includes(','), { message: 'must be sent once and contain no comma (a header sent twice arrives comma-joined)' }),
);

/** `POST /sessions` headers: the optional `Idempotency-Key` that makes a repeat answer the same session. */
export const CreateSessionHeadersSchema = z.object({ 'idempotency-key': z.optional(IdempotencyKeySchema) });

/** Why an exit code or signal without a final state is refused. */
const ONLY_WHEN_FINAL = 'only with a final state (succeeded, failed or cancelled)';

/** Job IDs that cannot key a stored outcome (see AddJobBodySchema). */
const UNKEYABLE_JOB_IDS: ReadonlySet<string> = new Set(['"', '\\']);

/**
 * `POST /sessions/{id}/jobs` body: the job, and optionally how it stands — `running`, or a final state with the
 * exit code and signal it ended with (lib/domain/job-outcome.ts).
 */
export const AddJobBodySchema = z
  .strictObject({
    job_id: JobIdSchema,
    state: z.optional(JobStateSchema),
    exit_code: z.optional(ExitCodeSchema),
    signal: z.optional(SignalSchema),
  })
  .check(
    z.refine((body) => body.exit_code === undefined || (body.state !== undefined && isFinal(body.state)), {
      message: ONLY_WHEN_FINAL,
      path: ['exit_code'],
    }),
    z.refine((body) => body.signal === undefined || (body.state !== undefined && isFinal(body.state)), {
      message: ONLY_WHEN_FINAL,
      path: ['signal'],
    }),
    // Outcomes are stored keyed by job ID, and Node 24's JSON.parse can read the one-character key `"` as `\` once it
    // has parsed the other: two jobs so named would share one outcome when read back.
    z.refine((body) => body.state === undefined || !UNKEYABLE_JOB_IDS.has(body.job_id), {
      message: 'a job whose whole ID is `"` or `\\` cannot carry a state; give it a longer ID',
      path: ['job_id'],
    }),
  );

/** `PATCH /sessions/{id}` body. */
export const SetStatusBodySchema = z.strictObject({ status: SessionStatusSchema });

/** A `limit` query parameter: decimal digits, at most as many as the maximum has, naming 1 to the maximum. */
function pageLimitSchema(page: PageLimit) {
  const message = pageLimitMessage(page);
  return z
    .pipe(z.string().check(z.regex(new RegExp(`^[0-9]{1,${String(page.max).length}}$`), message)), z.transform(Number))
    .check(z.refine((limit) => limit >= 1 && limit <= page.max, message));
}

/** `GET /sessions` query; unknown parameters are refused so that a typo cannot widen a listing. */
export const ListSessionsQuerySchema = z.strictObject({
  limit: z.optional(pageLimitSchema(SESSION_LIST_LIMIT)),
  cursor: z.optional(z.string().check(z.minLength(1))),
  status: z.optional(SessionStatusSchema),
  name: z.optional(SessionNameSchema),
  /** `me`: only the caller's own sessions, through the owner index. */
  owner: z.optional(z.literal('me')),
});

/** `POST /sessions/{id}/owner` body: the owner the session records from now on (a principal ARN, a tenant). */
export const AdoptSessionBodySchema = z.strictObject({ owner: LabelSchema });

/** `GET /sessions/{id}/history` query: page size (1–100, default 20) and the previous page's cursor; nothing else. */
export const SessionHistoryQuerySchema = z.strictObject({
  limit: z.optional(pageLimitSchema(HISTORY_LIMIT)),
  cursor: z.optional(z.string().check(z.minLength(1))),
});

/** A version ID as the history lists it: 1–1024 printable ASCII characters without spaces. */
export const VersionIdSchema = z
  .string()
  .check(z.regex(VERSION_ID_PATTERN, 'must be a version_id from the session history (1-1024 printable ASCII characters)'));

/** `POST /sessions/{id}/restore` body: the version to make current again, and whether to end a live lease to do it. */
export const RestoreSessionBodySchema = z.strictObject({ version_id: VersionIdSchema, force: z.optional(z.boolean()) });

/** `Lease-Epoch`: the epoch of the caller's lease, a non-negative integer. */
export const LeaseEpochSchema = z.pipe(
  z.string().check(z.trim(), z.regex(/^[0-9]{1,15}$/, 'must be a non-negative integer')),
  z.transform(Number),
);

/** The headers of a change (add job, status change): the optional `If-Match` and `Lease-Epoch`. */
export const ChangeHeadersSchema = z.object({ 'if-match': z.optional(IfMatchSchema), 'lease-epoch': z.optional(LeaseEpochSchema) });

/** `POST /sessions/{id}/lease` body: who holds it, for how long, and whether to take it from a live holder. */
export const AcquireLeaseBodySchema = z.strictObject({
  holder: z.optional(LabelSchema),
  seconds: z.optional(LeaseSecondsSchema),
  force: z.optional(z.boolean()),
});

/** `POST /sessions/{id}/lease` headers: `Lease-Epoch`, which makes an acquire of a live lease its holder's re-acquire. */
export const AcquireLeaseHeadersSchema = z.object({ 'lease-epoch': z.optional(LeaseEpochSchema) });

/** `POST /sessions/{id}/heartbeat` headers: `Lease-Epoch`, required (428 `lease_required` without it). */
export const HeartbeatHeadersSchema = z.object({ 'lease-epoch': z.optional(LeaseEpochSchema) });

/** `POST /sessions/{id}/heartbeat` body: an optional extension other than the lease's length. */
export const HeartbeatBodySchema = z.strictObject({ seconds: z.optional(LeaseSecondsSchema) });
