import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { FileObjectStore } from '#lib/storage/file/index.ts';

/** The request deadline the server is given: short, so that a stuck lock shows within the test. */
const DEADLINE_MS = 3_000;

describe('a key locked by a stuck process', () => {
  let server: LocalServer;
  let dataDir: string;
  let stuck: ChildProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-lock-'));
    server = await startLocalServer({ port: 0, dataDir, requestTimeoutMs: DEADLINE_MS });
    // A live process on this host, so that its lock is not taken for an abandoned one.
    stuck = spawn('sleep', ['60'], { stdio: 'ignore' });
  });
  afterAll(async () => {
    stuck.kill();
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
      const lock = new FileObjectStore(dataDir).lockPath;
      await writeFile(lock, `${JSON.stringify({ pid: stuck.pid, host: hostname(), token: 'stuck' })}\n`);
      // Touched as a live holder keeps it, so that it is not broken as stale while the test runs.
      const fresh = new Date(Date.now() + 60_000);
      await utimes(lock, fresh, fresh);
      const { path: route, init } = call(created.id, history.versions[1].version_id);

      const started = Date.now();
      const response = await fetch(`${server.url}${route}`, init);
      const elapsed = Date.now() - started;
      const body = await response.json();
      await rm(lock, { force: true });

      expect([response.status, body.error.code]).toEqual([503, 'storage_unavailable']);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(DEADLINE_MS);
    },
    45_000,
  );
});
