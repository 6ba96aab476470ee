/**
 * The dependencies the route handlers are built over: a repository on the
 * stores given, with the service limits and the service log. The Lambda
 * entries (lib/runtime/lambda.ts), the local server and the tests each pass
 * the stores they serve from.
 *
 * @module
 */

import { readServiceConfig, type ServiceConfig } from '../domain/config.ts';
import { SessionRepository } from '../sessions/repository.ts';
import type { ObjectStore, PrunableObjectStore } from '../storage/port.ts';
import type { RouteDependencies } from './route.ts';
import { logger } from './telemetry.ts';

/**
 * A repository on `store` (the sessions) and `renewals` (lease renewals and the status index: a store without
 * versions), with `config` (default: the limits in the environment), whose warnings go to the service log.
 */
export function repositoryFor(
  store: ObjectStore,
  renewals: PrunableObjectStore,
  config: ServiceConfig = readServiceConfig(),
): SessionRepository {
  return new SessionRepository({
    store,
    renewals,
    config,
    onWarning: ({ message, key, error }) => logger.warn(message, { key, error }),
  });
}

/** The handlers' dependencies on `store`, with lease renewals and the status index in `renewals`. */
export function dependenciesFor(store: ObjectStore, renewals: PrunableObjectStore, config?: ServiceConfig): RouteDependencies {
  return { repository: repositoryFor(store, renewals, config) };
}
