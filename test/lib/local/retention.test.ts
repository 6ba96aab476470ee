import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalConfigError, readLocalConfig } from '#lib/local/config.ts';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { openSqliteStores } from '#lib/storage/sqlite/index.ts';

const DAY_MS = 86_400_000;
const dirs: string[] = [];
const servers: LocalServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('RETENTION_DAYS for npm start', () => {
  it('is unset by default (ended sessions kept forever), else whole days from 1 to 3650', () => {
    expect(readLocalConfig({})).not.toHaveProperty('retentionDays');
    expect(readLocalConfig({ RETENTION_DAYS: '' })).not.toHaveProperty('retentionDays');
    expect(readLocalConfig({ RETENTION_DAYS: '1' }).retentionDays).toBe(1);
    expect(readLocalConfig({ RETENTION_DAYS: '3650' }).retentionDays).toBe(3650);
    for (const bad of ['0', '3651', '1.5', '-3', 'ninety', '1e3']) {
      expect(() => readLocalConfig({ RETENTION_DAYS: bad }), bad).toThrow(LocalConfigError);
    }
  });

  it('stops the start with a one-line error and exit code 2 on a value out of range', () => {
    const result = spawnSync(process.execPath, ['lib/local/main.ts'], {
      env: { ...process.env, PORT: '0', SESSIONS_BUCKET: '', LOCAL_TOKEN: '', LOCAL_TOKEN_FILE: '', HOST: '', RETENTION_DAYS: '0' },
      encoding: 'utf-8',
      timeout: 30_000,
    });

    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'RETENTION_DAYS must be a whole number of days from 1 to 3650, or unset to keep ended sessions forever; got "0"',
    ]);
  });
});

describe('the local server with RETENTION_DAYS', () => {
  it('deletes at start the sessions ended for longer, and keeps the rest', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'retention-server-'));
    dirs.push(dataDir);
    // Written ten days ago, through the store's and the repository's clock.
    const then = Date.now() - 10 * DAY_MS;
    const stores = openSqliteStores(dataDir, { clock: { now: () => then } });
    const repository = new SessionRepository({ store: stores.sessions, renewals: stores.state, clock: () => then });
    await repository.backfillStatusIndex();
    const ended = (await repository.createSession({ name: 'old' })).session.id;
    await repository.setStatus(ended, 'completed');
    const active = (await repository.createSession({ name: 'old' })).session.id;
    const paused = (await repository.createSession({})).session.id;
    await repository.setStatus(paused, 'paused');
    await stores.sessions.close();

    const server = await startLocalServer({ dataDir, port: 0, retentionDays: 7, console: false, leaseSweepSeconds: 0 });
    servers.push(server);
    const status = async (id: string) => (await fetch(`${server.url}/sessions/${id}`)).status;
    for (let waited = 0; (await status(ended)) !== 404 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));

    expect(await status(ended)).toBe(404);
    expect(await status(active)).toBe(200);
    expect(await status(paused)).toBe(200);
    const named = await (await fetch(`${server.url}/sessions?name=old`)).json();
    expect(named.sessions.map((session: { id: string }) => session.id)).toEqual([active]);
    const history = await fetch(`${server.url}/sessions/${ended}/history`);
    expect(history.status).toBe(404);
  });
});
