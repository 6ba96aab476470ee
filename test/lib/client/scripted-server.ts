import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { type CliIo, main } from '#lib/client/cli/main.ts';
import { SessionsClient } from '#lib/client/client.ts';

/** A request as the scripted server received it. */
export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** `performance.now()` when it arrived. */
  at: number;
}

/**
 * What to answer: a status, headers and a body (an object is sent as JSON), `'drop'` to close the
 * connection without an answer, or `'hang'` to never answer (until the server closes).
 */
export type ScriptedAnswer = { status: number; headers?: Record<string, string>; body?: unknown } | 'drop' | 'hang';

export interface ScriptedServer {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A node:http server that answers each request with what `script` returns
 * for it (given the request and its 1-based number): for the situations the
 * real API cannot be made to produce on demand, such as 503 then 200, a
 * proxy's 403, or a dropped connection.
 */
export async function startScriptedServer(script: (request: ReceivedRequest, count: number) => ScriptedAnswer): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const server = createServer(async (incoming, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const request: ReceivedRequest = {
      method: incoming.method ?? 'GET',
      url: incoming.url ?? '/',
      headers: incoming.headers,
      body: Buffer.concat(chunks).toString('utf-8'),
      at: performance.now(),
    };
    requests.push(request);
    const answer = script(request, requests.length);
    if (answer === 'drop') {
      incoming.socket.destroy();
      return;
    }
    if (answer === 'hang') return;
    const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const contentType = typeof answer.body === 'string' ? 'text/plain' : 'application/json';
    response.writeHead(answer.status, { 'content-type': contentType, ...answer.headers });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Retries quick enough for tests. */
const RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

/** A command-line run: its exit code and what it wrote. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One scripted server per test, closed after each: `start` (or `clientFor`, which also makes a client
 * for it) opens it, `sent(n)` and `received()` read what it got, and `cli` runs the command line against it.
 */
export function useScriptedServer() {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const current = (): ScriptedServer => {
    if (server === undefined) throw new Error('no scripted server started in this test');
    return server;
  };
  return {
    async start(script: (request: ReceivedRequest, count: number) => ScriptedAnswer): Promise<ScriptedServer> {
      server = await startScriptedServer(script);
      return server;
    },
    async clientFor(script: (request: ReceivedRequest, count: number) => ScriptedAnswer): Promise<SessionsClient> {
      server = await startScriptedServer(script);
      return new SessionsClient({ baseUrl: server.url, retry: RETRY });
    },
    received: (): ReceivedRequest[] => current().requests,
    sent: (n: number): ReceivedRequest => current().requests[n]!,
    async cli(args: string[]): Promise<CliRun> {
      const run: CliRun = { code: -1, stdout: '', stderr: '' };
      const io: CliIo = {
        stdout: { write: (text: string) => (run.stdout += text) },
        stderr: { write: (text: string) => (run.stderr += text) },
        env: { RUNNER_SESSIONS_URL: current().url },
        retry: RETRY,
      };
      run.code = await main(args, io);
      return run;
    },
  };
}

/** A session as the API sends it, for scripted answers. */
export function wireSession(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7',
    name: 'ssh-import',
    job_ids: ['job-123'],
    created_at: 1763942400,
    updated_at: 1763942460,
    status: 'active',
    ...fields,
  };
}

/** The contract's error body. */
export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): Record<string, unknown> {
  return { error: { code, message, details } };
}
