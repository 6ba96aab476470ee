import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokenFile, TokenConfigError } from '#lib/local/access.ts';
import { type LocalServer, startLocalServer, UnauthenticatedNetworkServer } from '#lib/local/server.ts';

const TOKEN = 'a-token-of-sixteen-or-more';
const OTHER_TOKEN = 'b-token-of-sixteen-or-more';

/** One request as a raw client sends it: any Host, any target, repeated header lines. */
function raw(
  url: string,
  { method = 'GET', target, headers = [], body }: { method?: string; target: string; headers?: Array<[string, string]>; body?: string },
) {
  const { hostname, port } = new URL(url);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }>((resolve, reject) => {
    const sent = httpRequest({ host: hostname, port, method, path: target, headers: headers.flat(), setHost: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () =>
        resolve({ status: response.statusCode!, headers: response.headers, json: text ? JSON.parse(text) : undefined }),
      );
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

describe('a local server without tokens', () => {
  let server: LocalServer;
  let dataDir: string;
  let host: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-security-'));
    server = await startLocalServer({ port: 0, dataDir });
    host = new URL(server.url).host;
  });
  afterAll(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each(['0.0.0.0', '::', '192.0.2.1'])('refuses to listen on %s', async (address) => {
    await expect(startLocalServer({ host: address, port: 0, dataDir })).rejects.toThrow(UnauthenticatedNetworkServer);
    await expect(startLocalServer({ host: address, port: 0, dataDir })).rejects.toThrow(/LOCAL_TOKEN/);
  });

  it.each(['attacker.example', `attacker.example:${'1'}`, '127.0.0.1', 'localhost:1'])(
    'Host: %s (DNS rebinding): 421 misdirected_request, nothing runs',
    async (badHost) => {
      const created = await fetch(`${server.url}/sessions`, { method: 'POST' });
      const { id } = await created.json();

      const answer = await raw(server.url, {
        method: 'PATCH',
        target: `/sessions/${id}`,
        headers: [
          ['host', badHost],
          ['content-type', 'application/json'],
        ],
        body: '{"status":"terminated"}',
      });

      expect([answer.status, answer.json.error.code]).toEqual([421, 'misdirected_request']);
      expect((await (await fetch(`${server.url}/sessions/${id}`)).json()).status).toBe('active');
    },
  );

  it.each([`127.0.0.1`, 'localhost', '[::1]', 'LOCALHOST'])('Host: %s with the port is served', async (name) => {
    const answer = await raw(server.url, { target: '/sessions?limit=1', headers: [['host', `${name}:${new URL(server.url).port}`]] });

    expect(answer.status).toBe(200);
  });

  it.each(['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x'])(
    'a body-less POST with content type %s: 415, no session created',
    async (contentType) => {
      const before = (await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length;

      const answer = await raw(server.url, {
        method: 'POST',
        target: '/sessions',
        headers: [
          ['host', host],
          ['content-type', contentType],
        ],
      });

      expect([answer.status, answer.json.error.code]).toEqual([415, 'unsupported_media_type']);
      expect((await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length).toBe(before);
    },
  );

  it.each(['https://evil.example', 'null', 'http://127.0.0.1:1'])(
    'a POST from Origin %s (CSRF): 403 forbidden_origin, body or none',
    async (origin) => {
      const before = (await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length;

      const empty = await raw(server.url, {
        method: 'POST',
        target: '/sessions',
        headers: [
          ['host', host],
          ['origin', origin],
        ],
      });
      const json = await raw(server.url, {
        method: 'POST',
        target: '/sessions',
        headers: [
          ['host', host],
          ['origin', origin],
          ['content-type', 'application/json'],
        ],
        body: '{}',
      });

      expect([empty.status, empty.json.error.code]).toEqual([403, 'forbidden_origin']);
      expect(json.status).toBe(403);
      expect((await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length).toBe(before);
    },
  );

  it('a POST from its own origin is served', async () => {
    const answer = await raw(server.url, {
      method: 'POST',
      target: '/sessions',
      headers: [
        ['host', host],
        ['origin', server.url],
        ['content-type', 'application/json'],
      ],
      body: '{}',
    });

    expect(answer.status).toBe(201);
  });

  it.each(['//anything/sessions', '//127.0.0.1/sessions', 'http://attacker.example/sessions', '*'])(
    'request target %s: 400 invalid_request, nothing created',
    async (target) => {
      const before = (await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length;

      const answer = await raw(server.url, { method: target === '*' ? 'OPTIONS' : 'POST', target, headers: [['host', host]] });

      expect([answer.status, answer.json.error.code, answer.json.error.details.issues[0].field]).toEqual([400, 'invalid_request', 'path']);
      expect((await (await fetch(`${server.url}/sessions?limit=100`)).json()).sessions.length).toBe(before);
    },
  );

  it.each(['__proto__', 'constructor', 'prototype'])('GET /sessions?%s=1: 400 naming the parameter', async (name) => {
    const answer = await raw(server.url, { target: `/sessions?${name}=1`, headers: [['host', host]] });

    expect([answer.status, answer.json.error.details.issues[0]]).toEqual([
      400,
      { field: `query.${name}`, message: 'is not a known parameter' },
    ]);
  });

  it('an Idempotency-Key sent on two lines: 400, and the retry that sends it once opens one session', async () => {
    const twice = await raw(server.url, {
      method: 'POST',
      target: '/sessions',
      headers: [
        ['host', host],
        ['idempotency-key', 'k-twice'],
        ['idempotency-key', 'k-twice'],
      ],
    });
    const once = await raw(server.url, {
      method: 'POST',
      target: '/sessions',
      headers: [
        ['host', host],
        ['idempotency-key', 'k-twice'],
      ],
    });
    const again = await raw(server.url, {
      method: 'POST',
      target: '/sessions',
      headers: [
        ['host', host],
        ['idempotency-key', 'k-twice'],
      ],
    });

    expect([twice.status, twice.json.error.details.issues[0].field]).toEqual([400, 'headers.idempotency-key']);
    expect([once.status, again.status]).toEqual([201, 200]);
    expect(again.json.id).toBe(once.json.id);
  });

  it.each([
    ['\\xFF', [0xff]],
    ['\\xFE', [0xfe]],
  ])('a job ID with %s (not UTF-8): 400 body, nothing stored', async (_, bytes) => {
    const { id } = await (await fetch(`${server.url}/sessions`, { method: 'POST' })).json();
    const body = Buffer.concat([Buffer.from('{"job_id":"a'), Buffer.from(bytes), Buffer.from('b"}')]);

    const answer = await fetch(`${server.url}/sessions/${id}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

    expect(answer.status).toBe(400);
    expect((await answer.json()).error.details.issues[0].field).toBe('body');
    expect((await (await fetch(`${server.url}/sessions/${id}`)).json()).job_ids).toEqual([]);
  });

  it('a job ID with a right-to-left override: 400 body.job_id', async () => {
    const { id } = await (await fetch(`${server.url}/sessions`, { method: 'POST' })).json();

    const answer = await fetch(`${server.url}/sessions/${id}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"job_id":"job-\u202e1"}',
    });

    expect([answer.status, (await answer.json()).error.details.issues[0].field]).toEqual([400, 'body.job_id']);
  });
});

describe('a local server with tokens', () => {
  let server: LocalServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-tokens-'));
    server = await startLocalServer({
      port: 0,
      dataDir,
      tokens: [
        { label: 'ci-runner', token: TOKEN },
        { label: 'ops', token: OTHER_TOKEN },
      ],
    });
  });
  afterAll(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['no Authorization', {}, 'Bearer realm="runner-sessions"'],
    ['a wrong token', { authorization: `Bearer ${TOKEN}x` }, 'Bearer realm="runner-sessions", error="invalid_token"'],
    ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, 'Bearer realm="runner-sessions", error="invalid_token"'],
    [
      'Basic credentials',
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      'Bearer realm="runner-sessions", error="invalid_token"',
    ],
  ])('%s: 401 unauthorized with WWW-Authenticate, nothing runs', async (_, headers, challenge) => {
    const read = await fetch(`${server.url}/sessions`, { headers });
    const write = await fetch(`${server.url}/sessions`, { method: 'POST', headers });

    expect([read.status, write.status]).toEqual([401, 401]);
    expect(read.headers.get('www-authenticate')).toBe(challenge);
    expect((await read.json()).error.code).toBe('unauthorized');
    const listed = await fetch(`${server.url}/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect((await listed.json()).sessions).toEqual([]);
  });

  it("records each token's label as updated_by", async () => {
    const created = await fetch(`${server.url}/sessions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    const { id, updated_by } = await created.json();
    const patched = await fetch(`${server.url}/sessions/${id}`, {
      method: 'PATCH',
      headers: { authorization: `bearer ${OTHER_TOKEN}`, 'content-type': 'application/json' },
      body: '{"status":"paused"}',
    });

    expect([created.status, updated_by]).toEqual([201, 'ci-runner']);
    expect((await patched.json()).updated_by).toBe('ops');
  });

  it('may listen on every interface', async () => {
    const wide = await startLocalServer({ host: '0.0.0.0', port: 0, dataDir, tokens: [{ label: 'ci', token: TOKEN }] });
    try {
      const answer = await fetch(`http://127.0.0.1:${new URL(wide.url).port}/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(answer.status).toBe(200);
    } finally {
      await wide.close();
    }
  });
});

describe('LOCAL_TOKEN_FILE', () => {
  it('holds label:token lines, comments and blank lines skipped', () => {
    expect(parseTokenFile(`# runners\nci-runner:${TOKEN}\n\n ops : ${OTHER_TOKEN} \n`)).toEqual([
      { label: 'ci-runner', token: TOKEN },
      { label: 'ops', token: OTHER_TOKEN },
    ]);
  });

  it('or a single bare token, labelled local', () => {
    expect(parseTokenFile(`${TOKEN}\n`)).toEqual([{ label: 'local', token: TOKEN }]);
  });

  it.each([
    ['a short token', 'ci:short'],
    ['a line without a colon among others', `ci:${TOKEN}\n${OTHER_TOKEN}`],
    ['a repeated label', `ci:${TOKEN}\nci:${OTHER_TOKEN}`],
    ['a repeated token', `ci:${TOKEN}\nops:${TOKEN}`],
    ['a bad label', `c i:${TOKEN}`],
    ['nothing', '# none\n'],
  ])('refuses %s', (_, text) => {
    expect(() => parseTokenFile(text)).toThrow(TokenConfigError);
  });
});

describe('connections', () => {
  it('past the cap, the oldest connection that carried no admitted request is closed to make room', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-cap-'));
    const server = await startLocalServer({ port: 0, dataDir, maxConnections: 5, requestTimeoutMs: 1_500 });
    const { hostname, port } = new URL(server.url);
    const idle: Socket[] = [];
    try {
      for (let n = 0; n < 5; n++) {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        idle.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      const oldestClosed = new Promise<boolean>((resolve) => idle[0]!.once('close', () => resolve(true)));

      const served = await fetch(`${server.url}/sessions`);

      expect(served.status).toBe(200);
      expect(await oldestClosed).toBe(true);
      expect(idle.slice(1).map((socket) => socket.destroyed)).toEqual([false, false, false, false]);
    } finally {
      for (const socket of idle) socket.destroy();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('past the cap with every connection carrying admitted requests, a new one gets a 503 and is closed', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-cap-'));
    const server = await startLocalServer({ port: 0, dataDir, maxConnections: 3 });
    const { hostname, port } = new URL(server.url);
    const held: Socket[] = [];
    try {
      for (let n = 0; n < 3; n++) {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        held.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
        const answered = new Promise((resolve) => socket.once('data', resolve));
        socket.write(`GET /sessions?limit=1 HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
        await answered;
      }

      const refused = await fetch(`${server.url}/sessions`);
      const body = await refused.json();

      expect([refused.status, refused.headers.get('retry-after'), body.error.code]).toEqual([503, '1', 'too_many_connections']);
      expect(held.map((socket) => socket.destroyed)).toEqual([false, false, false]);
    } finally {
      for (const socket of held) socket.destroy();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
