/**
 * The dependencies the route handlers are built over: a repository on an
 * object store, with the service limits and the service log. The Lambda
 * entries build them once from the environment; the local server and the
 * tests build them on a store of their own.
 *
 * @module
 */

import { readServiceConfig, requireEnv, type ServiceConfig } from '../domain/config.ts';
import type { RouteDependencies } from '../http/route.ts';
import { logger } from '../http/telemetry.ts';
import { SessionRepository } from '../sessions/repository.ts';
import type { ObjectStore, PrunableObjectStore } from '../storage/port.ts';
import { S3ObjectStore } from '../storage/s3.ts';

/**
 * A repository on `store` with `config` (default: the limits in the environment), whose warnings go to the service log;
 * lease renewals in `renewals` (default: in memory, for tests).
 */
export function repositoryFor(
  store: ObjectStore,
  config: ServiceConfig = readServiceConfig(),
  renewals?: PrunableObjectStore,
): SessionRepository {
  return new SessionRepository({
    store,
    config,
    ...(renewals === undefined ? {} : { renewals }),
    onWarning: ({ message, key, error }) => logger.warn(message, { key, error }),
  });
}

/** The handlers' dependencies on `store` (lease renewals in `renewals`). */
export function dependenciesFor(store: ObjectStore, config?: ServiceConfig, renewals?: PrunableObjectStore): RouteDependencies {
  return { repository: repositoryFor(store, config, renewals) };
}

/**
 * The handlers' dependencies as a Lambda function runs them: the S3 buckets
 * `SESSIONS_BUCKET` (versioned: the sessions) and `LEASES_BUCKET` (no
 * versions: lease renewals), and the limits read from `env`.
 * @throws Error `SESSIONS_BUCKET environment variable is not set` (or `LEASES_BUCKET`), or a malformed limit.
 */
export function environmentDependencies(env: Record<string, string | undefined> = process.env): RouteDependencies {
  const bucket = requireEnv(env, 'SESSIONS_BUCKET').trim();
  const leases = requireEnv(env, 'LEASES_BUCKET').trim();
  return dependenciesFor(new S3ObjectStore({ bucket }), readServiceConfig(env), new S3ObjectStore({ bucket: leases }));
}
