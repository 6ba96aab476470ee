/**
 * Capped exponential backoff with full jitter: a uniformly random delay in
 * `[0, min(maxMs, baseMs · 2^(attempt-1)))`. Spreads retrying writers apart
 * so that contention drains instead of repeating in lock step.
 */
export function fullJitterDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, baseMs, maxMs));
}

/**
 * Capped exponential backoff with equal jitter: half the ceiling for sure,
 * half of it random, so that a retry loop against a peer that is down never
 * waits next to nothing (a webhook, a failed announcement).
 */
export function equalJitterDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return backoffCeiling(attempt, baseMs, maxMs) / 2 + fullJitterDelay(attempt, baseMs, maxMs, random) / 2;
}

/** `min(maxMs, baseMs · 2^(attempt-1))`. */
function backoffCeiling(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Resolves after `ms` milliseconds (at once for 0 or less). */
export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
