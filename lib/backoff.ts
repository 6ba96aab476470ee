/**
 * Capped exponential backoff with full jitter: a uniformly random delay in
 * `[0, min(maxMs, baseMs · 2^(attempt-1)))`. Spreads retrying writers apart
 * so that contention drains instead of repeating in lock step.
 */
export function fullJitterDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms` milliseconds (at once for 0 or less). */
export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
