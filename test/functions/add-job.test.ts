import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newestFirstId } from '#lib/domain/ids.ts';
import { withJobCounts } from '#lib/domain/session.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { md5Etag, s3Error } from '../helpers/s3-fake.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { addJob: handler } = s3;

const CONTROL_CHARACTER = fc.constantFrom(...['\u0000', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009f']);

describe('POST /sessions/{id}/jobs', () => {
  it('200: appends the job with a compare-and-swap on the version it read, and answers the stored session and ETag', async () => {
    const { session, etag } = seedSession(s3.fake, { job_ids: ['job-1'] });

    const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-2' } }));

    expect(response.statusCode).toBe(200);
    const stored = storedSession(s3.fake, session.id)!;
    expect(stored).toMatchObject({ job_ids: ['job-1', 'job-2'], status: 'active', updated_by: TEST_CALLER });
    expect(response.body).toEqual(stored);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, ETag: s3.fake.objects.get(`sessions/${session.id}.json`)!.etag });
    expect(response.headers.ETag).not.toBe(etag);
    expect(s3.fake.puts).toHaveLength(1);
    expect(s3.fake.puts[0]).toMatchObject({ Key: `sessions/${session.id}.json`, IfMatch: etag.replaceAll('"', '') });
    expect(s3.fake.puts[0]).not.toHaveProperty('IfNoneMatch');
  });

  it('200 and unchanged when the job is already there: nothing is written, the ETag stays', async () => {
    const { session, etag } = seedSession(s3.fake, { job_ids: ['job-1', 'job-2'] });

    const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' } }));

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual(withJobCounts(session));
    expect(response.body.job_counts).toEqual({ total: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
    expect(response.headers.ETag).toBe(etag);
    expect(s3.fake.puts).toEqual([]);
  });

  it('200 for concurrent requests on one session: every job lands exactly once', async () => {
    const { session } = seedSession(s3.fake);
    s3.fake.latency = 1;
    const jobs = ['job-a', 'job-b', 'job-c', 'job-d', 'job-e'];

    const responses = await Promise.all(jobs.map((job_id) => invoke(handler, request.addJob(session.id, { body: { job_id } }))));

    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect([...storedSession(s3.fake, session.id)!.job_ids].sort()).toEqual(jobs);
  });

  it('200 when a write landed but its answer was lost: the job is stored once', async () => {
    const { session } = seedSession(s3.fake);
    s3.fake.loseNextPutAnswer();

    const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' } }));

    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual(['job-1']);
    expect(response.headers.ETag).toBe(s3.fake.objects.get(`sessions/${session.id}.json`)!.etag);
  });

  it('404 session_not_found, and nothing is written', async () => {
    const id = newestFirstId();

    const response = await invoke(handler, request.addJob(id, { body: { job_id: 'job-1' } }));

    expect(response.statusCode).toBe(404);
    expect(response.body).toEqual({ error: { code: 'session_not_found', message: `no session ${id}`, details: { id } } });
    expect(s3.fake.puts).toEqual([]);
  });

  it.each(['paused', 'completed', 'terminated'] as const)(
    '409 session_not_active on a %s session, and nothing is written',
    async (status) => {
      const { session } = seedSession(s3.fake, { status });

      const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' } }));

      expect(response.statusCode).toBe(409);
      expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
      expect(response.body.error).toEqual({ code: 'session_not_active', message: expect.any(String), details: { id: session.id, status } });
      expect(s3.fake.puts).toEqual([]);
    },
  );

  it('409 session_full when the session holds the maximum of 10,000 jobs, and nothing is written', async () => {
    const { session } = seedSession(s3.fake, { job_ids: Array.from({ length: 10_000 }, (_, n) => `job-${n}`) });

    const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'one-too-many' } }));

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toEqual({
      code: 'session_full',
      message: expect.any(String),
      details: { id: session.id, max_jobs: 10_000 },
    });
    expect(s3.fake.puts).toEqual([]);
  });

  describe('If-Match', () => {
    it('412 precondition_failed when it names a version that is no longer current, and nothing is written', async () => {
      const { session } = seedSession(s3.fake);
      const stale = md5Etag('an older version');

      const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' }, headers: { 'If-Match': stale } }));

      expect(response.statusCode).toBe(412);
      expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
      expect(response.body.error).toEqual({
        code: 'precondition_failed',
        message: expect.any(String),
        details: { id: session.id, if_match: stale },
      });
      expect(s3.fake.puts).toEqual([]);
    });

    it.each([
      ['quoted, as the ETag header gave it', (etag: string) => etag],
      ['bare', (etag: string) => etag.replaceAll('"', '')],
      ['*', () => '*'],
    ])('200 when it is the current version, %s', async (_, ifMatch) => {
      const { session, etag } = seedSession(s3.fake);

      const response = await invoke(
        handler,
        request.addJob(session.id, { body: { job_id: 'job-1' }, headers: { 'if-match': ifMatch(etag) } }),
      );

      expect(response.statusCode).toBe(200);
      expect(s3.fake.puts[0]?.IfMatch).toBe(etag.replaceAll('"', ''));
    });

    it('400 invalid_request on headers.if-match for a list of entity tags', async () => {
      const { session } = seedSession(s3.fake);

      const response = await invoke(
        handler,
        request.addJob(session.id, { body: { job_id: 'job-1' }, headers: { 'if-match': '"a", "b"' } }),
      );

      expect(response.statusCode).toBe(400);
      expect(response.body.error.details.issues).toEqual([{ field: 'headers.if-match', message: 'must be * or a single entity tag' }]);
      expect(s3.fake.totalRequests).toBe(0);
    });
  });

  describe('400 invalid_request', () => {
    it.each([
      ['an empty job_id', { job_id: '' }, 'body.job_id'],
      ['a job_id of 257 characters', { job_id: 'j'.repeat(257) }, 'body.job_id'],
      ['a job_id that is a number', { job_id: 123 }, 'body.job_id'],
      ['a missing job_id', {}, 'body.job_id'],
      ['an unknown field', { job_id: 'job-1', priority: 1 }, 'body.priority'],
      ['a JSON string instead of an object', 'job-1', 'body'],
    ])('for %s, naming the field, before any storage call', async (_, body, field) => {
      const { session } = seedSession(s3.fake);

      const response = await invoke(
        handler,
        request.addJob(session.id, {
          body: typeof body === 'string' ? JSON.stringify(body) : body,
          headers: { 'content-type': 'application/json' },
        }),
      );

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', details: { issues: [{ field, message: expect.any(String) }] } });
      expect(s3.fake.totalRequests).toBe(0);
    });

    it('for a request without a body', async () => {
      const { session } = seedSession(s3.fake);

      const response = await invoke(handler, request.addJob(session.id));

      expect(response.statusCode).toBe(400);
      expect(response.body.error.details.issues).toEqual([{ field: 'body', message: expect.any(String) }]);
      expect(s3.fake.totalRequests).toBe(0);
    });

    it('for a bad session ID and a bad job_id at once, naming both', async () => {
      const response = await invoke(handler, request.addJob('not-a-session', { body: { job_id: '' } }));

      expect(response.statusCode).toBe(400);
      expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual(['path.id', 'body.job_id']);
      expect(s3.fake.totalRequests).toBe(0);
    });

    it('for any job_id containing a control character, and nothing is written', async () => {
      const { session } = seedSession(s3.fake);
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 20 }), CONTROL_CHARACTER, fc.string({ maxLength: 20 }), async (before, control, after) => {
          const response = await invoke(handler, request.addJob(session.id, { body: { job_id: `${before}${control}${after}` } }));

          expect(response.statusCode).toBe(400);
          expect(response.body.error.details.issues).toEqual([{ field: 'body.job_id', message: 'must not contain control characters' }]);
        }),
        { numRuns: 50 },
      );
      expect(s3.fake.puts).toEqual([]);
    });
  });

  it('200 for any job_id of 1–128 characters without control, bidi, separator or noncharacter code points, stored exactly as sent', async () => {
    const { session } = seedSession(s3.fake);
    const label = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 128 })
      .filter((value) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Bidi_Control}|\p{Noncharacter_Code_Point}/u.test(value));
    await fc.assert(
      fc.asyncProperty(label, async (jobId) => {
        const response = await invoke(handler, request.addJob(session.id, { body: { job_id: jobId } }));

        expect(response.statusCode).toBe(200);
        expect(storedSession(s3.fake, session.id)!.job_ids.filter((stored) => stored === jobId)).toEqual([jobId]);
      }),
      { numRuns: 50 },
    );
  });

  describe('503', () => {
    it('conflict_retry with Retry-After when every compare-and-swap loses', async () => {
      const { session } = seedSession(s3.fake);
      const before = s3.fake.body(`sessions/${session.id}.json`);
      s3.fake.fail('PutObject', () => s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'), {
        times: 100,
      });

      const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' } }));

      expect(response.statusCode).toBe(503);
      expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '1' });
      expect(response.body.error).toEqual({
        code: 'conflict_retry',
        message: expect.any(String),
        details: { id: session.id, attempts: 8 },
      });
      expect(s3.fake.body(`sessions/${session.id}.json`)).toBe(before);
    });

    it('storage_unavailable with Retry-After when S3 keeps failing the write', async () => {
      const { session } = seedSession(s3.fake);
      s3.fake.fail('PutObject', () => s3Error('ServiceUnavailable', 503, 'Service is unable to handle request.'), { times: 100 });

      const response = await invoke(handler, request.addJob(session.id, { body: { job_id: 'job-1' } }));

      expect(response.statusCode).toBe(503);
      expect(response.headers['Retry-After']).toBe('2');
      expect(response.body.error.code).toBe('storage_unavailable');
      expect(response.raw).not.toContain('ServiceUnavailable');
    });
  });
});

describe('POST /sessions/{id}/jobs with an outcome', () => {
  it('200: appends the job with its outcome in one conditional PUT, the times the server’s; the minimal answer carries the counts', async () => {
    const { session, etag } = seedSession(s3.fake, { job_ids: ['job-1'] });

    const response = await invoke(
      handler,
      request.addJob(session.id, { body: { job_id: 'build-42', state: 'failed', exit_code: 2 }, headers: { prefer: 'return=minimal' } }),
    );

    expect(response.statusCode).toBe(200);
    expect(response.body.job_counts).toEqual({ total: 2, running: 0, succeeded: 0, failed: 1, cancelled: 0 });
    expect(response.body).not.toHaveProperty('jobs');
    expect(s3.fake.puts).toHaveLength(1);
    expect(s3.fake.puts[0]).toMatchObject({ IfMatch: etag.replaceAll('"', '') });
    const stored = storedSession(s3.fake, session.id)!;
    expect(stored.jobs?.['build-42']).toMatchObject({ state: 'failed', exit_code: 2, signal: null });
    expect(stored.jobs?.['build-42']?.finished_at).toBe(stored.updated_at);
  });

  it('200 with nothing written for the same outcome again; 409 job_finished with the recorded outcome for another', async () => {
    const { session } = seedSession(s3.fake);
    await invoke(handler, request.addJob(session.id, { body: { job_id: 'b', state: 'succeeded' } }));
    const puts = s3.fake.puts.length;

    const again = await invoke(handler, request.addJob(session.id, { body: { job_id: 'b', state: 'succeeded' } }));
    const other = await invoke(handler, request.addJob(session.id, { body: { job_id: 'b', state: 'cancelled', signal: 'SIGTERM' } }));

    expect(again.statusCode).toBe(200);
    expect(other.statusCode).toBe(409);
    expect(other.body.error).toMatchObject({
      code: 'job_finished',
      details: { id: session.id, job_id: 'b', state: 'succeeded', exit_code: null, signal: null },
    });
    expect(s3.fake.puts).toHaveLength(puts);
  });

  it.each([
    [{ job_id: 'a', exit_code: 1 }, 'body.exit_code'],
    [{ job_id: 'a', state: 'running', signal: 'SIGKILL' }, 'body.signal'],
    [{ job_id: 'a', state: 'failed', exit_code: 2 ** 31 }, 'body.exit_code'],
    [{ job_id: 'a', state: 'failed', exit_code: 1.5 }, 'body.exit_code'],
    [{ job_id: 'a', state: 'failed', signal: 'KILL' }, 'body.signal'],
    [{ job_id: 'a', state: 'done' }, 'body.state'],
    [{ job_id: '"', state: 'failed' }, 'body.job_id'],
    [{ job_id: '\\', state: 'running' }, 'body.job_id'],
  ])('400 invalid_request for %j, naming %s; nothing written', async (body, field) => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(handler, request.addJob(session.id, { body: body as never }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toContain(field);
    expect(s3.fake.puts).toEqual([]);
  });
});

describe('POST /sessions/{id}/jobs with a one-character job ID', () => {
  it.each(['"', '\\'])('appends %j bare: only an outcome needs the ID as a key', async (jobId) => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(handler, request.addJob(session.id, { body: { job_id: jobId } }));

    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)?.job_ids).toEqual([jobId]);
  });
});
