/**
 * The composition root of the Lambda functions: the route handlers'
 * dependencies built once from the environment.
 *
 * @module
 */

import { readServiceConfig, requireEnv } from '../domain/config.ts';
import { dependenciesFor } from '../http/dependencies.ts';
import type { RouteDependencies } from '../http/route.ts';
import { S3ObjectStore } from '../storage/s3.ts';

export { dependenciesFor, repositoryFor } from '../http/dependencies.ts';

/**
 * The handlers' dependencies as a Lambda function runs them: the S3 buckets
 * `SESSIONS_BUCKET` (versioned: the sessions) and `LEASES_BUCKET` (no
 * versions: lease renewals), and the limits read from `env`.
 * @throws Error `SESSIONS_BUCKET environment variable is not set` (or `LEASES_BUCKET`), or a malformed limit.
 */
export function environmentDependencies(env: Record<string, string | undefined> = process.env): RouteDependencies {
  const bucket = requireEnv(env, 'SESSIONS_BUCKET').trim();
  const leases = requireEnv(env, 'LEASES_BUCKET').trim();
  return dependenciesFor(new S3ObjectStore({ bucket }), new S3ObjectStore({ bucket: leases }), readServiceConfig(env));
}
