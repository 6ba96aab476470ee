import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionsClient } from '#lib/client/client.ts';
import { NoResumableSession, SessionsApiError } from '#lib/client/errors.ts';
import type { SessionStatus } from '#lib/domain/session.ts';
import { type RunningApi, startApi, TEST_MAX_JOBS } from './local-api.ts';

let api: RunningApi;
let client: SessionsClient;

beforeAll(async () => {
  api = await startApi();
  client = new SessionsClient({ baseUrl: api.url, retry: { maxAttempts: 1 } });
});
afterAll(async () => {
  await api.close();
});

/** The error a call rejects with, for assertions on its fields. */
async function failure(call: Promise<unknown>): Promise<SessionsApiError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(SessionsApiError);
  return error as SessionsApiError;
}

const UNKNOWN_ID = 'fffffffffffffaaaaaaaaaaaaaaaaaaa';

describe('createSession', () => {
  it('opens an active session with no jobs, with its ETag and Location', async () => {
    const created = await client.createSession({ name: 'ssh-import' });

    expect(created.session).toMatchObject({ name: 'ssh-import', job_ids: [], status: 'active' });
    expect(created.session.id).toMatch(/^[0-9a-f]{32}$/);
    expect(created.etag).toMatch(/^"[^"]+"$/);
    expect(created.location).toBe(`/sessions/${created.session.id}`);
  });

  it('opens a session without a name', async () => {
    const created = await client.createSession();

    expect(created.session.name).toBeNull();
  });
});

describe('getSession', () => {
  it('reads the session back with the ETag it was written as', async () => {
    const created = await client.createSession({ name: 'read-back' });

    const read = await client.getSession(created.session.id);

    expect(read).toEqual({ session: created.session, etag: created.etag });
  });
});

describe('addJob', () => {
  it('appends job IDs in order and answers the new version', async () => {
    const { session } = await client.createSession();

    await client.addJob(session.id, 'job-1');
    const second = await client.addJob(session.id, 'job-2');

    expect(second.session.job_ids).toEqual(['job-1', 'job-2']);
    expect(second.etag).toBe((await client.getSession(session.id)).etag);
  });

  it('leaves the session unchanged when the job is already there', async () => {
    const { session } = await client.createSession();
    const first = await client.addJob(session.id, 'job-1');

    const again = await client.addJob(session.id, 'job-1');

    expect(again).toEqual(first);
  });

  it('applies the change to the version named by ifMatch', async () => {
    const created = await client.createSession();

    const added = await client.addJob(created.session.id, 'job-1', { ifMatch: created.etag });

    expect(added.session.job_ids).toEqual(['job-1']);
  });
});

describe('setStatus and its conveniences', () => {
  it.each<[string, (id: string) => Promise<unknown>, SessionStatus]>([
    ['pause', (id) => client.pause(id), 'paused'],
    ['complete', (id) => client.complete(id), 'completed'],
    ['terminate', (id) => client.terminate(id), 'terminated'],
    ['setStatus', (id) => client.setStatus(id, 'paused'), 'paused'],
  ])('%s moves an active session to %s', async (_name, change, status) => {
    const { session } = await client.createSession();

    await change(session.id);

    expect((await client.getSession(session.id)).session.status).toBe(status);
  });

  it('resume moves a paused session back to active, where it takes jobs again', async () => {
    const { session } = await client.createSession();
    await client.pause(session.id);

    const resumed = await client.resume(session.id);
    const added = await client.addJob(session.id, 'job-after-resume');

    expect(resumed.session.status).toBe('active');
    expect(added.session.job_ids).toEqual(['job-after-resume']);
  });

  it('setting the status the session already has changes nothing', async () => {
    const { session } = await client.createSession();
    const paused = await client.pause(session.id);

    const again = await client.pause(session.id);

    expect(again).toEqual(paused);
  });

  it('applies the change to the version named by ifMatch', async () => {
    const created = await client.createSession();

    const paused = await client.pause(created.session.id, { ifMatch: created.etag });

    expect(paused.session.status).toBe('paused');
  });
});

describe('listSessions and sessions()', () => {
  let ids: string[];
  let pageRequests: string[];
  let counting: SessionsClient;

  beforeAll(async () => {
    ids = [];
    for (let i = 0; i < 7; i++) {
      const { session } = await client.createSession({ name: `page-test-${i}` });
      ids.unshift(session.id);
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct milliseconds, so newest-first order is total
    }
    pageRequests = [];
    counting = new SessionsClient({
      baseUrl: api.url,
      fetch: (input, init) => {
        pageRequests.push(String(input));
        return fetch(input, init);
      },
    });
  });

  it('answers a page newest first with a cursor to the next one', async () => {
    const first = await client.listSessions({ limit: 3 });
    const second = await client.listSessions({ limit: 3, cursor: first.nextCursor! });

    expect(first.sessions.map((s) => s.id)).toEqual(ids.slice(0, 3));
    expect(second.sessions.map((s) => s.id)).toEqual(ids.slice(3, 6));
    expect(first.nextCursor).toEqual(expect.any(String));
  });

  it('filters by status', async () => {
    await client.pause(ids[1]!);

    const page = await client.listSessions({ status: 'paused', limit: 100 });

    expect(page.sessions.map((s) => s.id)).toContain(ids[1]);
    expect(page.sessions.every((s) => s.status === 'paused')).toBe(true);
  });

  it('iterates over every page with for await, asking for the next page only when needed', async () => {
    pageRequests.length = 0;
    const seen: string[] = [];

    for await (const session of counting.sessions({ pageSize: 3 })) {
      if (session.name?.startsWith('page-test-')) seen.push(session.id);
    }

    expect(seen).toEqual(ids);
    expect(pageRequests.length).toBeGreaterThan(2);
    expect(pageRequests.every((url) => new URL(url).searchParams.get('limit') === '3')).toBe(true);
    expect(new URL(pageRequests[1]!).searchParams.get('cursor')).toEqual(expect.any(String));
  });

  it('stops fetching when the loop stops', async () => {
    pageRequests.length = 0;

    for await (const _session of counting.sessions({ pageSize: 3 })) break;

    expect(pageRequests).toHaveLength(1);
  });
});

describe('resume after a disconnect', () => {
  it('createSession with the same idempotency key answers the session the first call opened', async () => {
    const first = await client.createSession({ name: 'keyed-client', idempotencyKey: 'client-test-key-1' });
    const again = await client.createSession({ name: 'keyed-client', idempotencyKey: 'client-test-key-1' });

    expect(first).toMatchObject({ replayed: false, idempotencyKey: 'client-test-key-1', location: `/sessions/${first.session.id}` });
    expect(again).toEqual({ ...first, replayed: true });
  });

  it('listSessions by name answers only that name, newest first', async () => {
    const older = await client.createSession({ name: 'named-list' });
    await new Promise((resolve) => setTimeout(resolve, 2));
    await client.createSession({ name: 'named-list-other' });
    const newer = await client.createSession({ name: 'named-list' });

    const page = await client.listSessions({ name: 'named-list' });

    expect(page.sessions.map((s) => s.id)).toEqual([newer.session.id, older.session.id]);
  });

  it('resumeByName resumes the paused session of that name and answers it active, with its new ETag', async () => {
    const { session } = await client.createSession({ name: 'reconnecting-runner' });
    await client.pause(session.id);

    const resumed = await client.resumeByName('reconnecting-runner');

    expect(resumed).toMatchObject({ wasPaused: true, session: { id: session.id, status: 'active' } });
    expect(resumed.etag).toBe((await client.getSession(session.id)).etag);
  });

  it('resumeByName answers an active session as it is, writing nothing', async () => {
    const created = await client.createSession({ name: 'still-connected' });

    const resumed = await client.resumeByName('still-connected');

    expect(resumed).toEqual({ session: created.session, etag: created.etag, wasPaused: false });
  });

  it('resumeByName throws NoResumableSession when every session of the name is final, or there is none', async () => {
    const { session } = await client.createSession({ name: 'all-done' });
    await client.complete(session.id);

    await expect(client.resumeByName('all-done')).rejects.toBeInstanceOf(NoResumableSession);
    await expect(client.resumeByName('never-used')).rejects.toMatchObject({
      sessionName: 'never-used',
      message: 'no paused or active session named "never-used"',
    });
  });
});

describe('every error code the API can be made to answer, over real HTTP', () => {
  it('400 invalid_request for an ID that is not 32 hex characters, naming the field', async () => {
    const error = await failure(client.getSession('not-an-id'));

    expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(error.details.issues).toEqual([expect.objectContaining({ field: 'path.id' })]);
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('400 invalid_request for a job ID with control characters', async () => {
    const { session } = await client.createSession();

    const error = await failure(client.addJob(session.id, 'job\u0007'));

    expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(error.details.issues).toEqual([expect.objectContaining({ field: 'body.job_id' })]);
  });

  it.each([
    ['a limit out of range', { limit: 0 }],
    ['a cursor this API did not issue', { cursor: 'bm90LWEtY3Vyc29y' }],
  ])('400 invalid_request for %s', async (_what, options) => {
    const error = await failure(client.listSessions(options));

    expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
  });

  it.each<[string, () => Promise<unknown>]>([
    ['getSession', () => client.getSession(UNKNOWN_ID)],
    ['addJob', () => client.addJob(UNKNOWN_ID, 'job-1')],
    ['setStatus', () => client.setStatus(UNKNOWN_ID, 'paused')],
  ])('404 session_not_found from %s', async (_method, call) => {
    const error = await failure(call());

    expect(error).toMatchObject({ code: 'session_not_found', status: 404, details: { id: UNKNOWN_ID } });
  });

  it('409 session_not_active when adding a job to a paused session, with its status', async () => {
    const { session } = await client.createSession();
    await client.pause(session.id);

    const error = await failure(client.addJob(session.id, 'job-1'));

    expect(error).toMatchObject({ code: 'session_not_active', status: 409, details: { id: session.id, status: 'paused' } });
  });

  it('409 session_full past the job limit', async () => {
    const { session } = await client.createSession();
    for (let i = 0; i < TEST_MAX_JOBS; i++) await client.addJob(session.id, `job-${i}`);

    const error = await failure(client.addJob(session.id, 'one-too-many'));

    expect(error).toMatchObject({ code: 'session_full', status: 409, details: { max_jobs: TEST_MAX_JOBS } });
  });

  it('409 invalid_transition out of a final state', async () => {
    const { session } = await client.createSession();
    await client.complete(session.id);

    const error = await failure(client.resume(session.id));

    expect(error).toMatchObject({ code: 'invalid_transition', status: 409, details: { from: 'completed', to: 'active' } });
  });

  it.each<[string, (id: string, etag: string) => Promise<unknown>]>([
    ['addJob', (id, etag) => client.addJob(id, 'job-2', { ifMatch: etag })],
    ['setStatus', (id, etag) => client.pause(id, { ifMatch: etag })],
  ])('412 precondition_failed from %s with a stale ifMatch', async (_method, change) => {
    const created = await client.createSession();
    await client.addJob(created.session.id, 'job-1');

    const error = await failure(change(created.session.id, created.etag!));

    expect(error).toMatchObject({ code: 'precondition_failed', status: 412 });
  });

  it('413 payload_too_large for a body over 16 KiB', async () => {
    const error = await failure(client.createSession({ name: 'n'.repeat(17 * 1024) }));

    expect(error).toMatchObject({ code: 'payload_too_large', status: 413 });
  });
});
