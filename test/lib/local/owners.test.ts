/**
 * Owners on the local server, black box: `npm start` with a token file of three tokens — a runner of tenant A, a
 * runner of tenant B, an operator — driven over HTTP only, its sessions read back through the API and its events
 * through `events.jsonl`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeCursor } from '#lib/domain/cursor.ts';

const TOKENS = { a: 'runner-a-token-0123456789', b: 'runner-b-token-0123456789', operator: 'operator-token-0123456789' };
const TOKEN_FILE = [
  '# runners of two tenants, and an operator (a line without a tenant)',
  `runner-a:${TOKENS.a}:team-a`,
  `runner-b:${TOKENS.b}:team-b:runner`,
  `operator:${TOKENS.operator}`,
].join('\n');

type Who = keyof typeof TOKENS;

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** `npm start` on a fresh data directory with the token file and `env`; its URL and data directory once it listens. */
async function start(env: Record<string, string> = {}): Promise<{ url: string; dataDir: string }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-owners-'));
  const tokenFile = path.join(dataDir, 'tokens');
  await writeFile(tokenFile, TOKEN_FILE, { mode: 0o600 });
  const child = spawn(process.execPath, ['lib/local/main.ts'], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '',
      SESSIONS_BUCKET: '',
      LOCAL_TOKEN: '',
      LOCAL_TOKEN_FILE: tokenFile,
      DATA_DIR: path.join(dataDir, 'data'),
      LEASE_SWEEP_SECONDS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  stops.push(async () => {
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(stdout);
      if (found) resolve(found[1]!);
    });
    exited.then(() => reject(new Error(`the server stopped: ${stdout}${stderr}`)));
  });
  return { url, dataDir: path.join(dataDir, 'data') };
}

interface Answer {
  status: number;
  etag: string | null;
  text: string;
  json: any;
}

function client(url: string) {
  return async (who: Who, method: string, target: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await fetch(`${url}${target}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKENS[who]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, etag: response.headers.get('etag'), text, json: text === '' ? undefined : JSON.parse(text) };
  };
}

/** The lines of `events.jsonl` so far, parsed. */
async function events(dataDir: string): Promise<Array<{ 'detail-type': string; detail: { session_id: string; actor: string } }>> {
  const text = await readFile(path.join(dataDir, 'events.jsonl'), 'utf-8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('a runner of another tenant', () => {
  it("cannot append to, pause, terminate, acquire (forced or not), heartbeat, restore or adopt A's session: 403 forbidden, nothing written, no event; A and the operator can", async () => {
    const { url, dataDir } = await start();
    const call = client(url);
    const created = await call('a', 'POST', '/sessions', { name: 'tenant-a', lease_seconds: 60 });
    expect(created.status).toBe(201);
    expect(created.json.owner).toBe('team-a');
    const id = created.json.id as string;
    const base = `/sessions/${id}`;
    expect((await call('a', 'POST', `${base}/jobs`, { job_id: 'job-1' }, { 'lease-epoch': '1' })).status).toBe(200);
    const before = await call('operator', 'GET', base);
    const history = await call('operator', 'GET', `${base}/history`);
    const oldest = history.json.versions.at(-1).version_id as string;
    const announced = await until(
      () => events(dataDir),
      (lines) => lines.some((line) => line.detail.session_id === id),
    );
    expect(announced).toHaveLength(1);

    const epoch = { 'lease-epoch': '1' };
    const refused = [
      await call('b', 'POST', `${base}/jobs`, { job_id: 'job-b' }, epoch),
      await call('b', 'POST', `${base}/jobs`, { job_id: 'job-b' }),
      await call('b', 'PATCH', base, { status: 'paused' }, epoch),
      await call('b', 'PATCH', base, { status: 'terminated' }, epoch),
      await call('b', 'PATCH', base, { status: 'completed' }),
      await call('b', 'POST', `${base}/lease`, { holder: 'runner-b' }),
      await call('b', 'POST', `${base}/lease`, { holder: 'runner-b', force: true }),
      await call('b', 'POST', `${base}/lease`, {}, epoch),
      await call('b', 'POST', `${base}/heartbeat`, {}, epoch),
      await call('b', 'POST', `${base}/restore`, { version_id: oldest, force: true }),
      await call('b', 'POST', `${base}/restore`, { version_id: oldest }),
      await call('b', 'POST', `${base}/owner`, { owner: 'team-b' }),
      await call('a', 'POST', `${base}/owner`, { owner: 'team-b' }),
    ];
    for (const answer of refused) {
      expect(answer.status, answer.text).toBe(403);
      expect(answer.json).toEqual({
        error: { code: 'forbidden', message: `you do not own session ${id}; ask an operator`, details: { id } },
      });
    }
    // Byte for byte: the same body and version, the same history, no event.
    const after = await call('operator', 'GET', base);
    expect(after.text).toBe(before.text);
    expect(after.etag).toBe(before.etag);
    expect((await call('operator', 'GET', `${base}/history`)).text).toBe(history.text);

    // The owner can: heartbeat, append, pause (an event), resume.
    expect((await call('a', 'POST', `${base}/heartbeat`, {}, epoch)).status).toBe(200);
    expect((await call('a', 'POST', `${base}/jobs`, { job_id: 'job-2' }, epoch)).status).toBe(200);
    expect((await call('a', 'PATCH', base, { status: 'paused' }, epoch)).status).toBe(200);
    const resumed = await call('a', 'POST', `${base}/lease`, { holder: 'runner-a' });
    expect(resumed.status).toBe(200);
    // The operator can: take the lease over, append, restore, adopt.
    const taken = await call('operator', 'POST', `${base}/lease`, { force: true });
    expect(taken.status).toBe(200);
    const operatorEpoch = { 'lease-epoch': String(taken.json.lease.epoch) };
    expect((await call('operator', 'POST', `${base}/heartbeat`, {}, operatorEpoch)).status).toBe(200);
    expect((await call('operator', 'POST', `${base}/jobs`, { job_id: 'job-3' }, operatorEpoch)).status).toBe(200);
    const restored = await call('operator', 'POST', `${base}/restore`, { version_id: oldest, force: true });
    expect(restored.status).toBe(200);
    expect(restored.json.owner).toBe('team-a');
    const adopted = await call('operator', 'POST', `${base}/owner`, { owner: 'team-b' });
    expect(adopted.status).toBe(200);
    expect(adopted.json.owner).toBe('team-b');
    const latest = await call('operator', 'GET', `${base}/history?limit=1`);
    expect(latest.json.versions[0].change).toBe('owner changed to team-b');
    // Now B owns it, and A may no longer change it.
    expect((await call('a', 'PATCH', base, { status: 'terminated' })).status).toBe(403);
    expect((await call('b', 'PATCH', base, { status: 'terminated' })).status).toBe(200);

    const lines = await until(
      () => events(dataDir),
      (all) => all.some((line) => line['detail-type'] === 'Session Status Changed' && line.detail.actor === 'runner-b'),
    );
    // Every event names a writer that was allowed to write: never runner-b before the adoption, never a refused call.
    expect(lines.map((line) => [line['detail-type'], line.detail.actor])).toEqual([
      ['Session Created', 'runner-a'],
      ['Session Status Changed', 'runner-a'],
      ['Session Lease Acquired', 'runner-a'],
      ['Session Lease Acquired', 'operator'],
      ['Session Restored', 'operator'],
      ['Session Owner Changed', 'operator'],
      ['Session Status Changed', 'runner-b'],
    ]);
  }, 60_000);
});

describe('SESSION_READERS=owner', () => {
  it("shows a runner none of another tenant's sessions: not in a listing, not by its cursors, 404 on get and history", async () => {
    const { url } = await start({ SESSION_READERS: 'owner' });
    const call = client(url);
    const ofA: string[] = [];
    const ofB: string[] = [];
    // Interleaved, so that a listing of everything would put A's sessions between B's.
    for (let i = 0; i < 3; i++) {
      ofA.push((await call('a', 'POST', '/sessions', { name: 'shared-name' })).json.id);
      ofB.push((await call('b', 'POST', '/sessions', { name: 'shared-name' })).json.id);
    }
    ofA.push((await call('a', 'POST', '/sessions', {})).json.id);

    for (const query of ['', 'status=active&', 'name=shared-name&', 'owner=me&']) {
      const seen: string[] = [];
      const cursors: string[] = [];
      let cursor: string | null = null;
      do {
        const target: string = `/sessions?${query}limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const page = await call('b', 'GET', target);
        expect(page.status, page.text).toBe(200);
        seen.push(...page.json.sessions.map((session: { id: string }) => session.id));
        cursor = page.json.next_cursor;
        if (cursor !== null) cursors.push(cursor);
      } while (cursor !== null);
      expect(seen, query).toEqual([...ofB].reverse());
      // As many pages as B has sessions, and no cursor names one of A's.
      expect(cursors).toHaveLength(ofB.length - 1);
      for (const sent of cursors) expect(ofB).toContain(decodeCursor(sent));
    }
    for (const id of ofA) {
      const get = await call('b', 'GET', `/sessions/${id}`);
      expect(get.status).toBe(404);
      expect(get.json.error).toEqual({ code: 'session_not_found', message: `no session ${id}`, details: { id } });
      expect((await call('b', 'GET', `/sessions/${id}/history`)).status).toBe(404);
      expect((await call('a', 'GET', `/sessions/${id}`)).status).toBe(200);
      expect((await call('a', 'GET', `/sessions/${id}/history`)).status).toBe(200);
    }
    // The operator reads everything.
    const all = await call('operator', 'GET', '/sessions');
    expect(all.json.sessions.map((session: { id: string }) => session.id).sort()).toEqual([...ofA, ...ofB].sort());
    expect((await call('operator', 'GET', `/sessions/${ofA[0]}`)).status).toBe(200);
  }, 60_000);
});
