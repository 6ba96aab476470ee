import { describe, expect, it } from 'vitest';
import { newestFirstId } from '#lib/domain/ids.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request } from '../helpers/api-event.ts';
import { TEST_BUCKET, useFakeS3Service } from '../helpers/handlers.ts';
import { networkError, s3Error } from '../helpers/s3-fake.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

const telemetry = captureTelemetry();
const s3 = useFakeS3Service();
const { getSession: handler } = s3;

describe('GET /sessions/{id}', () => {
  it('200: the stored session, fields it does not know included, with its stored ETag', async () => {
    const { session, etag } = seedSession(s3.fake, { name: 'audit', job_ids: ['job-1'], status: 'paused', region: 'eu-west-1' });

    const response = await invoke(handler, request.getSession(session.id));

    expect(response.statusCode).toBe(200);
    // A session stored before counts were kept is answered with them counted.
    expect(response.body).toEqual({ ...session, job_counts: { total: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0 } });
    expect(response.body.region).toBe('eu-west-1');
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, ETag: etag });
    expect(s3.fake.puts).toEqual([]);
  });

  it('404 session_not_found for an ID with no session', async () => {
    const id = newestFirstId();

    const response = await invoke(handler, request.getSession(id));

    expect(response.statusCode).toBe(404);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({ error: { code: 'session_not_found', message: `no session ${id}`, details: { id } } });
  });

  it.each([
    ['upper-case hex', 'FFFE6A1C2B3D4E5F60718293A4B5C6D7'],
    ['31 characters', 'fffe6a1c2b3d4e5f60718293a4b5c6d'],
    ['33 characters', 'fffe6a1c2b3d4e5f60718293a4b5c6d7a'],
    ['a non-hex character', 'fffe6a1c2b3d4e5f60718293a4b5c6dz'],
    ['a path traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['a trailing newline', 'fffe6a1c2b3d4e5f60718293a4b5c6d7\n'],
  ])('400 invalid_request on path.id for %s, before any storage call', async (_, id) => {
    const response = await invoke(handler, request.getSession(id));

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code: 'invalid_request',
      message: expect.any(String),
      details: { issues: [{ field: 'path.id', message: 'must be 32 lowercase hexadecimal characters' }] },
    });
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('400 invalid_request for a query parameter the route does not know', async () => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(handler, request.getSession(session.id, { query: { verbose: 'true' } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([{ field: 'query.verbose', message: 'is not a known parameter' }]);
    expect(s3.fake.totalRequests).toBe(0);
  });

  it.each([
    ['S3 throttles', () => s3Error('SlowDown', 503, 'Please reduce your request rate.')],
    ['S3 fails', () => s3Error('InternalError', 500, 'We encountered an internal error.')],
    ['the connection drops', () => networkError('ECONNRESET')],
  ])('503 storage_unavailable with Retry-After when %s', async (_, error) => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('GetObject', error);

    const response = await invoke(handler, request.getSession(session.id));

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '2' });
    expect(response.body).toEqual({
      error: { code: 'storage_unavailable', message: 'session storage is temporarily unavailable; retry shortly', details: {} },
    });
  });

  it('500 internal_error with only the request ID when S3 refuses access; the AWS error is logged, not answered', async () => {
    const { session } = seedSession(s3.fake);
    const awsMessage = `User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::${TEST_BUCKET}/sessions/${session.id}.json"`;
    s3.fake.fail('GetObject', s3Error('AccessDenied', 403, awsMessage));
    const event = request.getSession(session.id);

    const response = await invoke(handler, event);

    expect(response.statusCode).toBe(500);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({
      error: { code: 'internal_error', message: 'internal error', details: { request_id: event.requestContext.requestId } },
    });
    for (const secret of [TEST_BUCKET, 'AccessDenied', 'not authorized', 'arn:aws', 'stack', '    at ']) {
      expect(response.raw).not.toContain(secret);
    }
    const failure = telemetry.logs().find((line) => line.message === 'request failed');
    expect(failure).toMatchObject({ level: 'ERROR', status_code: 500, outcome: 'internal_error', session_id: session.id });
    expect(failure?.error).toMatchObject({ name: 'AccessDenied', message: awsMessage, stack: expect.stringContaining('AccessDenied') });
  });

  it('500 internal_error when the stored object is not a session, without naming the object', async () => {
    const { session, key } = seedSession(s3.fake);
    s3.fake.seed(key, '{"id": "not a session"');

    const response = await invoke(handler, request.getSession(session.id));

    expect(response.statusCode).toBe(500);
    expect(response.body.error.code).toBe('internal_error');
    expect(response.raw).not.toContain(key);
  });
});
