import { afterEach, beforeEach } from 'vitest';
import { readServiceConfig, type ServiceConfig } from '#lib/domain/config.ts';
import type { HttpHandler } from '#lib/http/route.ts';
import { API_ROUTES, type OperationId, routeHandler } from '#lib/http/route-table.ts';
import { dependenciesFor } from '#lib/runtime/lambda.ts';
import type { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { ObjectStore, PrunableObjectStore } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { TEST_BUCKET } from './lambda-env.ts';
import { S3Fake } from './s3-fake.ts';

export { TEST_BUCKET };

/** The service limits of the tests: the defaults, without backoff sleeps, so that contention runs in milliseconds. */
export const TEST_CONFIG: ServiceConfig = {
  ...readServiceConfig({}),
  casBaseDelayMs: 0,
  casMaxDelayMs: 0,
  // The role of TEST_CALLER operates: most tests seed sessions without an owner, which only operators change.
  operators: new Set(['arn:aws:iam::123456789012:role/runner']),
};

/** The Lambda handler of every route, by the route's OpenAPI operation ID. */
export type RouteHandlers = Record<OperationId, HttpHandler>;

/** The handlers of one test's service, with the repository and store they share. */
export interface TestService extends RouteHandlers {
  repository: SessionRepository;
  store: ObjectStore;
  /** The handler of a route by its key (`POST /sessions/{id}/jobs`). */
  byRouteKey: ReadonlyMap<string, HttpHandler>;
}

export interface TestServiceOptions {
  /** Default: the S3 store on {@link TEST_BUCKET}, which an `S3Fake` answers. */
  store?: ObjectStore;
  /** Default: {@link TEST_CONFIG}. */
  config?: ServiceConfig;
  /** Lease renewals and the status index. Default: a store in memory. */
  renewals?: PrunableObjectStore;
}

/**
 * Every route's handler over one repository, as one warm Lambda instance per
 * route would run them: on the stateful S3 fake by default, or on `store`.
 * A second call builds another instance, with its own session cache.
 */
export function testService({
  store = new S3ObjectStore({ bucket: TEST_BUCKET }),
  config = TEST_CONFIG,
  renewals = new MemoryObjectStore(),
}: TestServiceOptions = {}): TestService {
  const dependencies = dependenciesFor(store, renewals, config);
  const byRouteKey = new Map(API_ROUTES.map((route) => [route.routeKey as string, routeHandler(route, dependencies)]));
  const handlers = Object.fromEntries(
    API_ROUTES.map((route) => [route.docs.operationId, byRouteKey.get(route.routeKey)!]),
  ) as RouteHandlers;
  return { ...handlers, repository: dependencies.repository, store, byRouteKey };
}

/** A test file's service on the stateful S3 fake: a fresh fake for every test, the same handlers throughout. */
export interface FakeS3Service extends TestService {
  /** The current test's fake. */
  readonly fake: S3Fake;
}

/**
 * Registers a fresh {@link S3Fake} around every test of the file and builds
 * the handlers once, on the S3 store the fake answers (as one warm instance
 * of each function, reused across the file's tests).
 */
export function useFakeS3Service(options: Omit<TestServiceOptions, 'store'> = {}): FakeS3Service {
  const service = testService(options);
  let fake: S3Fake | undefined;
  beforeEach(() => {
    fake = new S3Fake();
  });
  afterEach(() => {
    fake?.restore();
    fake = undefined;
  });
  return {
    ...service,
    get fake(): S3Fake {
      if (fake === undefined) throw new Error('the S3 fake exists only while a test runs');
      return fake;
    },
  };
}
