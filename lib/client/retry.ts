import { fullJitterDelay } from '../common/backoff.ts';

/** How the client retries calls that are safe to repeat. */
export interface RetryOptions {
  /** Requests per call, the first included (1 = never retry). */
  maxAttempts: number;
  /** Ceiling of the first backoff in ms, doubled per attempt. */
  baseDelayMs: number;
  /** Longest wait between two attempts in ms, also the cap on a server's `Retry-After`. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryOptions> = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

/** `Retry-After` in seconds: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * How long to wait before attempt `attempt + 1`: capped exponential backoff
 * with full jitter; when the server sent `Retry-After`, at least that long
 * (jitter on top spreads the runners it told the same thing), within `maxDelayMs`.
 */
export function retryDelay(
  attempt: number,
  retryAfterSeconds: number | undefined,
  options: RetryOptions,
  random: () => number = Math.random,
): number {
  const jitter = fullJitterDelay(attempt, options.baseDelayMs, options.maxDelayMs, random);
  if (retryAfterSeconds === undefined) return jitter;
  return Math.min(options.maxDelayMs, retryAfterSeconds * 1000 + jitter);
}
