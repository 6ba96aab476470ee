import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, routeParts } from '#lib/http/route-table.ts';
import { type GatewayRoute, LocalGateway } from '#lib/local/gateway.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

/** Every route of the table, answering which route ran; the calls are counted. */
const calls: string[] = [];
const routes: GatewayRoute[] = API_ROUTES.map(({ routeKey }) => ({
  routeKey,
  handler: async () => {
    calls.push(routeKey);
    return { statusCode: 200, body: JSON.stringify({ routeKey }) };
  },
}));

/** The methods the table has for each path. */
const methodsByPath = new Map<string, string[]>();
for (const { routeKey } of API_ROUTES) {
  const { method, path } = routeParts(routeKey);
  methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method]);
}
const WRONG_METHODS = [...methodsByPath].flatMap(([path, allowed]) =>
  METHODS.filter((method) => !allowed.includes(method)).map((method) => ({ method, path, allowed })),
);

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer(new LocalGateway(routes).listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const concrete = (path: string) => path.replace('{id}', ID);

describe('LocalGateway routing', () => {
  it.each(API_ROUTES.map(({ routeKey }) => routeKey))('%s reaches its own handler', async (routeKey) => {
    const { method, path } = routeParts(routeKey);

    const response = await fetch(`${url}${concrete(path)}`, { method });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ routeKey });
  });

  it.each(['/', '/session', '/sessions/x/y/z', `/sessions/${ID}/jobs/extra`])(
    '%s: 404 route_not_found in the contract error shape, no handler runs',
    async (path) => {
      calls.length = 0;

      const response = await fetch(`${url}${path}`, { method: 'POST', body: '{}' });

      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('allow')).toBeNull();
      expect(await response.json()).toEqual({
        error: { code: 'route_not_found', message: `no route for POST ${path}`, details: { method: 'POST', path } },
      });
      expect(calls).toEqual([]);
    },
  );

  it.each(WRONG_METHODS)(
    '$method $path: 405 method_not_allowed with Allow: $allowed, no handler runs',
    async ({ method, path, allowed }) => {
      calls.length = 0;

      const response = await fetch(`${url}${concrete(path)}`, { method });

      expect(response.status).toBe(405);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('allow')).toBe(allowed.join(', '));
      expect(await response.json()).toEqual({
        error: {
          code: 'method_not_allowed',
          message: `${method} is not allowed on ${concrete(path)}; allowed: ${allowed.join(', ')}`,
          details: { method, path: concrete(path), allowed },
        },
      });
      expect(calls).toEqual([]);
    },
  );
});
