import { randomBytes } from 'node:crypto';

/** Largest value of the 48-bit time field: IDs made at later instants get smaller prefixes. */
const MAX_TIME = 2 ** 48 - 1;

const SESSION_ID = /^[0-9a-f]{32}$/;

/**
 * A new session ID: 32 lowercase hex characters. The first 12 encode
 * `2^48 - 1 - unixMs`, so that lexicographic (S3 key) order is newest first;
 * the other 20 are 80 random bits. IDs group and order sessions; they are
 * never secrets.
 */
export function newestFirstId(unixMs: number = Date.now(), random: Buffer = randomBytes(10)): string {
  if (!Number.isSafeInteger(unixMs) || unixMs < 0 || unixMs > MAX_TIME) {
    throw new RangeError(`unixMs out of range: ${unixMs}`);
  }
  if (random.length !== 10) {
    throw new RangeError(`expected 10 random bytes, got ${random.length}`);
  }
  return (MAX_TIME - unixMs).toString(16).padStart(12, '0') + random.toString('hex');
}

/** True when `value` is a well-formed session ID (exactly `^[0-9a-f]{32}$`). */
export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value);
}

/** The creation instant (Unix milliseconds) encoded in a session ID. */
export function idCreatedAt(id: string): number {
  return MAX_TIME - Number.parseInt(id.slice(0, 12), 16);
}

/** The storage key of a session. Only ever called with a validated ID. */
export function sessionKey(id: string): string {
  if (!isSessionId(id)) throw new RangeError('not a session id');
  return `${SESSIONS_PREFIX}${id}.json`;
}

/** The session ID stored under `key`, or undefined when the key is not a session key. */
export function idFromKey(key: string): string | undefined {
  const match = /^sessions\/([0-9a-f]{32})\.json$/.exec(key);
  return match?.[1];
}

/** Every session object lives under this prefix. */
export const SESSIONS_PREFIX = 'sessions/';
