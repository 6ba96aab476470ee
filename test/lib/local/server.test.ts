import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
const bucket = process.env.SESSIONS_TEST_BUCKET;
const backends = [
  { name: 'the local file store', enabled: true, bucket: undefined },
  {
    name: `S3 at ${endpoint ?? '(set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET to run)'}`,
    enabled: Boolean(endpoint && bucket),
    bucket,
  },
];

describe.each(backends)('the local server on $name', ({ enabled, bucket }) => {
  let server: LocalServer;
  let dataDir: string;

  beforeAll(async () => {
    if (!enabled) return;
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-server-'));
    server = await startLocalServer({ port: 0, dataDir, ...(bucket ? { bucket } : {}) });
  });

  afterAll(async () => {
    if (!enabled) return;
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
  };

  it.skipIf(!enabled)('serves a runner life cycle over real sockets', async () => {
    const created = await call('POST', '/sessions', { name: 'ssh-import' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/sessions/${created.json.id}`);
    expect(created.json).toMatchObject({ name: 'ssh-import', job_ids: [], status: 'active', updated_by: 'local' });
    const id: string = created.json.id;

    expect((await call('POST', `/sessions/${id}/jobs`, { job_id: 'job-1' })).json.job_ids).toEqual(['job-1']);
    expect((await call('POST', `/sessions/${id}/jobs`, { job_id: 'job-1' })).json.job_ids).toEqual(['job-1']);
    expect((await call('PATCH', `/sessions/${id}`, { status: 'paused' })).json.status).toBe('paused');
    const refused = await call('POST', `/sessions/${id}/jobs`, { job_id: 'job-2' });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('session_not_active');
    expect((await call('PATCH', `/sessions/${id}`, { status: 'active' })).status).toBe(200);
    const appended = await call('POST', `/sessions/${id}/jobs`, { job_id: 'job-2' });
    expect(appended.json.job_ids).toEqual(['job-1', 'job-2']);
    expect((await call('PATCH', `/sessions/${id}`, { status: 'completed' })).json.status).toBe('completed');
    const read = await call('GET', `/sessions/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(read.json).toMatchObject({ id, job_ids: ['job-1', 'job-2'], status: 'completed' });
  });

  it.skipIf(!enabled)('lists newest first with a working cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.unshift((await call('POST', '/sessions', { name: `list-${i}` })).json.id);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }

    const first = await call('GET', '/sessions?limit=2');
    const second = await call('GET', `/sessions?limit=2&cursor=${encodeURIComponent(first.json.next_cursor)}`);

    expect(first.json.sessions.map((s: { id: string }) => s.id)).toEqual(ids.slice(0, 2));
    expect(second.json.sessions[0].id).toBe(ids[2]);
  });

  it.skipIf(!enabled)('honours If-Match: the current ETag applies, a stale one gets 412', async () => {
    const created = await call('POST', '/sessions', {});
    const etag = created.headers.get('etag')!;
    const id = created.json.id;

    const applied = await call('POST', `/sessions/${id}/jobs`, { job_id: 'a' }, { 'if-match': etag });
    const stale = await call('POST', `/sessions/${id}/jobs`, { job_id: 'b' }, { 'if-match': etag });

    expect(applied.status).toBe(200);
    expect(stale.status).toBe(412);
    expect(stale.json.error.code).toBe('precondition_failed');
  });

  it.skipIf(!enabled)('answers a create repeated with its Idempotency-Key with the same session, and finds sessions by name', async () => {
    const name = `resume ${randomUUID()}`;
    const key = randomUUID();

    const first = await call('POST', '/sessions', { name }, { 'idempotency-key': key });
    const repeat = await call('POST', '/sessions', { name }, { 'idempotency-key': key });
    const other = await call('POST', '/sessions', { name });
    const misused = await call('POST', '/sessions', { name: `${name} (2)` }, { 'idempotency-key': key });
    await call('PATCH', `/sessions/${first.json.id}`, { status: 'paused' });
    const byName = await call('GET', `/sessions?name=${encodeURIComponent(name)}`);
    const paused = await call('GET', `/sessions?name=${encodeURIComponent(name)}&status=paused`);

    expect([first.status, repeat.status, other.status, misused.status]).toEqual([201, 200, 201, 400]);
    expect(repeat.json).toEqual(first.json);
    expect(repeat.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(repeat.headers.get('location')).toBe(`/sessions/${first.json.id}`);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(misused.json.error.details.issues[0].field).toBe('headers.idempotency-key');
    expect(byName.json.sessions.map((s: { id: string }) => s.id)).toEqual([other.json.id, first.json.id]);
    expect(paused.json).toEqual({ sessions: [{ ...first.json, status: 'paused', updated_at: expect.any(Number) }], next_cursor: null });
  });

  it.skipIf(!enabled)('answers the contract errors', async () => {
    const huge = await call('POST', '/sessions', JSON.stringify({ name: 'x'.repeat(17_000) }));
    const notJson = await call('POST', '/sessions', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    const badId = await call('GET', '/sessions/..%2F..%2Fetc%2Fpasswd');
    const missing = await call('GET', '/sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7');

    expect([huge.status, huge.json.error.code]).toEqual([413, 'payload_too_large']);
    expect([notJson.status, notJson.json.error.code]).toEqual([415, 'unsupported_media_type']);
    expect([badId.status, badId.json.error.code]).toEqual([400, 'invalid_request']);
    expect([missing.status, missing.json.error.code]).toEqual([404, 'session_not_found']);
  });

  it.skipIf(!enabled)('serves the OpenAPI document', async () => {
    const response = await call('GET', '/openapi.json');

    expect(response.status).toBe(200);
    expect(response.json.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(response.json.paths)).toEqual(expect.arrayContaining(['/sessions', '/sessions/{id}', '/sessions/{id}/jobs']));
  });

  it.skipIf(!enabled)('answers 404 route_not_found, in the contract error shape, for a path no route has', async () => {
    const response = await call('GET', '/sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7/nothing-here');

    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.json).toEqual({
      error: {
        code: 'route_not_found',
        message: 'no route for GET /sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7/nothing-here',
        details: { method: 'GET', path: '/sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7/nothing-here' },
      },
    });
  });

  it.skipIf(!enabled)('answers 405 method_not_allowed with Allow for a route API Gateway has with other methods only', async () => {
    const response = await call('DELETE', '/sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7');

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, PATCH');
    expect(response.json.error).toMatchObject({ code: 'method_not_allowed', details: { method: 'DELETE', allowed: ['GET', 'PATCH'] } });
  });
});

describe('npm start', () => {
  it('prints its URL, serves, and stops cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-main-'));
    const child = spawn(process.execPath, ['lib/local/main.ts'], {
      env: { ...process.env, PORT: '0', DATA_DIR: dataDir, SESSIONS_BUCKET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const found = /listening on (http:\/\/\S+)/.exec(output);
        if (found) resolve(found[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });

    const response = await fetch(`${url}/sessions`);
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');

    expect(response.status).toBe(200);
    expect(await exit).toBe(0);
    await rm(dataDir, { recursive: true, force: true });
  });
});
