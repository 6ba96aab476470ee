import { once } from 'node:events';
import { appendFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsoleAssets } from '#lib/console/assets.ts';
import { CONSOLE_CSP, consoleHandler } from '#lib/console/serve.ts';
import { type ConsoleTestServer, startConsoleTestServer } from './console-server.ts';

describe('the console bundle', () => {
  it('builds in memory into one small script and one stylesheet', async () => {
    const assets = await buildConsoleAssets();

    expect(assets.script.length).toBeGreaterThan(1000);
    expect(assets.script.length).toBeLessThan(60_000);
    expect(assets.stylesheet.length).toBeLessThan(20_000);
    expect(assets.html).toContain('src="/console/app.js"');
    expect(assets.script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(assets.script).not.toMatch(/https?:\/\/(?!localhost)/);
  });
});

describe('the console routes', () => {
  let server: ConsoleTestServer;

  beforeAll(async () => {
    server = await startConsoleTestServer({ withEvents: true });
  });
  afterAll(async () => server.close());

  it('serves the page with a strict Content-Security-Policy', async () => {
    const response = await fetch(`${server.url}/console`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("default-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.text()).not.toMatch(/<script>|style=/);
  });

  it.each([
    ['/console/app.js', /^text\/javascript/],
    ['/console/app.css', /^text\/css/],
  ])('serves %s', async (asset, type) => {
    const response = await fetch(`${server.url}${asset}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(type);
    expect((await response.text()).length).toBeGreaterThan(100);
  });

  it('answers 404 under /console for anything else, 405 for other methods, and leaves the API alone', async () => {
    expect((await fetch(`${server.url}/console/nothing`)).status).toBe(404);
    const post = await fetch(`${server.url}/console`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await server.call('GET', '/sessions')).status).toBe(200);
  });

  it('streams the lines appended to the events file, and only those', async () => {
    await writeFile(server.eventsFile, `${JSON.stringify({ id: 'old', detail: {} })}\n`);
    const abort = new AbortController();
    const response = await fetch(`${server.url}/console/events`, { signal: abort.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    const readUntil = async (text: string) => {
      while (!received.includes(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value;
      }
    };
    await readUntil('retry:');

    await new Promise((resolve) => setTimeout(resolve, 400));
    await appendFile(server.eventsFile, `not json\n${JSON.stringify({ id: 'e-1', detail: { session_id: 'abc' } })}\n{"id":"e-2",`);
    await readUntil('e-1');
    abort.abort();

    expect(received).toContain('id: e-1\ndata: {"id":"e-1","detail":{"session_id":"abc"}}\n\n');
    expect(received).not.toContain('"old"');
    expect(received).not.toContain('e-2');
    expect(received).not.toContain('data: not json');
  });

  it('answers 404 at /console/events when no events file is configured, so the page polls', async () => {
    const handleConsole = consoleHandler();
    const plain = createServer((req, res) => {
      if (!handleConsole(req, res)) res.writeHead(418).end();
    });
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const base = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/console/events`)).status).toBe(404);
      expect((await fetch(`${base}/sessions`)).status).toBe(418);
    } finally {
      plain.close();
    }
  });
});
