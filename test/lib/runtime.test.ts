import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

await vi.hoisted(async () => {
  await import('../helpers/lambda-env.ts');
  delete process.env.SESSIONS_BUCKET;
  process.env.MAX_JOBS_PER_SESSION = '2';
});

import { handler as createSession } from '#functions/create-session.ts';
import { handler as getSession } from '#functions/get-session.ts';
import { repositoryFor, sessionRepository, useRepository } from '#lib/runtime.ts';
import { MemoryObjectStore } from '#lib/store/memory.ts';
import { S3ObjectStore } from '#lib/store/s3.ts';
import { invoke, request } from '../helpers/api-event.ts';
import { S3Fake } from '../helpers/s3-fake.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

const telemetry = captureTelemetry();
let fake: S3Fake;

beforeEach(() => {
  fake = new S3Fake();
});
afterEach(() => {
  useRepository(undefined);
  fake.restore();
});

describe('without SESSIONS_BUCKET', () => {
  it('a request fails with 500 internal_error, and the log says SESSIONS_BUCKET environment variable is not set', async () => {
    const response = await invoke(createSession, request.createSession({ body: { name: 'nowhere' } }));

    expect(response.statusCode).toBe(500);
    expect(response.body.error.code).toBe('internal_error');
    expect(response.raw).not.toContain('SESSIONS_BUCKET');
    const failure = telemetry.logs().find((line) => line.level === 'ERROR');
    expect(failure?.error.message).toBe('SESSIONS_BUCKET environment variable is not set');
    expect(fake.totalRequests).toBe(0);
  });

  it('sessionRepository() throws the same clear message', () => {
    expect(() => sessionRepository()).toThrow('SESSIONS_BUCKET environment variable is not set');
  });
});

describe('useRepository', () => {
  it('runs the very same handlers against another object store, here one in memory', async () => {
    const store = new MemoryObjectStore();
    useRepository(repositoryFor(store));

    const created = await invoke(createSession, request.createSession({ body: { name: 'local' } }));
    const read = await invoke(getSession, request.getSession(created.body.id));

    expect(created.statusCode).toBe(201);
    const stored = (await store.get(`sessions/${created.body.id}.json`))!;
    expect(JSON.parse(stored.body)).toEqual(created.body);
    expect(created.headers.ETag).toBe(stored.etag);
    expect(read.body).toEqual(created.body);
    expect(fake.totalRequests).toBe(0);
  });

  it('can point the handlers at an S3 bucket of the caller’s choosing', async () => {
    useRepository(repositoryFor(new S3ObjectStore({ bucket: 'chosen-bucket' })));

    const response = await invoke(createSession, request.createSession());

    expect(response.statusCode).toBe(201);
    expect(fake.puts.map((put) => put.Bucket)).toEqual(['chosen-bucket']);
  });

  it('with undefined goes back to the environment’s repository', async () => {
    useRepository(repositoryFor(new MemoryObjectStore()));
    useRepository(undefined);

    const response = await invoke(createSession, request.createSession());

    expect(response.statusCode).toBe(500);
  });

  it('repositoryFor uses the limits read from the environment at load', () => {
    expect(repositoryFor(new MemoryObjectStore()).config.maxJobsPerSession).toBe(2);
  });
});
