import { vi } from 'vitest';
import type { HttpHandler } from '#lib/http/route.ts';
import type { ApiRoute } from '#lib/routes.ts';

/** The handler modules of `functions/`, one per route. */
export type RouteModule = ApiRoute['handler'];

/**
 * The handler of `route` as a new Lambda instance would run it: the module
 * graph of the project is loaded afresh, so the instance reads the
 * environment now and has its own repository, its own warm session cache and
 * its own S3 client, exactly as separate instances of one function do.
 * Packages (the AWS SDK, and with it any `S3Fake`) are shared.
 */
export async function coldStart(route: RouteModule): Promise<HttpHandler> {
  vi.resetModules();
  const module = (await import(`../../functions/${route}.ts`)) as { handler: HttpHandler };
  return module.handler;
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
