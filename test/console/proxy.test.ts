import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ConsoleProxy, MAX_PROXY_BODY_BYTES, startConsoleProxy } from '#lib/console/proxy.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'token' };
const REGION = 'eu-west-1';
const BIN = path.resolve(import.meta.dirname, '../../bin/runner-sessions.mjs');
const SESSION_ID = '01J9ZQ3V8K2M4N6P8R0T2V4X6Z';
const SESSION = { id: SESSION_ID, status: 'active', jobs: [{ job_id: 'job-1' }] };

interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for the deployed API: records every request and answers a session. */
async function startDeployedApi(): Promise<{ url: string; received: RecordedRequest[]; server: Server }> {
  const received: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const created = req.method === 'POST';
    res.writeHead(created ? 201 : 200, {
      'content-type': 'application/json',
      etag: '"v2"',
      ...(created ? { location: `/prod/sessions/${SESSION_ID}` } : {}),
      'x-amzn-requestid': 'internal',
    });
    res.end(JSON.stringify(created ? SESSION : { sessions: [SESSION], next_cursor: null }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

/** A raw HTTP call, so that Host and Origin are exactly what the test says. */
async function call(
  base: string,
  method: string,
  path: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const url = new URL(path, base);
  const req = request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers });
  req.end(body);
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let text = '';
  for await (const chunk of res) text += chunk;
  return { status: res.statusCode ?? 0, headers: res.headers, text };
}

/** What SigV4 gives the recorded request, signed again independently with the same credentials and date. */
async function resign(recorded: RecordedRequest): Promise<{ authorization: string; signedHeaders: string[] }> {
  const authorization =
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      String(recorded.headers.authorization),
    );
  expect(authorization, String(recorded.headers.authorization)).not.toBeNull();
  const signedHeaders = authorization![1]!.split(';');
  const url = new URL(recorded.url, `http://${recorded.headers.host}`);
  const date = String(recorded.headers['x-amz-date']).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
  const verifier = new SignatureV4({ service: 'execute-api', region: REGION, credentials, sha256: Hash.bind(null, 'sha256') });
  const expected = await verifier.sign(
    {
      method: recorded.method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      // The x-amz-* headers are the signer's own: it adds them again from the credentials, the date and the body.
      headers: Object.fromEntries(
        signedHeaders.filter((name) => !name.startsWith('x-amz-')).map((name) => [name, String(recorded.headers[name])]),
      ),
      body: recorded.body === '' ? undefined : recorded.body,
    },
    { signingDate: new Date(date) },
  );
  return { authorization: String(expected.headers.authorization), signedHeaders };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf-8').digest('hex');
}

describe('the console proxy', () => {
  let api: Awaited<ReturnType<typeof startDeployedApi>>;
  let proxy: ConsoleProxy;

  beforeAll(async () => {
    api = await startDeployedApi();
    proxy = await startConsoleProxy({ url: `${api.url}/prod/`, port: 0, credentials, region: REGION });
  });
  afterAll(async () => {
    await proxy.close();
    api.server.close();
  });
  beforeEach(() => {
    api.received.length = 0;
  });

  it('listens on loopback and serves the console page', async () => {
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const page = await call(proxy.url, 'GET', '/console');

    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('src="/console/app.js"');
    expect((await call(proxy.url, 'GET', '/console/events')).status).toBe(404);
    expect(api.received).toEqual([]);
  });

  it('forwards a listing to the deployed API, SigV4-signed for execute-api even though it is on loopback', async () => {
    const answer = await call(proxy.url, 'GET', '/sessions?status=active', { headers: { cookie: 'theirs=1' } });

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ sessions: [SESSION], next_cursor: null });
    expect(api.received).toHaveLength(1);
    const [recorded] = api.received;
    expect(recorded!.method).toBe('GET');
    expect(recorded!.url).toBe('/prod/sessions?status=active');
    expect(recorded!.headers['x-amz-security-token']).toBe('token');
    expect(recorded!.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(recorded!.headers['x-amz-content-sha256']).toBe(sha256Hex(''));
    expect(recorded!.headers.cookie).toBeUndefined();
    const { authorization, signedHeaders } = await resign(recorded!);
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
    expect(recorded!.headers.authorization).toBe(authorization);
  });

  it('forwards a change with its body and API headers, and passes the answer back', async () => {
    const body = JSON.stringify({ job_id: 'job-1' });
    const headers = {
      'content-type': 'application/json',
      'if-match': '"v1"',
      'lease-epoch': '3',
      'idempotency-key': 'key-1',
      prefer: 'return=representation',
      origin: proxy.url,
    };

    const answer = await call(proxy.url, 'POST', `/sessions/${SESSION_ID}/jobs`, { headers, body });

    expect(answer.status).toBe(201);
    expect(answer.headers.etag).toBe('"v2"');
    expect(answer.headers.location).toBe(`/prod/sessions/${SESSION_ID}`);
    expect(answer.headers['x-amzn-requestid']).toBeUndefined();
    expect(JSON.parse(answer.text)).toEqual(SESSION);
    const [recorded] = api.received;
    expect(recorded).toMatchObject({ method: 'POST', url: `/prod/sessions/${SESSION_ID}/jobs`, body });
    expect(recorded!.headers).toMatchObject({
      'content-type': 'application/json',
      'if-match': '"v1"',
      'lease-epoch': '3',
      'idempotency-key': 'key-1',
      prefer: 'return=representation',
      'x-amz-security-token': 'token',
      'x-amz-content-sha256': sha256Hex(body),
    });
    expect(recorded!.headers.origin).toBeUndefined();
    const { authorization, signedHeaders } = await resign(recorded!);
    expect(signedHeaders).toEqual(expect.arrayContaining(['content-type', 'host', 'if-match', 'x-amz-content-sha256']));
    expect(recorded!.headers.authorization).toBe(authorization);
  });

  it('forwards /openapi.json and answers 404 JSON for any other path, without forwarding it', async () => {
    expect((await call(proxy.url, 'GET', '/openapi.json')).status).toBe(200);
    const other = await call(proxy.url, 'GET', '/sessionsx');

    expect(other.status).toBe(404);
    expect(JSON.parse(other.text)).toMatchObject({ error: { code: 'route_not_found' } });
    expect(api.received.map(({ url }) => url)).toEqual(['/prod/openapi.json']);
  });

  it('answers 421 to a request for another Host, and forwards nothing', async () => {
    const answer = await call(proxy.url, 'GET', '/sessions', { headers: { host: 'evil.example' } });

    expect(answer.status).toBe(421);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'misdirected_request' } });
    expect(api.received).toEqual([]);
  });

  it('answers 403 to a change from a foreign Origin, and forwards nothing', async () => {
    const answer = await call(proxy.url, 'POST', `/sessions/${SESSION_ID}/jobs`, {
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: '{"job_id":"job-1"}',
    });

    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'forbidden_origin' } });
    expect(api.received).toEqual([]);
  });

  it('answers 413 to a body over 16 KiB, and forwards nothing', async () => {
    const answer = await call(proxy.url, 'POST', '/sessions', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(MAX_PROXY_BODY_BYTES) }),
    });

    expect(answer.status).toBe(413);
    expect(api.received).toEqual([]);
  });

  it('answers 502 when the deployed API cannot be reached', async () => {
    const unreachable = await startConsoleProxy({
      url: 'http://127.0.0.1:9',
      port: 0,
      credentials,
      region: REGION,
    });
    try {
      const answer = await call(unreachable.url, 'GET', '/sessions');

      expect(answer.status).toBe(502);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'bad_gateway' } });
    } finally {
      await unreachable.close();
    }
  });

  it('refuses to listen beyond loopback', async () => {
    await expect(startConsoleProxy({ url: api.url, host: '0.0.0.0', port: 0, credentials, region: REGION })).rejects.toThrow(/loopback/);
  });
});

describe('runner-sessions console', () => {
  it('serves the console for --url, signs with the credentials of the environment, and stops on SIGTERM', { timeout: 30_000 }, async () => {
    const api = await startDeployedApi();
    const env = {
      PATH: process.env.PATH,
      HOME: '/nonexistent',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
    };
    const child = spawn(process.execPath, [BIN, 'console', '--url', api.url, '--region', REGION, '--port', '0'], { env });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf-8');
      const announced = new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk;
          const url = /^console on (http:\/\/127\.0\.0\.1:\d+)\/console \(API calls signed for (.*)\)\n/.exec(stdout);
          if (url !== null) resolve(url[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${stdout}`)));
      });
      const base = await announced;
      expect(stdout).toContain(`(API calls signed for ${api.url})`);

      expect((await call(base, 'GET', '/console')).status).toBe(200);
      const answer = await call(base, 'GET', '/sessions?status=active');

      expect(answer.status).toBe(200);
      const [recorded] = api.received;
      expect(recorded!.headers['x-amz-security-token']).toBe('token');
      expect(recorded!.headers.authorization).toBe((await resign(recorded!)).authorization);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      api.server.close();
    }
  });
});
