import { JOB_ID_MAX_BYTES } from '#lib/domain/limits.ts';

/**
 * `count` distinct job IDs of the longest kind the limits allow, each of
 * which JSON makes as large as it can: {@link JOB_ID_MAX_BYTES} characters
 * of `"` and `\`, every one escaped to two bytes (and to four inside a
 * Lambda answer, whose body is itself a JSON string).
 */
export function largestJobIds(count: number): string[] {
  return Array.from({ length: count }, (_, index) =>
    index.toString(2).replaceAll('0', '"').replaceAll('1', '\\').padStart(JOB_ID_MAX_BYTES, '"'),
  );
}
