import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_STREAM_BUFFER_BYTES } from '#lib/console/serve.ts';
import { startLocalServer } from '#lib/local/server.ts';
import { MAX_ANSWER_BYTES, WebhookDelivery } from '#lib/local/webhook.ts';

let dataDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bounds-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a webhook that answers 200 with an endless body', () => {
  it(`is read for at most a few KiB (${MAX_ANSWER_BYTES} bytes) and delivery moves on`, async () => {
    let sent = 0;
    const posts: string[] = [];
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const url = await listen(
      createServer((request, response) => {
        let body = '';
        request.on('data', (part) => (body += part));
        request.on('end', () => {
          posts.push(body);
          response.writeHead(200, { 'content-type': 'text/plain' });
          // 3 GB if anyone reads it all; written only as fast as it is read.
          const pump = () => {
            while (sent < 3 * 1024 ** 3 && !response.destroyed) {
              sent += chunk.length;
              if (!response.write(chunk)) return void response.once('drain', pump);
            }
            response.end();
          };
          pump();
          response.on('close', () => {});
        });
      }),
    );
    const file = path.join(dataDir, 'events.jsonl');
    await writeFile(file, '{"id":"1"}\n{"id":"2"}\n{"id":"3"}\n');
    const delivery = new WebhookDelivery({ file, cursorFile: path.join(dataDir, 'webhook.cursor'), url, pollMs: 20 });
    cleanups.push(() => delivery.stop());
    const rssBefore = process.memoryUsage().rss;

    delivery.start();
    const started = Date.now();
    while (delivery.delivered < 3 && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));

    console.log(`webhook: ${sent} bytes offered, RSS +${Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024)} MB`);
    expect(posts).toEqual(['{"id":"1"}', '{"id":"2"}', '{"id":"3"}']);
    expect(delivery.delivered).toBe(3);
    expect(sent).toBeLessThan(3 * 16 * 1024 * 1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });
});

describe('a console event-stream client that never reads', () => {
  it(`is dropped once more than ${MAX_STREAM_BUFFER_BYTES} bytes wait for it`, async () => {
    const server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0 });
    cleanups.push(() => server.close());
    const { hostname, port, host } = new URL(server.url);
    const file = path.join(dataDir, 'events.jsonl');
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /console/events HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await new Promise((resolve) => socket.once('data', resolve));
    // Stop reading: what the server writes piles up in its buffer, then in the kernel's.
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));

    const line = `${JSON.stringify({ id: 'e', detail: { pad: 'x'.repeat(1000) } })}\n`;
    for (let batch = 0; batch < 40; batch++) {
      await appendFile(file, line.repeat(500));
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const dropped = await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000))]);

    expect(dropped).toBe(true);
  }, 15_000);

  it('100 clients that never read, and 8,240 events: every one is dropped, memory stays bounded', async () => {
    const server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0 });
    cleanups.push(() => server.close());
    const { hostname, port, host } = new URL(server.url);
    const file = path.join(dataDir, 'events.jsonl');
    const closed: Promise<boolean>[] = [];
    const sockets: ReturnType<typeof connect>[] = [];
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
    });
    for (let client = 0; client < 100; client++) {
      const socket = connect(Number(port), hostname);
      sockets.push(socket);
      socket.on('error', () => {});
      closed.push(new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`GET /console/events HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;

    const line = `${JSON.stringify({ id: 'e', 'detail-type': 'Session Status Changed', detail: { pad: 'x'.repeat(800) } })}\n`;
    for (let written = 0; written < 8_240; written += 412) {
      await appendFile(file, line.repeat(412));
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const dropped = await Promise.race([
      Promise.all(closed).then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
    ]);
    console.log(
      `event streams: 100 stalled clients, 8,240 events of ${line.length} bytes, RSS peak +${Math.round((peak - rssBefore) / 1024 / 1024)} MB`,
    );

    expect(dropped).toBe(true);
    expect(peak - rssBefore).toBeLessThan(400 * 1024 * 1024);
  }, 30_000);
});
