import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';

const TOKEN = 'a-token-of-sixteen-or-more';

/** Everything a raw socket receives until the server closes it (or `ms` pass). */
function exchange(url: string, text: string | Buffer, ms = 3_000): Promise<{ text: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: received, closed: false });
    }, ms);
    socket.on('data', (chunk) => (received += chunk.toString('utf-8')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: received, closed: true });
    });
    socket.write(text);
  });
}

/** The status and JSON body of a raw HTTP answer (chunked or not). */
function answer(text: string): { status: number; json: any } {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  let body = text.slice(split + 4);
  if (/^transfer-encoding: *chunked/im.test(head)) {
    let decoded = '';
    for (let size = Number.parseInt(body, 16); size > 0; size = Number.parseInt(body, 16)) {
      const start = body.indexOf('\r\n') + 2;
      decoded += body.slice(start, start + size);
      body = body.slice(start + size + 2);
    }
    body = decoded;
  }
  return { status: Number(head.split(' ')[1]), json: body === '' ? undefined : JSON.parse(body) };
}

describe('a local server with tokens under an unauthenticated flood', () => {
  let server: LocalServer | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    await server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    server = undefined;
  });

  async function start(options: { maxConnections?: number; requestTimeoutMs?: number } = {}): Promise<LocalServer> {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-abuse-'));
    server = await startLocalServer({ port: 0, dataDir, tokens: [{ label: 'ci', token: TOKEN }], console: false, ...options });
    return server;
  }

  it('a wrong token with a large body is refused 401 before the body is read, and its connection closed', async () => {
    const { url } = await start();
    const host = new URL(url).host;

    const refused = await exchange(
      url,
      `POST /sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer wrong-token-wrong-token\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`,
    );

    expect(answer(refused.text).status).toBe(401);
    expect(refused.closed).toBe(true);
  });

  it('an authenticated body that trickles is answered 408 at the body deadline, and its connection closed', async () => {
    const { url } = await start({ requestTimeoutMs: 1_000 });
    const host = new URL(url).host;
    const started = Date.now();

    const slow = await exchange(
      url,
      `POST /sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );

    expect(answer(slow.text)).toMatchObject({ status: 408, json: { error: { code: 'request_timeout' } } });
    expect(slow.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('256 sockets with a wrong token, Content-Length 1000000 and a byte every 500 ms: an authenticated client is served, p99 under 1 s', async () => {
    const { url } = await start({ maxConnections: 256 });
    const { hostname, port, host } = new URL(url);
    const attackers = new Set<Socket>();
    let attacking = true;
    let opened = 0;
    const attack = () => {
      if (!attacking) return;
      const socket = connect(Number(port), hostname);
      opened++;
      attackers.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        attackers.delete(socket);
        setTimeout(attack, 10);
      });
      socket.on('connect', () => {
        socket.write(
          `POST /sessions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer wrong-token-wrong-token\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
        );
        const trickle = setInterval(() => (socket.writable ? socket.write('x') : clearInterval(trickle)), 500);
        socket.on('close', () => clearInterval(trickle));
      });
    };
    for (let n = 0; n < 256; n++) attack();
    await new Promise((resolve) => setTimeout(resolve, 500));

    const latencies: number[] = [];
    const statuses: number[] = [];
    const until = Date.now() + 3_000;
    try {
      while (Date.now() < until) {
        const started = performance.now();
        const response = await fetch(`${url}/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
        statuses.push(response.status);
      }
    } finally {
      attacking = false;
      for (const socket of attackers) socket.destroy();
    }
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!;
    console.log(`flood: ${opened} attacker connections, ${statuses.length} authenticated requests, p99 ${p99.toFixed(1)} ms`);

    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.every((status) => status === 201)).toBe(true);
    expect(p99).toBeLessThan(1_000);
  }, 20_000);
});

describe('requests the HTTP parser refuses are answered in the error shape', () => {
  let server: LocalServer | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    await server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    server = undefined;
  });

  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'POST /sessions HTTP/1.1\r\nHost: H\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['bad chunking', 'POST /sessions HTTP/1.1\r\nHost: H\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', 400],
    ['a folded header', 'GET /sessions HTTP/1.1\r\nHost: H\r\nX-A: a\r\n  folded\r\n\r\n', 400],
    ['a NUL in a header', 'GET /sessions HTTP/1.1\r\nHost: H\r\nX-A: a\u0000b\r\n\r\n', 400],
    ['an unknown method', 'BREW /sessions HTTP/1.1\r\nHost: H\r\n\r\n', 400],
    ['headers over 16 KiB', `GET /sessions HTTP/1.1\r\nHost: H\r\nX-A: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
  ])('%s: %d with a JSON error body, connection closed', async (_, request, status) => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-parser-'));
    server = await startLocalServer({ port: 0, dataDir, console: false });

    const result = await exchange(server.url, request.replaceAll('Host: H', `Host: ${new URL(server.url).host}`));
    const { status: got, json } = answer(result.text);

    expect(got).toBe(status);
    expect(json.error).toEqual({
      code: status === 431 ? 'headers_too_large' : 'invalid_request',
      message: expect.any(String),
      details: expect.any(Object),
    });
    expect(result.closed).toBe(true);
  });

  it('a second Host header: 400 invalid_request on headers.host, nothing created', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-parser-'));
    server = await startLocalServer({ port: 0, dataDir, console: false });
    const host = new URL(server.url).host;

    const result = await exchange(
      server.url,
      `POST /sessions HTTP/1.1\r\nHost: ${host}\r\nHost: elsewhere.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    const listed = await (await fetch(`${server.url}/sessions`)).json();

    expect(answer(result.text)).toMatchObject({ status: 400, json: { error: { details: { issues: [{ field: 'headers.host' }] } } } });
    expect(listed.sessions).toEqual([]);
  });

  it('duplicate JSON keys: 400 naming the key, and the session is not terminated', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-parser-'));
    server = await startLocalServer({ port: 0, dataDir, console: false });
    const { id } = await (await fetch(`${server.url}/sessions`, { method: 'POST' })).json();

    const response = await fetch(`${server.url}/sessions/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"status":"paused","status":"terminated"}',
    });
    const body = await response.json();
    const stored = await (await fetch(`${server.url}/sessions/${id}`)).json();

    expect([response.status, body.error.code, body.error.details.issues]).toEqual([
      400,
      'invalid_request',
      [{ field: 'body', message: 'gives the key "status" more than once' }],
    ]);
    expect(stored.status).toBe('active');
  });
});
