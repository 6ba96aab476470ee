/** Where time comes from: the system clock in production, a controlled one in tests. */
export interface Clock {
  /** The current time in Unix milliseconds. */
  now(): number;
}

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() };
