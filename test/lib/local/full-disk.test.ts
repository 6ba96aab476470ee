import { mkdir, mkdtemp, open, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '#lib/domain/events.ts';
import { FilePublisher } from '#lib/local/events-file.ts';
import { MAX_REFUSED_ATTEMPTS, WebhookDelivery } from '#lib/local/webhook.ts';

let dataDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-full-disk-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

function event(id: string): SessionEvent {
  return { id, time: '2026-12-01T12:00:00.000Z', source: 'runner-sessions', 'detail-type': 'Session Created' } as SessionEvent;
}

function noSpace(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('FilePublisher on a full disk', () => {
  it.each([
    ['cuts a torn append back off at once', 0],
    ['cuts it off before the next append when the cut back failed too', 1],
  ])('%s: every line of the file stays whole', async (_, truncateFailures) => {
    const file = path.join(dataDir, 'events.jsonl');
    let full = false;
    let failTruncates = truncateFailures;
    const publisher = await FilePublisher.open(file, {
      openFile: async (name) => {
        const handle = await open(name, 'a+');
        // A full disk: half of what is appended is written, then ENOSPC.
        return new Proxy(handle, {
          get(target, property) {
            if (property === 'appendFile' && full)
              return async (text: string) => {
                await target.appendFile(text.slice(0, Math.floor(text.length / 2)));
                throw noSpace();
              };
            if (property === 'truncate' && full && failTruncates > 0)
              return async () => {
                failTruncates--;
                throw noSpace();
              };
            const value = Reflect.get(target, property, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    });
    await publisher.publish([event('a')]);

    full = true;
    await expect(publisher.publish([event('b'), event('c')])).rejects.toThrow('ENOSPC');
    full = false;
    await publisher.publish([event('d')]);
    await publisher.close();

    const lines = (await readFile(file, 'utf-8')).split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(['a', 'd']);
  });
});

describe('WebhookDelivery on a full disk, and a receiver that refuses', () => {
  async function receiver(refuse: (body: string) => boolean) {
    const accepted: string[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (refuse(body)) return void response.writeHead(400).end('{"message":"bad event"}');
        accepted.push(body);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, accepted };
  }

  it('keeps delivering while its cursor cannot be written, and writes it again once it can', async () => {
    const webhook = await receiver(() => false);
    const file = path.join(dataDir, 'events.jsonl');
    const cursorFile = path.join(dataDir, 'webhook.cursor');
    // The cursor's draft path is a directory: every cursor write fails, as on a full disk.
    await mkdir(`${cursorFile}.new`);
    await writeFile(file, '{"id":"1"}\n{"id":"2"}\n');
    const errors: string[] = [];
    const delivery = new WebhookDelivery({ file, cursorFile, url: webhook.url, pollMs: 20, onError: (message) => errors.push(message) });
    cleanups.push(() => delivery.stop());

    delivery.start();
    await until(() => webhook.accepted.length === 2);
    await rmdir(`${cursorFile}.new`);
    await writeFile(file, '{"id":"1"}\n{"id":"2"}\n{"id":"3"}\n');
    delivery.notify();
    await until(() => webhook.accepted.length === 3);
    let cursor: unknown;
    await until(() => {
      readFile(cursorFile, 'utf-8').then(
        (text) => (cursor = JSON.parse(text)),
        () => {},
      );
      return (cursor as { offset?: number } | undefined)?.offset === 33;
    });

    expect(webhook.accepted).toEqual(['{"id":"1"}', '{"id":"2"}', '{"id":"3"}']);
    expect(errors).toContain('webhook cursor not written; delivery goes on');
    expect(cursor).toEqual({ offset: 33 });
  });

  it(`a line refused ${MAX_REFUSED_ATTEMPTS} times goes to events.dead.jsonl and delivery moves on`, async () => {
    const webhook = await receiver((body) => !body.startsWith('{'));
    const file = path.join(dataDir, 'events.jsonl');
    // The middle line is what a torn append glued to the next used to look like.
    await writeFile(file, '{"id":"1"}\nd":"2"{"id":"torn"}\n{"id":"3"}\n');
    const delivery = new WebhookDelivery({
      file,
      cursorFile: path.join(dataDir, 'webhook.cursor'),
      url: webhook.url,
      pollMs: 20,
      retry: { baseMs: 2, maxMs: 10 },
    });
    cleanups.push(() => delivery.stop());

    delivery.start();
    await until(() => webhook.accepted.length === 2);

    expect(webhook.accepted).toEqual(['{"id":"1"}', '{"id":"3"}']);
    expect(await readFile(path.join(dataDir, 'events.dead.jsonl'), 'utf-8')).toBe('d":"2"{"id":"torn"}\n');
    expect(delivery.deadLettered).toBe(1);
  });
});
