import { describe, expect, it } from 'vitest';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import { NO_JOBS as NO_COUNTS } from '#lib/domain/job-outcome.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { encodeHistoryCursor } from '#lib/sessions/history.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { s3Error } from '../helpers/s3-fake.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { sessionHistory: handler } = s3;

/** A session created and then given `jobs` jobs one version at a time, as the service would have written it. */
function seedHistory(jobs: number, fields: Record<string, unknown> = {}) {
  const seeded = seedSession(s3.fake, fields);
  for (let n = 1; n <= jobs; n++) {
    s3.fake.seed(
      seeded.key,
      JSON.stringify({ ...seeded.session, job_ids: Array.from({ length: n }, (_, job) => `job-${job + 1}`), updated_by: TEST_CALLER }),
    );
  }
  return seeded;
}

describe('GET /sessions/{id}/history', () => {
  it('200: the versions newest first, each with version_id, at, actor, change and the session, and next_cursor null at the end', async () => {
    const { session, key } = seedHistory(2);
    const ids = s3.fake.versionIds(key);

    const response = await invoke(handler, request.sessionHistory(session.id));

    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({
      versions: [
        {
          version_id: ids[0],
          at: expect.any(Number),
          actor: TEST_CALLER,
          change: 'job_added job-2',
          // Versions stored before counts were kept are answered with them counted.
          session: { ...session, job_ids: ['job-1', 'job-2'], updated_by: TEST_CALLER, job_counts: { ...NO_COUNTS, total: 2 } },
        },
        {
          version_id: ids[1],
          at: expect.any(Number),
          actor: TEST_CALLER,
          change: 'job_added job-1',
          session: { ...session, job_ids: ['job-1'], updated_by: TEST_CALLER, job_counts: { ...NO_COUNTS, total: 1 } },
        },
        { version_id: ids[2], at: expect.any(Number), actor: null, change: 'created', session: { ...session, job_counts: NO_COUNTS } },
      ],
      next_cursor: null,
    });
    expect(s3.fake.puts).toEqual([]);
  });

  it('pages with limit and the opaque cursor it hands back, 20 to a page by default', async () => {
    const { session } = seedHistory(24);

    const first = await invoke(handler, request.sessionHistory(session.id));
    const second = await invoke(handler, request.sessionHistory(session.id, { limit: '3', cursor: first.body.next_cursor }));

    expect(first.body.versions).toHaveLength(20);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    expect(second.body.versions.map((entry: { change: string }) => entry.change)).toEqual([
      'job_added job-4',
      'job_added job-3',
      'job_added job-2',
    ]);
  });

  it('404 session_not_found for a session that has no version at all', async () => {
    const id = newestFirstId();

    const response = await invoke(handler, request.sessionHistory(id));

    expect(response.statusCode).toBe(404);
    expect(response.body.error).toMatchObject({ code: 'session_not_found', details: { id } });
  });

  it('409 versioning_disabled on a bucket without versioning', async () => {
    s3.fake.versioning = 'disabled';
    const { session } = seedHistory(1);

    const response = await invoke(handler, request.sessionHistory(session.id));

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toEqual({
      code: 'versioning_disabled',
      message: 'the session store does not keep versions; history and restore need a versioned bucket',
      details: {},
    });
  });

  it.each([
    [{ limit: '0' }, 'query.limit'],
    [{ limit: '101' }, 'query.limit'],
    [{ limit: 'ten' }, 'query.limit'],
    [{ cursor: 'garbage!' }, 'query.cursor'],
    [{ status: 'active' }, 'query.status'],
  ])('400 invalid_request for %o, naming %s, before any storage call', async (query, field) => {
    const response = await invoke(handler, request.sessionHistory(newestFirstId(), query));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual([field]);
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('400 invalid_request on path.id for an ID that is not one, before any storage call', async () => {
    const response = await invoke(handler, request.sessionHistory('../sessions'));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([{ field: 'path.id', message: 'must be 32 lowercase hexadecimal characters' }]);
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('400 invalid_request for a cursor naming a version S3 does not know', async () => {
    const { session } = seedHistory(1);

    const response = await invoke(handler, request.sessionHistory(session.id, { cursor: encodeHistoryCursor('elsewhere') }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([{ field: 'query.cursor', message: 'names a version this session no longer has' }]);
  });

  it('503 storage_unavailable with Retry-After when S3 throttles the listing', async () => {
    const { session } = seedHistory(1);
    s3.fake.fail('ListObjectVersions', s3Error('SlowDown', 503));

    const response = await invoke(handler, request.sessionHistory(session.id));

    expect(response.statusCode).toBe(503);
    expect(response.headers['Retry-After']).toBe('2');
    expect(response.body.error.code).toBe('storage_unavailable');
  });

  it('reads versions only: one listing of the key and a GetObject by VersionId per entry, plus one', async () => {
    const { session } = seedHistory(5);

    await invoke(handler, request.sessionHistory(session.id, { limit: '2' }));

    expect(s3.fake.requests).toEqual({ ListObjectVersions: 1, GetObject: 3, PutObject: 0, ListObjectsV2: 0 });
    expect(
      s3.fake.stub
        .calls()
        .map((call) => (call.args[0].input as { Key?: string; Prefix?: string }).Key ?? (call.args[0].input as { Prefix?: string }).Prefix),
    ).toEqual(Array.from({ length: 4 }, () => sessionKey(session.id)));
  });
});
