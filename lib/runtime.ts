/**
 * The process-wide wiring of the handlers to storage.
 *
 * The environment is read once, when this module loads: the service limits
 * (a malformed value fails the cold start with a clear message) and
 * `SESSIONS_BUCKET`. When the bucket is set, the S3 repository is built here,
 * once, and reused by every request.
 *
 * A missing bucket is not a load-time error, so that the local server can
 * import the very same handlers and point them at another store with
 * {@link useRepository} before serving. A request that arrives with neither
 * fails with `SESSIONS_BUCKET environment variable is not set` (logged; the
 * caller gets 500 `internal_error`).
 *
 * @module
 */

import { readServiceConfig, requireEnv } from './config.ts';
import { logger } from './http/telemetry.ts';
import { SessionRepository } from './repository.ts';
import type { ObjectStore } from './store/port.ts';
import { S3ObjectStore } from './store/s3.ts';

const environment = { SESSIONS_BUCKET: process.env.SESSIONS_BUCKET };
const config = readServiceConfig();

let fromEnvironment = environment.SESSIONS_BUCKET?.trim() ? s3Repository() : undefined;
let override: SessionRepository | undefined;

/**
 * A repository on `store` with the limits read from the environment, whose
 * warnings go to the service log. For the local server:
 * `useRepository(repositoryFor(new FileObjectStore(…)))`.
 */
export function repositoryFor(store: ObjectStore): SessionRepository {
  return new SessionRepository({
    store,
    config,
    onWarning: ({ message, key, error }) => logger.warn(message, { key, error }),
  });
}

/**
 * Makes every handler of this process use `repository` instead of the one
 * built from the environment; `undefined` goes back to the environment's.
 * Call it before the first request (the local server, tests).
 */
export function useRepository(repository: SessionRepository | undefined): void {
  override = repository;
}

/**
 * The repository the handlers use: the one given to {@link useRepository},
 * else the S3 one built from `SESSIONS_BUCKET`.
 * @throws Error `SESSIONS_BUCKET environment variable is not set` when there is neither.
 */
export function sessionRepository(): SessionRepository {
  return override ?? (fromEnvironment ??= s3Repository());
}

function s3Repository(): SessionRepository {
  return repositoryFor(new S3ObjectStore({ bucket: requireEnv(environment, 'SESSIONS_BUCKET').trim() }));
}
