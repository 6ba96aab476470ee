import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { DATABASE_NAME } from '#lib/storage/sqlite/index.ts';

/** The request deadline the server is given: short, so that a stuck lock shows within the test. */
const DEADLINE_MS = 3_000;

/** A process that takes the database's write lock and keeps it until it is killed. */
async function holdWriteLock(file: string): Promise<ChildProcess> {
  const script = `
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(process.env.FILE);
    db.exec('BEGIN IMMEDIATE');
    globalThis.held = db;
    process.stdout.write('held\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
    env: { ...process.env, FILE: file },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(child.stdout!, 'data');
  return child;
}

describe('the database locked by a stuck process', () => {
  let server: LocalServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-lock-'));
    server = await startLocalServer({ port: 0, dataDir, requestTimeoutMs: DEADLINE_MS });
  });
  afterAll(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it.each([
    ['PATCH /sessions/{id}', (id: string) => ({ path: `/sessions/${id}`, init: { method: 'PATCH', ...json({ status: 'completed' }) } })],
    [
      'POST /sessions/{id}/jobs',
      (id: string) => ({ path: `/sessions/${id}/jobs`, init: { method: 'POST', ...json({ job_id: 'job-1' }) } }),
    ],
    [
      'POST /sessions/{id}/restore',
      (id: string, versionId: string) => ({
        path: `/sessions/${id}/restore`,
        init: { method: 'POST', ...json({ version_id: versionId }) },
      }),
    ],
  ])(
    '%s: 503 storage_unavailable with Retry-After within the request deadline, not a 500',
    async (_, call) => {
      const created = await (await fetch(`${server.url}/sessions`, { method: 'POST' })).json();
      await fetch(`${server.url}/sessions/${created.id}`, { method: 'PATCH', ...json({ status: 'paused' }) });
      await fetch(`${server.url}/sessions/${created.id}`, { method: 'PATCH', ...json({ status: 'active' }) });
      const history = await (await fetch(`${server.url}/sessions/${created.id}/history`)).json();
      const stuck = await holdWriteLock(path.join(dataDir, DATABASE_NAME));
      const { path: route, init } = call(created.id, history.versions[1].version_id);

      const started = Date.now();
      const response = await fetch(`${server.url}${route}`, init);
      const elapsed = Date.now() - started;
      const body = await response.json();
      stuck.kill('SIGKILL');
      await once(stuck, 'exit');
      const after = await fetch(`${server.url}${route}`, call(created.id, history.versions[1].version_id).init);

      expect([response.status, body.error.code]).toEqual([503, 'storage_unavailable']);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(DEADLINE_MS);
      // Once the stuck process is gone, the same request goes through.
      expect(after.status).toBeLessThan(300);
    },
    45_000,
  );
});
