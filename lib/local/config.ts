import { readFileSync } from 'node:fs';
import { readServiceConfig } from '../domain/config.ts';
import { readRetentionDays } from '../domain/retention.ts';
import { type AccessToken, parseTokenFile, singleToken, TokenConfigError } from './access.ts';
import type { LocalServerOptions } from './server.ts';

/** Connections served at once unless told otherwise. */
export const DEFAULT_MAX_CONNECTIONS = 256;

/** Seconds between the local server's lease sweeps unless told otherwise (the deployed schedule runs every 60). */
export const LOCAL_LEASE_SWEEP_SECONDS = 10;

/** A setting of `npm start` that cannot be used; the message says which and how to fix it. */
export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError';
}

/**
 * The local server's options from the environment of `npm start`: `HOST`
 * (default 127.0.0.1), `PORT` (3000), `DATA_DIR`, `SESSIONS_BUCKET`,
 * `LOCAL_TOKEN` or `LOCAL_TOKEN_FILE`, `LOCAL_HOST_NAMES` (comma-separated
 * names clients use to reach it), `LOCAL_MAX_CONNECTIONS`, `LEASES_BUCKET` (lease
 * renewals when serving from S3), `LEASE_SWEEP_SECONDS` (10; 0: no sweeps), `RETENTION_DAYS` (unset: ended sessions are
 * kept forever) and `EVENTS_WEBHOOK_URL`.
 * @throws LocalConfigError naming the variable at fault.
 */
export function readLocalConfig(env: Record<string, string | undefined>): LocalServerOptions & { host: string; port: number } {
  const port = Number(env.PORT ?? 3000);
  if (!/^[0-9]+$/.test(env.PORT ?? '3000') || port > 65_535)
    throw new LocalConfigError(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
  const maxConnections = Number(env.LOCAL_MAX_CONNECTIONS ?? DEFAULT_MAX_CONNECTIONS);
  if (!/^[1-9][0-9]{0,5}$/.test(env.LOCAL_MAX_CONNECTIONS ?? String(DEFAULT_MAX_CONNECTIONS))) {
    throw new LocalConfigError(
      `LOCAL_MAX_CONNECTIONS must be a whole number from 1 to 999999, got ${JSON.stringify(env.LOCAL_MAX_CONNECTIONS)}`,
    );
  }
  const bucket = env.SESSIONS_BUCKET?.trim() || undefined;
  const leasesBucket = env.LEASES_BUCKET?.trim() || undefined;
  const leaseSweepSeconds = localSweepSeconds(env);
  serviceSettings(env);
  const retentionDays = localRetentionDays(env);
  const hostNames = (env.LOCAL_HOST_NAMES ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return {
    host: env.HOST?.trim() || '127.0.0.1',
    port,
    maxConnections,
    tokens: readTokens(env),
    hostNames,
    ...(bucket === undefined ? {} : { bucket }),
    ...(leasesBucket === undefined ? {} : { leasesBucket }),
    leaseSweepSeconds,
    ...(retentionDays === undefined ? {} : { retentionDays }),
    ...(env.EVENTS_WEBHOOK_URL?.trim() ? { eventsWebhookUrl: webhookUrl(env.EVENTS_WEBHOOK_URL.trim()) } : {}),
    ...(env.DATA_DIR === undefined ? {} : { dataDir: env.DATA_DIR }),
  };
}

/** `LEASE_SWEEP_SECONDS`, read by the service's own parser, with the local server's default. */
function localSweepSeconds(env: Record<string, string | undefined>): number {
  try {
    return readServiceConfig({ LEASE_SWEEP_SECONDS: env.LEASE_SWEEP_SECONDS ?? String(LOCAL_LEASE_SWEEP_SECONDS) }).leaseSweepSeconds;
  } catch (error) {
    throw new LocalConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** `RETENTION_DAYS`: unset keeps ended sessions forever. */
function localRetentionDays(env: Record<string, string | undefined>): number | undefined {
  try {
    return readRetentionDays(env);
  } catch (error) {
    throw new LocalConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** The service's own settings (`MAX_JOBS_PER_SESSION`, `CAS_*`, …), checked before the server starts rather than at its first request. */
function serviceSettings(env: Record<string, string | undefined>): void {
  try {
    readServiceConfig({ ...env, LEASE_SWEEP_SECONDS: undefined });
  } catch (error) {
    throw new LocalConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** `EVENTS_WEBHOOK_URL`: an http(s) URL. */
function webhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LocalConfigError(`EVENTS_WEBHOOK_URL must be an http or https URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new LocalConfigError(`EVENTS_WEBHOOK_URL must be an http or https URL, got ${JSON.stringify(value)}`);
  return url.href;
}

function readTokens(env: Record<string, string | undefined>): AccessToken[] {
  const token = env.LOCAL_TOKEN;
  const file = env.LOCAL_TOKEN_FILE;
  if (token && file) throw new LocalConfigError('set LOCAL_TOKEN or LOCAL_TOKEN_FILE, not both');
  try {
    if (token) return [singleToken(token)];
    if (file) return parseTokenFile(readTokenFile(file), `LOCAL_TOKEN_FILE ${file}`);
    return [];
  } catch (error) {
    if (error instanceof TokenConfigError) throw new LocalConfigError(error.message);
    throw error;
  }
}

function readTokenFile(file: string): string {
  try {
    return readFileSync(file, 'utf-8');
  } catch (error) {
    throw new LocalConfigError(`LOCAL_TOKEN_FILE ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
