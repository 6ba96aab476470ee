import { S3Client } from '@aws-sdk/client-s3';
import { readServiceConfig, requireEnv } from '#lib/domain/config.ts';
import type { HttpHandler } from '#lib/http/route.ts';
import { API_ROUTES, entryName, routeHandler } from '#lib/http/route-table.ts';
import { dependenciesFor } from '#lib/runtime/lambda.ts';
import { S3_CLIENT_CONFIG, S3ObjectStore } from '#lib/storage/s3.ts';
import { TEST_BUCKET } from '../helpers/lambda-env.ts';

/** The Lambda entries of `functions/`, one per route: `add-job`, `get-session`… */
export type RouteModule = string;

/**
 * The handler of `route` as a new Lambda instance would run it: it reads the
 * environment now (the bucket, default {@link TEST_BUCKET}, and the limits)
 * and has its own repository, its own warm session cache and its own S3
 * client, exactly as separate instances of one function do. The AWS SDK
 * package, and with it any `S3Fake`, is shared.
 */
export async function coldStart(route: RouteModule): Promise<HttpHandler> {
  const entry = API_ROUTES.find((candidate) => entryName(candidate) === route);
  if (entry === undefined) throw new Error(`no route has the Lambda entry functions/${route}.ts`);
  const env: Record<string, string | undefined> = { SESSIONS_BUCKET: TEST_BUCKET, ...process.env };
  const client = new S3Client({
    ...S3_CLIENT_CONFIG,
    forcePathStyle: env.AWS_ENDPOINT_URL_S3 !== undefined || env.AWS_ENDPOINT_URL !== undefined,
  });
  const bucket = requireEnv(env, 'SESSIONS_BUCKET').trim();
  const store = new S3ObjectStore({ bucket, client });
  // Lease renewals in their own bucket when one is named, else beside the sessions (keys never collide).
  const renewals = new S3ObjectStore({ bucket: env.LEASES_BUCKET?.trim() || bucket, client });
  return routeHandler(entry, dependenciesFor(store, renewals, readServiceConfig(env)));
}

/**
 * {@link coldStart} of `count` instances with `env` in place while they
 * start; the environment is put back after. Not for concurrent use: each call
 * swaps the process environment.
 */
export async function coldStartWith(route: RouteModule, env: Record<string, string>, count = 1): Promise<HttpHandler[]> {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    const started: HttpHandler[] = [];
    for (let n = 0; n < count; n++) started.push(await coldStart(route));
    return started;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
