import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { API_ROUTES, apiRoute, entryName, routeHandler } from '#lib/http/route-table.ts';
import { dependenciesFor, environmentDependencies, repositoryFor } from '#lib/runtime/lambda.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { invoke, request } from '../../helpers/api-event.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { captureTelemetry } from '../../helpers/telemetry.ts';

captureTelemetry();
let fake: S3Fake;

beforeEach(() => {
  fake = new S3Fake();
});
afterEach(() => {
  vi.unstubAllEnvs();
  fake.restore();
});

describe('a Lambda entry (functions/<entry>.ts)', () => {
  it('without SESSIONS_BUCKET fails its cold start, with the message SESSIONS_BUCKET environment variable is not set', async () => {
    const { SESSIONS_BUCKET: _bucket, ...env } = process.env;

    const loading = promisify(execFile)(process.execPath, ['--input-type=module', '-e', "await import('#functions/get-session.ts')"], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { ...env, SESSIONS_BUCKET: ' ' },
    });

    await expect(loading).rejects.toMatchObject({
      stderr: expect.stringContaining('Error: SESSIONS_BUCKET environment variable is not set'),
    });
  });

  it('serves from the bucket SESSIONS_BUCKET names', async () => {
    vi.stubEnv('SESSIONS_BUCKET', 'chosen-bucket');
    vi.stubEnv('LEASES_BUCKET', 'chosen-leases');
    const { handler } = await import('#functions/create-session.ts');

    const response = await invoke(handler, request.createSession());

    expect(response.statusCode).toBe(201);
    // Its status and owner index entries (in the leases bucket), then the session.
    expect(fake.puts.map((put) => put.Bucket)).toEqual(['chosen-leases', 'chosen-leases', 'chosen-bucket']);
  });

  it.each(API_ROUTES.map((route) => [route.routeKey, entryName(route)]))(
    '%s has its entry, functions/%s.ts, exporting handler',
    async (_routeKey, entry) => {
      vi.stubEnv('SESSIONS_BUCKET', 'chosen-bucket');
      vi.stubEnv('LEASES_BUCKET', 'chosen-leases');

      const module = (await import(`../../../functions/${entry}.ts`)) as { handler?: unknown };

      expect(typeof module.handler).toBe('function');
    },
  );
});

describe('environmentDependencies', () => {
  it.each([{}, { SESSIONS_BUCKET: '' }, { SESSIONS_BUCKET: '  ' }])(
    'throws SESSIONS_BUCKET environment variable is not set for %o',
    (env) => {
      expect(() => environmentDependencies(env)).toThrow('SESSIONS_BUCKET environment variable is not set');
    },
  );

  it.each([{}, { LEASES_BUCKET: ' ' }])('throws LEASES_BUCKET environment variable is not set for %o', (env) => {
    expect(() => environmentDependencies({ SESSIONS_BUCKET: 'b', ...env })).toThrow('LEASES_BUCKET environment variable is not set');
  });

  it('builds the repository with the limits of the environment it is given', () => {
    expect(
      environmentDependencies({ SESSIONS_BUCKET: 'b', LEASES_BUCKET: 'l', MAX_JOBS_PER_SESSION: '2' }).repository.config.maxJobsPerSession,
    ).toBe(2);
  });
});

describe('dependenciesFor', () => {
  it('runs the very same handlers against another object store, here one in memory', async () => {
    const store = new MemoryObjectStore();
    const dependencies = dependenciesFor(store, new MemoryObjectStore());
    const createSession = routeHandler(apiRoute('CreateSession'), dependencies);
    const getSession = routeHandler(apiRoute('GetSession'), dependencies);

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
    const createSession = routeHandler(
      apiRoute('CreateSession'),
      dependenciesFor(new S3ObjectStore({ bucket: 'chosen-bucket' }), new MemoryObjectStore()),
    );

    const response = await invoke(createSession, request.createSession());

    expect(response.statusCode).toBe(201);
    expect(fake.puts.map((put) => put.Bucket)).toEqual(['chosen-bucket']);
  });

  it('keeps two services of one process apart: each handler uses only the store it was built over', async () => {
    const [first, second] = [new MemoryObjectStore(), new MemoryObjectStore()];
    const createSession = routeHandler(apiRoute('CreateSession'), dependenciesFor(first, new MemoryObjectStore()));
    const getSession = routeHandler(apiRoute('GetSession'), dependenciesFor(second, new MemoryObjectStore()));

    const created = await invoke(createSession, request.createSession());
    const read = await invoke(getSession, request.getSession(created.body.id));

    expect(created.statusCode).toBe(201);
    expect(read.statusCode).toBe(404);
    expect((await second.list('', { limit: 10 })).keys).toEqual([]);
  });

  it('repositoryFor uses the limits read from the environment when given none', () => {
    vi.stubEnv('MAX_JOBS_PER_SESSION', '2');

    expect(repositoryFor(new MemoryObjectStore(), new MemoryObjectStore()).config.maxJobsPerSession).toBe(2);
  });
});
