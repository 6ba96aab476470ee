/**
 * Retention of ended sessions (DESIGN.md "Retention (v1.2)"): a session ended
 * (`completed`, `terminated`) for `RETENTION_DAYS` is deleted with its
 * versions and every record that points at it.
 *
 * Deployed, S3 lifecycle does the deleting: every write whose resulting status
 * is `completed` or `terminated` carries the object tag {@link ENDED_TAG} (the
 * `Tagging` parameter of the conditional PUT, {@link ENDED_TAGGING}), and a rule
 * expires the tagged current versions `RETENTION_DAYS` after they were written.
 *
 * @module
 */

/** The object tag of a session version whose status is final; lifecycle expires such versions. */
export const ENDED_TAG = { key: 'runner-sessions:ended', value: 'true' } as const;

/** {@link ENDED_TAG} as the `Tagging` parameter of a PutObject (URL query form). */
export const ENDED_TAGGING = `${encodeURIComponent(ENDED_TAG.key)}=${ENDED_TAG.value}`;

/** The statuses a session ends in: retention counts from the last write in one of them. */
export const ENDED_STATUSES = ['completed', 'terminated'] as const;

/** True when `status` is one a session ends in. */
export function isEnded(status: string): boolean {
  return (ENDED_STATUSES as readonly string[]).includes(status);
}

/** What a write of a session in `status` carries: the ended tag when the status is final, else nothing. */
export function endingWriteTags(status: string): { tagging: string } | undefined {
  return isEnded(status) ? { tagging: ENDED_TAGGING } : undefined;
}

/** The fewest and most days `RETENTION_DAYS` may name. */
export const RETENTION_DAYS_RANGE = { min: 1, max: 3650 } as const;

/**
 * `RETENTION_DAYS` from the environment: whole days in {@link RETENTION_DAYS_RANGE},
 * or undefined (unset or empty) to keep ended sessions forever.
 * @throws with a clear message on any other value.
 */
export function readRetentionDays(env: Record<string, string | undefined> = process.env): number | undefined {
  const raw = env.RETENTION_DAYS;
  if (raw === undefined || raw.trim() === '') return undefined;
  // Digits only: `1e3`, `0x10` and `30.0` are not how anyone writes a number of days.
  const days = /^[0-9]+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!(Number.isSafeInteger(days) && days >= RETENTION_DAYS_RANGE.min && days <= RETENTION_DAYS_RANGE.max)) {
    throw new Error(
      `RETENTION_DAYS must be a whole number of days from ${RETENTION_DAYS_RANGE.min} to ${RETENTION_DAYS_RANGE.max}, or unset to keep ended sessions forever; got ${JSON.stringify(raw)}`,
    );
  }
  return days;
}
