import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '#lib/domain/config.ts';
import { JobFinished, LeaseLost, PreconditionFailed, SessionFull, SessionNotActive } from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { countJobs, JOB_STATES, type JobCounts } from '#lib/domain/job-outcome.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { ObjectStore } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { openSqliteStores } from '#lib/storage/sqlite/index.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { expectEveryOutcomeOnce, finishConcurrently } from './job-outcome-scenarios.ts';

const BUCKET = 'sessions-test-bucket';
const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

let now: number;
beforeEach(() => {
  now = T0;
});

function repositoryOver(store: ObjectStore, config: Partial<ServiceConfig> = {}) {
  return new SessionRepository({
    renewals: new MemoryObjectStore(),
    store,
    config: { casBaseDelayMs: 1, casMaxDelayMs: 20, ...config },
    clock: () => now,
  });
}

async function storedSession(store: ObjectStore, id: string): Promise<Record<string, unknown>> {
  return JSON.parse((await store.get(sessionKey(id)))!.body);
}

const counts = (partial: Partial<JobCounts>): JobCounts => ({ total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, ...partial });

describe('recording job outcomes', () => {
  it('appends a job with its final outcome in one write, the times the server’s', async () => {
    const store = new MemoryObjectStore();
    const repository = repositoryOver(store);
    const { session } = await repository.createSession({ name: 'ci' });
    now += 30_000;

    const result = await repository.addJob(session.id, 'build-42', { state: 'failed', exitCode: 2 });

    const outcome = { state: 'failed', exit_code: 2, signal: null, started_at: T0 / 1000 + 30, finished_at: T0 / 1000 + 30 };
    expect(result).toMatchObject({ changed: true, attempts: 1 });
    expect(result.session).toMatchObject({
      job_ids: ['build-42'],
      jobs: { 'build-42': outcome },
      job_counts: counts({ total: 1, failed: 1 }),
    });
    expect(await storedSession(store, session.id)).toMatchObject({
      jobs: { 'build-42': outcome },
      job_counts: counts({ total: 1, failed: 1 }),
    });
  });

  it('goes running → final: started_at kept from the start, finished_at at the end, counts moved', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session } = await repository.createSession();

    const started = await repository.addJob(session.id, 'build-43', { state: 'running' });
    now += 90_000;
    const ended = await repository.addJob(session.id, 'build-43', { state: 'succeeded', exitCode: 0 });

    expect(started.session.jobs?.['build-43']).toEqual({
      state: 'running',
      exit_code: null,
      signal: null,
      started_at: T0 / 1000,
      finished_at: null,
    });
    expect(started.session.job_counts).toEqual(counts({ total: 1, running: 1 }));
    expect(ended.session.jobs?.['build-43']).toEqual({
      state: 'succeeded',
      exit_code: 0,
      signal: null,
      started_at: T0 / 1000,
      finished_at: T0 / 1000 + 90,
    });
    expect(ended.session.job_counts).toEqual(counts({ total: 1, succeeded: 1 }));
    expect(ended.session.job_ids).toEqual(['build-43']);
  });

  it('records an outcome for a job appended bare before', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session } = await repository.createSession();
    await repository.addJob(session.id, 'bare');

    const result = await repository.addJob(session.id, 'bare', { state: 'cancelled', signal: 'SIGTERM' });

    expect(result.changed).toBe(true);
    expect(result.session.jobs?.bare).toMatchObject({ state: 'cancelled', signal: 'SIGTERM', exit_code: null });
    expect(result.session.job_counts).toEqual(counts({ total: 1, cancelled: 1 }));
  });

  it('answers the same final outcome again with nothing written, and refuses another one (and running) with job_finished', async () => {
    const store = new MemoryObjectStore();
    const repository = repositoryOver(store);
    const { session } = await repository.createSession();
    const first = await repository.addJob(session.id, 'build-42', { state: 'failed', exitCode: 2 });
    const versions = async () => (await store.listVersions(sessionKey(session.id), { limit: 100 })).versions.length;
    const before = await versions();

    const again = await repository.addJob(session.id, 'build-42', { state: 'failed', exitCode: 2 });
    const bare = await repository.addJob(session.id, 'build-42');
    const other = await repository.addJob(session.id, 'build-42', { state: 'failed', exitCode: 3 }).catch((error: unknown) => error);
    const running = await repository.addJob(session.id, 'build-42', { state: 'running' }).catch((error: unknown) => error);

    expect(again).toMatchObject({ changed: false, attempts: 0, etag: first.etag });
    expect(bare).toMatchObject({ changed: false, etag: first.etag });
    for (const refusal of [other, running]) {
      expect(refusal).toBeInstanceOf(JobFinished);
      expect((refusal as JobFinished).statusCode).toBe(409);
      expect((refusal as JobFinished).toJSON().error).toMatchObject({
        code: 'job_finished',
        details: { id: session.id, job_id: 'build-42', state: 'failed', exit_code: 2, signal: null, started_at: T0 / 1000 },
      });
    }
    expect(await versions()).toBe(before);
  });

  it('records outcomes only while the session is active; a repeat of what is recorded is still a 200', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session } = await repository.createSession();
    await repository.addJob(session.id, 'a', { state: 'running' });
    await repository.addJob(session.id, 'b', { state: 'succeeded' });
    await repository.setStatus(session.id, 'paused');

    await expect(repository.addJob(session.id, 'a', { state: 'failed', exitCode: 1 })).rejects.toBeInstanceOf(SessionNotActive);
    await expect(repository.addJob(session.id, 'c', { state: 'failed' })).rejects.toBeInstanceOf(SessionNotActive);
    await expect(repository.addJob(session.id, 'b', { state: 'succeeded' })).resolves.toMatchObject({ changed: false });
    await expect(repository.addJob(session.id, 'b', { state: 'failed' })).rejects.toBeInstanceOf(JobFinished);
  });

  it('refuses a new job with an outcome in a full session; an outcome for a job in it still lands', async () => {
    const repository = repositoryOver(new MemoryObjectStore(), { maxJobsPerSession: 2 });
    const { session } = await repository.createSession();
    await repository.addJob(session.id, 'a', { state: 'running' });
    await repository.addJob(session.id, 'b');

    await expect(repository.addJob(session.id, 'c', { state: 'succeeded' })).rejects.toBeInstanceOf(SessionFull);
    const result = await repository.addJob(session.id, 'a', { state: 'succeeded' });

    expect(result.session.job_counts).toEqual(counts({ total: 2, succeeded: 1 }));
  });

  it('holds outcomes to If-Match and to the lease, as any append', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session, etag } = await repository.createSession();
    await repository.addJob(session.id, 'other');

    await expect(repository.addJob(session.id, 'a', { state: 'failed', ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailed);
    const { lease } = (await repository.acquireLease(session.id, { holder: 'r1', seconds: 60 })).session;
    await repository.acquireLease(session.id, { holder: 'r2', seconds: 60, force: true });
    await expect(repository.addJob(session.id, 'a', { state: 'failed', leaseEpoch: lease!.epoch })).rejects.toBeInstanceOf(LeaseLost);
    expect((await repository.getSession(session.id)).session.jobs).toBeUndefined();
  });

  it('judges each report of one batch on its own: one refused, the others written in one compare-and-swap', async () => {
    const store = new MemoryObjectStore();
    const repository = repositoryOver(store);
    const { session } = await repository.createSession();
    await repository.addJob(session.id, 'done', { state: 'succeeded' });
    const before = (await store.listVersions(sessionKey(session.id), { limit: 100 })).versions.length;

    const results = await Promise.allSettled([
      repository.addJob(session.id, 'x', { state: 'running' }),
      repository.addJob(session.id, 'y', { state: 'failed', exitCode: 1 }),
      repository.addJob(session.id, 'done', { state: 'failed' }),
      repository.addJob(session.id, 'x', { state: 'failed', signal: 'SIGKILL' }),
      repository.addJob(session.id, 'done', { state: 'succeeded' }),
    ]);

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(JobFinished);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value.changed : 'refused'))).toEqual([
      true,
      true,
      'refused',
      true,
      false,
    ]);
    const stored = await storedSession(store, session.id);
    expect(stored.job_counts).toEqual(counts({ total: 3, succeeded: 1, failed: 2 }));
    expect(stored.jobs).toMatchObject({ x: { state: 'failed', signal: 'SIGKILL' }, y: { state: 'failed', exit_code: 1 } });
    // The first report ran alone; the four that queued behind it shared one write.
    expect((await store.listVersions(sessionKey(session.id), { limit: 100 })).versions.length).toBe(before + 2);
  });

  it('keeps job_counts equal to a recount and the stored JSON equal to JSON.stringify, under random reports (property)', async () => {
    const report = fc.record({
      job: fc.constantFrom('1', '7', 'a', 'b', 'c', '__proto__', 'job_counts', '42'),
      state: fc.option(fc.constantFrom(...JOB_STATES), { nil: undefined }),
      exitCode: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: undefined }),
      signal: fc.option(fc.constantFrom('SIGKILL', 'SIGTERM'), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(report, { maxLength: 25 }), fc.boolean(), async (reports, concurrently) => {
        const store = new MemoryObjectStore();
        const repository = repositoryOver(store);
        const { session } = await repository.createSession();
        const send = ({ job, state, exitCode, signal }: (typeof reports)[number]) => {
          const final = state !== undefined && state !== 'running';
          return repository
            .addJob(session.id, job, { state, ...(final ? { exitCode, signal } : {}) })
            .catch((error: unknown) => (error instanceof JobFinished ? undefined : Promise.reject(error)));
        };
        if (concurrently) await Promise.all(reports.map(send));
        else for (const each of reports) await send(each);

        const body = (await store.get(sessionKey(session.id)))!.body;
        const stored = JSON.parse(body);
        expect(body).toBe(JSON.stringify(stored));
        expect(stored.job_counts ?? counts({})).toEqual(countJobs(stored.job_ids, stored.jobs));
        expect(new Set(stored.job_ids).size).toBe(stored.job_ids.length);
        for (const job of Object.keys(stored.jobs ?? {})) expect(stored.job_ids).toContain(job);
      }),
      { numRuns: 60 },
    );
  });
});

describe('the history of outcomes', () => {
  it('names each change: started, failed with its exit code or signal, succeeded; a bare append as before', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session } = await repository.createSession();
    await repository.addJob(session.id, 'build-42', { state: 'running' });
    await repository.addJob(session.id, 'build-42', { state: 'failed', exitCode: 2 });
    await repository.addJob(session.id, 'build-43', { state: 'succeeded', exitCode: 0 });
    await repository.addJob(session.id, 'build-44', { state: 'failed', signal: 'SIGKILL' });
    await repository.addJob(session.id, 'build-45');
    await repository.setStatus(session.id, 'paused');

    const { versions } = await repository.sessionHistory(session.id);

    expect(versions.map((version) => version.change)).toEqual([
      'status active→paused',
      'job_added build-45',
      'job build-44 failed (SIGKILL)',
      'job build-43 succeeded',
      'job build-42 failed (exit 2)',
      'job build-42 started',
      'created',
    ]);
    expect(versions[0]?.session.job_counts).toEqual(counts({ total: 4, succeeded: 1, failed: 2 }));
  });
});

describe('sessions stored before outcomes were kept', () => {
  it('read with counts derived, and are upgraded on their next write', async () => {
    const store = new MemoryObjectStore();
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const legacy = { id, name: 'old', job_ids: ['a', 'b'], created_at: 1, updated_at: 1, status: 'active' };
    await store.put(sessionKey(id), JSON.stringify(legacy), { ifNoneMatch: '*' });
    const repository = repositoryOver(store);

    const read = await repository.getSession(id);
    const listed = await repository.listSessions({});

    expect(read.session.job_counts).toEqual(counts({ total: 2 }));
    expect(listed.sessions[0]?.job_counts).toEqual(counts({ total: 2 }));
    expect(await storedSession(store, id)).toEqual(legacy);

    await repository.setStatus(id, 'paused');

    expect(await storedSession(store, id)).toMatchObject({ job_counts: counts({ total: 2 }), status: 'paused' });
  });

  it('with outcomes still parse as the original Rust Session: its six fields, of their types, the rest ignored', async () => {
    const repository = repositoryOver(new MemoryObjectStore());
    const { session } = await repository.createSession({ name: 'rust' });
    await repository.addJob(session.id, 'build-1', { state: 'running' });
    const { session: ended } = await repository.addJob(session.id, 'build-1', { state: 'failed', exitCode: -1, signal: 'SIGSEGV' });
    const body = JSON.parse(JSON.stringify(ended));

    // `struct Session { id: String, name: Option<String>, job_ids: Vec<String>, created_at: u64, updated_at: u64, status: SessionStatus }`
    const original = ['id', 'name', 'job_ids', 'created_at', 'updated_at', 'status'];
    for (const field of original) expect(body).toHaveProperty(field);
    expect(typeof body.id).toBe('string');
    expect(body.name === null || typeof body.name === 'string').toBe(true);
    expect(body.job_ids).toEqual(['build-1']);
    for (const time of [body.created_at, body.updated_at]) expect(Number.isSafeInteger(time) && time >= 0).toBe(true);
    expect(['active', 'paused', 'completed', 'terminated']).toContain(body.status);
    expect(
      Object.keys(body)
        .filter((key) => !original.includes(key))
        .sort(),
    ).toEqual(['job_counts', 'jobs', 'last_jobs']);
  });
});

describe('16 writers finishing different jobs of one session', () => {
  let fake: S3Fake;
  afterEach(() => fake?.restore());

  it('on the S3 fake: every outcome present exactly once, the counts right', async () => {
    fake = new S3Fake();
    fake.latency = 1;

    const { stored, retries } = await finishConcurrently(new S3ObjectStore({ bucket: BUCKET, client }), 6);

    expectEveryOutcomeOnce(stored, 6);
    expect(fake.puts.every((put) => put.IfMatch !== undefined || put.IfNoneMatch === '*')).toBe(true);
    console.info(`16×6 jobs, running then final: ${fake.requests.PutObject} PutObject, ${retries} ConflictRetry`);
  });

  it('on the SQLite store: every outcome present exactly once, the counts right', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'job-outcomes-'));
    const stores = openSqliteStores(root);
    try {
      const { stored } = await finishConcurrently(stores.sessions, 6);

      expectEveryOutcomeOnce(stored, 6);
    } finally {
      await stores.sessions.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
