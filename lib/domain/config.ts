import type { Readers } from './owner.ts';

/** Limits and tuning shared by every entry point, read from the environment once. */
export interface ServiceConfig {
  /** Most job IDs one session may hold (`MAX_JOBS_PER_SESSION`, default 10,000). */
  maxJobsPerSession: number;
  /** Compare-and-swap attempts before answering 503 `conflict_retry` (`CAS_MAX_ATTEMPTS`, default 8). */
  casMaxAttempts: number;
  /** First backoff ceiling in ms, doubled per attempt (`CAS_BASE_DELAY_MS`, default 10). */
  casBaseDelayMs: number;
  /** Largest backoff ceiling in ms (`CAS_MAX_DELAY_MS`, default 400). */
  casMaxDelayMs: number;
  /** Keys a filtered listing may examine per request (`LIST_SCAN_BUDGET`, default 500). */
  listScanBudget: number;
  /** Sessions whose last known version a warm instance remembers (`SESSION_CACHE_SIZE`, default 1,000). */
  sessionCacheSize: number;
  /** How long a create's `Idempotency-Key` answers repeats with the same session (`IDEMPOTENCY_WINDOW_SECONDS`, default 86,400: one day). */
  idempotencyWindowSeconds: number;
  /**
   * Seconds between lease sweeps, and so how long a lease must have been expired before the sweeper pauses its
   * session (`LEASE_SWEEP_SECONDS`, default 60: the deployed schedule; the local server sweeps every 10).
   */
  leaseSweepSeconds: number;
  /**
   * Owners that are operators (`OPERATOR_PRINCIPALS`, comma-separated role or user ARNs, roles without their path):
   * they may change, restore and adopt every session and read all of them. Default: none.
   */
  operators: ReadonlySet<string>;
  /** Who may read and list sessions (`SESSION_READERS`): `account` (default) or `owner`. */
  readers: Readers;
}

type Env = Record<string, string | undefined>;

/** Reads the service limits; a malformed value is a startup error with a clear message. */
export function readServiceConfig(env: Env = process.env): ServiceConfig {
  return {
    maxJobsPerSession: positiveInteger(env, 'MAX_JOBS_PER_SESSION', 10_000),
    casMaxAttempts: positiveInteger(env, 'CAS_MAX_ATTEMPTS', 8),
    casBaseDelayMs: positiveInteger(env, 'CAS_BASE_DELAY_MS', 10, { allowZero: true }),
    casMaxDelayMs: positiveInteger(env, 'CAS_MAX_DELAY_MS', 400, { allowZero: true }),
    listScanBudget: positiveInteger(env, 'LIST_SCAN_BUDGET', 500),
    sessionCacheSize: positiveInteger(env, 'SESSION_CACHE_SIZE', 1_000, { allowZero: true }),
    idempotencyWindowSeconds: positiveInteger(env, 'IDEMPOTENCY_WINDOW_SECONDS', 86_400),
    leaseSweepSeconds: positiveInteger(env, 'LEASE_SWEEP_SECONDS', 60, { allowZero: true }),
    operators: new Set(
      (env.OPERATOR_PRINCIPALS ?? '')
        .split(',')
        .map((arn) => arn.trim())
        .filter((arn) => arn !== ''),
    ),
    readers: readers(env),
  };
}

/** The value of a variable that must be set. */
export function requireEnv(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`${name} environment variable is not set`);
  }
  return value;
}

function readers(env: Env): Readers {
  const raw = env.SESSION_READERS?.trim() || 'account';
  if (raw !== 'account' && raw !== 'owner') throw new Error(`SESSION_READERS must be 'account' or 'owner', got ${JSON.stringify(raw)}`);
  return raw;
}

function positiveInteger(env: Env, name: string, fallback: number, { allowZero = false } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}
