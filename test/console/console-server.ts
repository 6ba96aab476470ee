import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as forward, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { consoleHandler } from '#lib/console/serve.ts';
import { type LocalServer, type LocalServerOptions, startLocalServer } from '#lib/local/server.ts';

/** A JSON answer as the tests read it: a session, a page, or an error body. */
type ApiJson = any;

/** The local API (temp file store) behind a server that answers the console's paths and passes every other request on. */
export interface ConsoleTestServer {
  url: string;
  dataDir: string;
  eventsFile: string;
  api: LocalServer;
  /** A JSON call to the API, as a runner or an operator script would make it. */
  call(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; etag: string | null; json: ApiJson }>;
  close(): Promise<void>;
}

export async function startConsoleTestServer({
  withEvents = false,
  tokens,
}: {
  withEvents?: boolean;
  /** Bearer tokens the API takes (each request must then present one). */
  tokens?: LocalServerOptions['tokens'];
} = {}): Promise<ConsoleTestServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-console-'));
  const eventsFile = path.join(dataDir, 'events.jsonl');
  const api = await startLocalServer({ port: 0, dataDir, ...(tokens === undefined ? {} : { tokens }) });
  const upstream = new URL(api.url);
  const handleConsole = consoleHandler(withEvents ? { eventsFile } : {});
  const server: Server = createServer((req, res) => {
    if (handleConsole(req, res)) return;
    const proxied = forward(
      // As a same-origin reverse proxy does: the API answers only for its own host, and changes only from its own origin.
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host, ...(req.headers.origin === url ? { origin: upstream.origin } : {}) },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    proxied.on('error', () => {
      res.writeHead(502).end();
    });
    req.pipe(proxied);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    dataDir,
    eventsFile,
    api,
    async call(method, route, body, headers = {}) {
      const response = await fetch(`${url}${route}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, etag: response.headers.get('etag'), json: text ? JSON.parse(text) : undefined };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
