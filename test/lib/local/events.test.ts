import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveredSessionEvent, SessionEvent, SessionEventDetail } from '#lib/domain/events.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { FilePublisher, hintingStore, LocalAnnouncer, startLocalEvents } from '#lib/local/events.ts';
import { startLocalServer } from '#lib/local/server.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { isPrunable, keepsVersions, type VersionedObjectStore, type WriteCondition } from '#lib/storage/port.ts';
import { SqliteObjectStore, UnversionedSqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { Announcer, announcedKey } from '#lib/workers/announcer.ts';

const ENTRY = path.join(import.meta.dirname, 'events-entry.ts');

let dataDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-events-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

/** A local server with events in a child process, as `events-entry.ts` starts it. */
interface Child {
  url: string;
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | string | null>;
  waitFor: (pattern: RegExp) => Promise<RegExpExecArray>;
}

async function startChild(env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, DATA_DIR: dataDir, LEASE_SWEEP_SECONDS: '1', SESSIONS_BUCKET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const watchers = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const watcher of watchers) watcher();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const found = pattern.exec(output);
        if (found) {
          watchers.delete(check);
          resolve(found);
        }
      };
      watchers.add(check);
      check();
      void exited.then((code) => reject(new Error(`exited with ${code} before ${pattern}: ${output}`)));
    });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const url = (await waitFor(/listening on (http:\/\/\S+)/))[1]!;
  return { url, process: child, output: () => output, exited, waitFor };
}

async function stopChild(child: Child): Promise<void> {
  child.process.kill('SIGTERM');
  expect(await child.exited, child.output()).toBe(0);
}

function client(url: string) {
  return async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
}

async function eventLines(): Promise<string[]> {
  const file = path.join(dataDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf-8')).split('\n').filter((line) => line !== '');
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A webhook that answers 500 to its first `failures` requests, then 200; keeps the accepted bodies and when they came. */
async function startWebhook(
  failures: number,
): Promise<{ url: string; accepted: string[]; at: Map<string, number>; requests: () => number; server: Server }> {
  const accepted: string[] = [];
  const at = new Map<string, number>();
  let requests = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests++;
      if (requests <= failures || request.headers['content-type'] !== 'application/json') {
        response.writeHead(500).end();
        return;
      }
      accepted.push(body);
      at.set((JSON.parse(body) as DeliveredSessionEvent).id, performance.now());
      response.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, accepted, at, requests: () => requests, server };
}

describe('local events over HTTP (a child process)', () => {
  it('leaves one line per status change and acquire, in order, as EventBridge delivers them', async () => {
    const child = await startChild();
    const call = client(child.url);

    const created = await call('POST', '/sessions', { name: 'ssh-import', lease_seconds: 5, holder: 'runner-a' });
    const id: string = created.json.id;
    expect(created.status).toBe(201);
    expect((await call('POST', `/sessions/${id}/jobs`, { job_id: 'job-1' }, { 'lease-epoch': '1' })).status).toBe(200);
    expect((await call('PATCH', `/sessions/${id}`, { status: 'paused' }, { 'lease-epoch': '1' })).status).toBe(200);
    expect((await call('POST', `/sessions/${id}/lease`, { holder: 'runner-b', seconds: 5 })).json.lease.epoch).toBe(2);
    expect((await call('POST', `/sessions/${id}/lease`, { holder: 'operator', seconds: 5, force: true })).json.lease.epoch).toBe(3);
    expect((await call('POST', `/sessions/${id}/heartbeat`, {}, { 'lease-epoch': '3' })).status).toBe(200);
    expect((await call('PATCH', `/sessions/${id}`, { status: 'completed' }, { 'lease-epoch': '1' })).status).toBe(409);
    const expired = await until(
      () => call('GET', `/sessions/${id}`),
      (read) => read.json.status === 'paused',
    );
    expect(expired.json.status).toBe('paused');
    expect((await call('PATCH', `/sessions/${id}`, { status: 'completed' })).status).toBe(200);
    const history = await call('GET', `/sessions/${id}/history`);
    expect((await call('POST', `/sessions/${id}/restore`, { version_id: history.json.versions[1].version_id })).status).toBe(200);

    const lines = await until(eventLines, (found) => found.length >= 7);
    await stopChild(child);
    const events = lines.map((line) => JSON.parse(line) as DeliveredSessionEvent);
    expect(
      events.map((event) => [
        event['detail-type'],
        (event.detail as SessionEventDetail).old_status,
        (event.detail as SessionEventDetail).new_status,
        event.detail.epoch,
        event.detail.actor,
      ]),
    ).toEqual([
      ['Session Created', null, 'active', 1, 'local'],
      ['Session Status Changed', 'active', 'paused', 1, 'local'],
      ['Session Lease Acquired', 'paused', 'active', 2, 'local'],
      ['Session Lease Acquired', 'active', 'active', 3, 'local'],
      ['Session Lease Expired', 'active', 'paused', 3, 'lease-expiry'],
      ['Session Status Changed', 'paused', 'completed', 3, 'local'],
      ['Session Restored', 'completed', 'paused', 3, 'local'],
    ]);
    expect(await eventLines()).toHaveLength(7);
    const reopened = new SqliteObjectStore(dataDir);
    const stored = await reopened.listVersions(sessionKey(id), { limit: 100 });
    await reopened.close();
    const announced = new Set(events.map((event) => event.detail.version_id));
    expect(stored.versions.filter((version) => announced.has(version.versionId))).toHaveLength(7);
    for (const event of events) {
      expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
      expect(event).toMatchObject({ version: '0', id: `${id}:${event.detail.version_id}`, source: 'runner-sessions', resources: [] });
      expect(event.detail).toMatchObject({ session_id: id, name: 'ssh-import' });
      expect(event.time).toBe(new Date(event.detail.at * 1000).toISOString());
    }
  }, 40_000);

  it('leaves a Session Job Failed line for a job that ends failed, and none for other job changes', async () => {
    const child = await startChild();
    const call = client(child.url);

    const id: string = (await call('POST', '/sessions', { name: 'ci' })).json.id;
    expect((await call('POST', `/sessions/${id}/jobs`, { job_id: 'build-41', state: 'succeeded', exit_code: 0 })).status).toBe(200);
    expect((await call('POST', `/sessions/${id}/jobs`, { job_id: 'build-42', state: 'running' })).status).toBe(200);
    const failed = await call('POST', `/sessions/${id}/jobs`, { job_id: 'build-42', state: 'failed', exit_code: 2 });
    expect(failed.json.job_counts).toEqual({ total: 2, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
    expect((await call('PATCH', `/sessions/${id}`, { status: 'completed' })).status).toBe(200);

    const lines = await until(eventLines, (found) => found.length >= 3);
    await stopChild(child);
    const events = lines.map((line) => JSON.parse(line) as DeliveredSessionEvent);
    expect(events.map((event) => event['detail-type'])).toEqual(['Session Created', 'Session Job Failed', 'Session Status Changed']);
    expect(events[1]).toMatchObject({
      source: 'runner-sessions',
      detail: { session_id: id, name: 'ci', job_id: 'build-42', exit_code: 2, signal: null, epoch: null, at: failed.json.updated_at },
    });
    const history = await readFile(path.join(dataDir, 'events.jsonl'), 'utf-8');
    expect(history.match(/Session Job Failed/g)).toHaveLength(1);
  });

  it('announces after a restart what a SIGKILL between the write and its announcement cut short', async () => {
    const slow = await startChild({ EVENTS_PUBLISH_DELAY_MS: '1000' });
    const created = await client(slow.url)('POST', '/sessions', { name: 'killed' });
    expect(created.status).toBe(201);
    await slow.waitFor(/publishing \S+/);
    slow.process.kill('SIGKILL');
    await slow.exited;
    expect(await eventLines()).toEqual([]);

    const restarted = await startChild();
    const report = JSON.parse((await restarted.waitFor(/caught up (\{.*\})/))[1]!);
    const lines = await until(eventLines, (found) => found.length >= 1);
    await stopChild(restarted);

    expect(report).toMatchObject({ sessions: 1, behind: 1 });
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ 'detail-type': 'Session Created', detail: expect.objectContaining({ session_id: created.json.id }) }),
    ]);
  }, 40_000);

  it('POSTs every line to a webhook that fails at first, in order, and resumes after a restart', async () => {
    const webhook = await startWebhook(3);
    const first = await startChild({ EVENTS_WEBHOOK_URL: webhook.url });
    let call = client(first.url);
    const id: string = (await call('POST', '/sessions', {})).json.id;
    await call('PATCH', `/sessions/${id}`, { status: 'paused' });
    await call('POST', `/sessions/${id}/lease`, { holder: 'runner' });
    await until(
      async () => webhook.accepted.length,
      (count) => count >= 3,
      20_000,
    );
    await stopChild(first);
    expect(webhook.accepted).toEqual(await eventLines());
    expect(webhook.requests()).toBe(6);

    const second = await startChild({ EVENTS_WEBHOOK_URL: webhook.url });
    call = client(second.url);
    await call('PATCH', `/sessions/${id}`, { status: 'completed' }, { 'lease-epoch': '1' });
    await until(
      async () => webhook.accepted.length,
      (count) => count >= 4,
    );
    await stopChild(second);

    const lines = await eventLines();
    expect(lines.map((line) => JSON.parse(line)['detail-type'])).toEqual([
      'Session Created',
      'Session Status Changed',
      'Session Lease Acquired',
      'Session Status Changed',
    ]);
    expect(webhook.accepted).toEqual(lines);
    expect(JSON.parse(await readFile(path.join(dataDir, 'webhook.cursor'), 'utf-8'))).toEqual({
      offset: Buffer.byteLength(`${lines.join('\n')}\n`),
    });
  }, 60_000);
});

describe('FilePublisher', () => {
  it('cuts off a line a crash left half-written before appending', async () => {
    const file = path.join(dataDir, 'events.jsonl');
    await writeFile(file, '{"id":"a"}\n{"id":"b"');
    const publisher = await FilePublisher.open(file);
    const event = {
      id: 's:v',
      time: '2026-12-01T12:00:00.000Z',
      source: 'runner-sessions',
      'detail-type': 'Session Created',
    } as SessionEvent;
    await publisher.publish([event]);
    await publisher.close();
    const lines = (await readFile(file, 'utf-8')).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('{"id":"a"}');
    expect(JSON.parse(lines[1]!)).toMatchObject({ version: '0', id: 's:v', account: '000000000000', region: 'local', resources: [] });
    expect(lines[2]).toBe('');
  });
});

describe('hintingStore', () => {
  it('reports session writes that may have landed, keeps the capabilities of the store it wraps', async () => {
    const hinted: string[] = [];
    const inner = new MemoryObjectStore();
    const store = hintingStore(inner, (id) => hinted.push(id));
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    await store.put(sessionKey(id), '{}', { ifNoneMatch: '*' });
    await expect(store.put(sessionKey(id), '{}', { ifNoneMatch: '*' })).rejects.toThrow('condition not met');
    await store.put('names/x', '{}', { ifNoneMatch: '*' });
    expect(hinted).toEqual([id]);
    expect([keepsVersions(store), isPrunable(store)]).toEqual([true, true]);
    const versionsOnly: VersionedObjectStore = {
      get: (key) => inner.get(key),
      put: (key, body, condition) => inner.put(key, body, condition),
      list: (prefix, options) => inner.list(prefix, options),
      putVersion: async () => Promise.reject(new Error('disk failed')),
      listVersions: (key, options) => inner.listVersions(key, options),
      getVersion: (key, version) => inner.getVersion(key, version),
    };
    const wrapped = hintingStore(versionsOnly, (hint) => hinted.push(hint));
    await expect(wrapped.put(sessionKey(id), '{}', { ifMatch: '"x"' } as WriteCondition)).rejects.toThrow('disk failed');
    expect(hinted).toEqual([id, id]);
    expect([keepsVersions(wrapped), isPrunable(wrapped)]).toEqual([true, false]);
  });
});

describe('LocalAnnouncer catch-up', () => {
  it('announces exactly the sessions changed since their cursor, and then none', async () => {
    const store = new SqliteObjectStore(path.join(dataDir, 'sessions'));
    const cursors = new UnversionedSqliteObjectStore(path.join(dataDir, 'announced'));
    cleanups.push(
      () => store.close(),
      () => cursors.close(),
    );
    const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store });
    const published: SessionEvent[] = [];
    const announcer = new Announcer({ sessions: store, cursors, publisher: { publish: async (events) => void published.push(...events) } });
    const local = new LocalAnnouncer({ announcer, sessions: store, cursors });
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push((await repository.createSession({})).session.id);

    expect(await local.catchUp()).toMatchObject({ sessions: 300, behind: 300 });
    for (const id of ids.slice(0, 7)) await repository.setStatus(id, 'paused');
    const again = await local.catchUp();
    const quiet = await local.catchUp();

    expect(again).toMatchObject({ sessions: 300, behind: 7 });
    expect(quiet).toMatchObject({ sessions: 300, behind: 0 });
    expect(published).toHaveLength(307);
    expect(published.slice(300).map((event) => event.detail.session_id)).toEqual(expect.arrayContaining(ids.slice(0, 7)));
    expect(await cursors.get(announcedKey(ids[0]!))).toBeDefined();
  }, 60_000);
});

describe('delay from a stored change to its line and to the webhook', () => {
  it('measures p50 and p99 over 120 status changes', async () => {
    const webhook = await startWebhook(0);
    const written = new Map<string, number>();
    const lineAt = new Map<string, number>();
    const base = new SqliteObjectStore(dataDir);
    const timed: VersionedObjectStore = {
      get: (key) => base.get(key),
      put: async (key, body, condition) => (await timed.putVersion(key, body, condition)).etag,
      list: (prefix, options) => base.list(prefix, options),
      putVersion: async (key, body, condition) => {
        const result = await base.putVersion(key, body, condition);
        const id = /^sessions\/(\w+)\.json$/.exec(key)?.[1];
        if (id) written.set(`${id}:${result.versionId}`, performance.now());
        return result;
      },
      listVersions: (key, options) => base.listVersions(key, options),
      getVersion: (key, version) => base.getVersion(key, version),
    };
    const events = await startLocalEvents({
      dataDir,
      store: timed,
      webhookUrl: webhook.url,
      onPublished: (published) => {
        for (const event of published) lineAt.set(event.id, performance.now());
      },
    });
    const server = await startLocalServer({
      port: 0,
      store: events.hintStore,
      dataDir,
      renewals: new MemoryObjectStore(),
      leaseSweepSeconds: 0,
    });
    cleanups.push(
      () => base.close(),
      () => events.stop(),
      () => server.close(),
    );
    const call = client(server.url);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await call('POST', '/sessions', {})).json.id);
    for (let i = 0; i < 120; i++)
      await call('PATCH', `/sessions/${ids[i % 4]}`, { status: Math.floor(i / 4) % 2 === 0 ? 'paused' : 'active' });
    await until(
      async () => webhook.accepted.length,
      (count) => count >= 124,
    );

    const toLine = [...lineAt].map(([id, at]) => at - written.get(id)!);
    const toWebhook = [...webhook.at].map(([id, at]) => at - written.get(id)!);
    const percentile = (values: number[], p: number) => values.toSorted((a, b) => a - b)[Math.ceil((p / 100) * values.length) - 1]!;
    console.log(
      JSON.stringify({
        changes: toLine.length,
        line_ms: { p50: percentile(toLine, 50), p99: percentile(toLine, 99) },
        webhook_ms: { p50: percentile(toWebhook, 50), p99: percentile(toWebhook, 99) },
      }),
    );
    expect(toLine).toHaveLength(124);
    expect(webhook.accepted).toEqual(await eventLines());
    expect(percentile(toLine, 99)).toBeLessThan(1000);
    expect(percentile(toWebhook, 99)).toBeLessThan(2000);
  }, 60_000);
});

describe('WebhookDelivery', () => {
  it('waits for a line to be complete before delivering it', async () => {
    const webhook = await startWebhook(0);
    const file = path.join(dataDir, 'events.jsonl');
    await writeFile(file, '{"id":"one"}\n{"id":"tw');
    const { WebhookDelivery } = await import('#lib/local/webhook.ts');
    const delivery = new WebhookDelivery({ file, cursorFile: path.join(dataDir, 'webhook.cursor'), url: webhook.url, pollMs: 20 });
    delivery.start();
    cleanups.push(() => delivery.stop());
    await until(
      async () => webhook.accepted.length,
      (count) => count >= 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(webhook.accepted).toEqual(['{"id":"one"}']);
    await appendFile(file, 'o"}\n');
    await until(
      async () => webhook.accepted.length,
      (count) => count >= 2,
    );
    expect(webhook.accepted).toEqual(['{"id":"one"}', '{"id":"two"}']);
  });
});

describe('WebhookDelivery backoff', () => {
  it('waits between attempts at one line at least half the doubling ceiling, and never much more than its cap', async () => {
    const webhook = await startWebhook(6);
    const times: number[] = [];
    webhook.server.on('request', () => times.push(performance.now()));
    const file = path.join(dataDir, 'events.jsonl');
    await writeFile(file, '{"id":"one"}\n');
    const { WebhookDelivery } = await import('#lib/local/webhook.ts');
    const delivery = new WebhookDelivery({
      file,
      cursorFile: path.join(dataDir, 'webhook.cursor'),
      url: webhook.url,
      retry: { baseMs: 40, maxMs: 160 },
    });
    delivery.start();
    cleanups.push(() => delivery.stop());
    await until(
      async () => delivery.delivered,
      (count) => count >= 1,
    );

    const gaps = times.slice(1).map((at, index) => at - times[index]!);
    const ceilings = [40, 80, 160, 160, 160, 160];
    expect(gaps).toHaveLength(6);
    gaps.forEach((gap, index) => {
      expect(gap).toBeGreaterThanOrEqual(ceilings[index]! / 2 - 5);
      expect(gap).toBeLessThan(ceilings[index]! + 150);
    });
    expect([delivery.attempts, delivery.delivered]).toEqual([7, 1]);
  });
});

describe('LocalAnnouncer retries', () => {
  it('announces again, later, what a failed publish left unannounced', async () => {
    const sessions = new MemoryObjectStore();
    const cursors = new MemoryObjectStore();
    const published: SessionEvent[] = [];
    let failures = 1;
    const errors: unknown[] = [];
    const publisher = {
      publish: async (events: SessionEvent[]) => {
        if (failures-- > 0) throw new Error('disk full');
        published.push(...events);
      },
    };
    const local = new LocalAnnouncer({
      announcer: new Announcer({ sessions, cursors, publisher }),
      sessions,
      cursors,
      onError: (_id, error) => errors.push(error),
    });
    cleanups.push(() => local.stop());
    const repository = new SessionRepository({
      renewals: new MemoryObjectStore(),
      store: hintingStore(sessions, (id) => void local.hint(id)),
    });

    const { id } = (await repository.createSession({})).session;
    await local.idle();
    expect([published.length, errors.length]).toEqual([0, 1]);
    await until(
      async () => published.length,
      (count) => count >= 1,
      5000,
    );

    expect(published.map((event) => [event['detail-type'], event.detail.session_id])).toEqual([['Session Created', id]]);
  });
});
