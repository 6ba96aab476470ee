import { describe, expect, it } from 'vitest';
import { newestFirstId } from '#lib/domain/ids.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { restoreSession: handler } = s3;

/** A session with one job, then paused: three versions. Returns the IDs newest first. */
function seedThreeVersions() {
  const seeded = seedSession(s3.fake);
  s3.fake.seed(seeded.key, JSON.stringify({ ...seeded.session, job_ids: ['job-1'] }));
  const etag = s3.fake.seed(seeded.key, JSON.stringify({ ...seeded.session, job_ids: ['job-1'], status: 'paused' }));
  const [paused, oneJob, created] = s3.fake.versionIds(seeded.key);
  return { ...seeded, etag, paused: paused!, oneJob: oneJob!, created: created! };
}

describe('POST /sessions/{id}/restore', () => {
  it('200: that version’s content is current again, as a new version written If-Match, with restored_from, the caller and a new ETag', async () => {
    const { session, key, etag, oneJob } = seedThreeVersions();

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: oneJob } }));

    expect(response.statusCode).toBe(200);
    const stored = storedSession(s3.fake, session.id)!;
    expect(stored).toMatchObject({ job_ids: ['job-1'], status: 'active', updated_by: TEST_CALLER, restored_from: oneJob });
    expect(response.body).toEqual(stored);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, ETag: s3.fake.objects.get(key)!.etag });
    expect(s3.fake.puts).toEqual([expect.objectContaining({ Key: key, IfMatch: etag.replaceAll('"', '') })]);
    expect(s3.fake.versionIds(key)).toHaveLength(4);
  });

  it('200 and unchanged when the session already has that content: nothing is written', async () => {
    const { session, etag, paused } = seedThreeVersions();

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: paused } }));

    expect(response.statusCode).toBe(200);
    expect(response.headers.ETag).toBe(etag);
    expect(s3.fake.puts).toEqual([]);
  });

  it('412 precondition_failed for a stale If-Match, and nothing is written', async () => {
    const { session, created } = seedThreeVersions();

    const response = await invoke(
      handler,
      request.restoreSession(session.id, { body: { version_id: created }, headers: { 'if-match': '"0123456789abcdef0123456789abcdef"' } }),
    );

    expect(response.statusCode).toBe(412);
    expect(response.body.error.code).toBe('precondition_failed');
    expect(s3.fake.puts).toEqual([]);
  });

  it('200 with the current ETag as If-Match', async () => {
    const { session, etag, created } = seedThreeVersions();

    const response = await invoke(
      handler,
      request.restoreSession(session.id, { body: { version_id: created }, headers: { 'if-match': etag } }),
    );

    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ job_ids: [], status: 'active', restored_from: created });
  });

  it('400 invalid_request on body.version_id for a version of another session', async () => {
    const { session } = seedThreeVersions();
    const other = seedSession(s3.fake);
    const [otherVersion] = s3.fake.versionIds(other.key);

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: otherVersion } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details).toEqual({
      issues: [{ field: 'body.version_id', message: `is not a version of session ${session.id}` }],
    });
    expect(s3.fake.puts).toEqual([]);
  });

  it('404 session_not_found for a session that does not exist', async () => {
    const id = newestFirstId();

    const response = await invoke(handler, request.restoreSession(id, { body: { version_id: 'some-version' } }));

    expect(response.statusCode).toBe(404);
    expect(response.body.error).toMatchObject({ code: 'session_not_found', details: { id } });
  });

  it('409 versioning_disabled on a bucket without versioning', async () => {
    s3.fake.versioning = 'disabled';
    const { session } = seedSession(s3.fake);

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: 'null' } }));

    expect(response.statusCode).toBe(409);
    expect(response.body.error.code).toBe('versioning_disabled');
    expect(s3.fake.puts).toEqual([]);
  });

  it.each([
    ['no body', undefined, 'body'],
    ['an empty version_id', { version_id: '' }, 'body.version_id'],
    ['a version_id with a space', { version_id: 'a b' }, 'body.version_id'],
    ['a version_id that is not a string', { version_id: 7 }, 'body.version_id'],
    ['an unknown field', { version_id: 'v', also: 1 }, 'body.also'],
  ])('400 invalid_request for %s, before any storage call', async (_, body, field) => {
    const response = await invoke(handler, request.restoreSession(newestFirstId(), body === undefined ? {} : { body }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual([field]);
    expect(s3.fake.totalRequests).toBe(0);
  });
});

describe('POST /sessions/{id}/restore under a live lease', () => {
  /** `seedThreeVersions`, then a fourth version held by `r1` under a live lease of epoch 3. */
  function seedHeld() {
    const seeded = seedThreeVersions();
    const expiresAt = Math.floor(Date.now() / 1000) + 600;
    const lease = { holder: 'r1', epoch: 3, seconds: 600, expires_at: expiresAt };
    const etag = s3.fake.seed(seeded.key, JSON.stringify({ ...seeded.session, job_ids: ['job-1', 'a1'], lease }));
    return { ...seeded, etag, expiresAt };
  }

  it('409 lease_held without force, naming the holder; nothing is written', async () => {
    const { session, created, expiresAt } = seedHeld();

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: created } }));

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'lease_held', details: { id: session.id, holder: 'r1', expires_at: expiresAt } });
    expect(s3.fake.puts).toEqual([]);
  });

  it('200 with force: the content is restored and the holder is fenced (its next append hears lease_lost, restored)', async () => {
    const { session, created } = seedHeld();

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: created, force: true } }));
    const append = await invoke(s3.addJob, request.addJob(session.id, { body: { job_id: 'a2' }, headers: { 'lease-epoch': '3' } }));

    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ job_ids: [], restored_from: created, lease: { holder: 'r1', epoch: 3, ended: 'restored' } });
    expect(append.statusCode).toBe(409);
    expect(append.body.error).toMatchObject({ code: 'lease_lost', details: { id: session.id, reason: 'restored', epoch: 3 } });
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual([]);
  });

  it('400 for a force that is not a boolean, before storage is touched', async () => {
    const { session, created } = seedHeld();
    s3.fake.resetCounts();

    const response = await invoke(handler, request.restoreSession(session.id, { body: { version_id: created, force: 'yes' } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual(['body.force']);
    expect(s3.fake.totalRequests).toBe(0);
  });
});
