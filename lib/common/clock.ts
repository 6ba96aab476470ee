import { sleep } from './backoff.ts';

/**
 * Where time, randomness and waiting come from: the system in production, a
 * controlled clock in tests. Everything that reads the time takes one.
 */
export interface Clock {
  /** The current time in Unix milliseconds. */
  now(): number;
  /** Uniform in [0, 1), for backoff jitter. */
  random(): number;
  sleep(ms: number): Promise<void>;
}

/** What only needs to read the time (the stores). */
export type TimeSource = Pick<Clock, 'now'>;

/** The real clock: `Date.now`, `Math.random` and timers. */
export const systemClock: Clock = { now: () => Date.now(), random: () => Math.random(), sleep };
