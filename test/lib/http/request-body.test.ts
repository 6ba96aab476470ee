import { describe, expect, it } from 'vitest';
import { bodyBytes, jsonShapeProblem, MAX_BODY_BYTES, MAX_JSON_DEPTH } from '#lib/http/request-body.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request } from '../../helpers/api-event.ts';
import { useFakeS3Service } from '../../helpers/handlers.ts';
import { seedSession, storedSession } from '../../helpers/sessions.ts';
import { captureTelemetry } from '../../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { addJob, createSession } = s3;

/** `{"job_id":"job-1"}` padded with JSON whitespace to exactly `bytes` bytes. */
function paddedJobBody(bytes: number): string {
  const json = '{"job_id":"job-1"}';
  return json + ' '.repeat(bytes - json.length);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('body size limit (16 KiB)', () => {
  it('is 16384 bytes', () => {
    expect(MAX_BODY_BYTES).toBe(16_384);
  });

  it('200 for a body of exactly 16384 bytes', async () => {
    const { session } = seedSession(s3.fake);
    const body = paddedJobBody(16_384);

    const response = await invoke(addJob, request.addJob(session.id, { body, headers: JSON_HEADERS }));

    expect(Buffer.byteLength(body)).toBe(16_384);
    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual(['job-1']);
  });

  it('413 payload_too_large for 16385 bytes, and nothing is read or written', async () => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(addJob, request.addJob(session.id, { body: paddedJobBody(16_385), headers: JSON_HEADERS }));

    expect(response.statusCode).toBe(413);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({
      error: { code: 'payload_too_large', message: 'request body exceeds 16384 bytes', details: { limit_bytes: 16_384 } },
    });
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('counts bytes, not characters: 16385 bytes of multi-byte UTF-8 are refused', async () => {
    const json = '{"name":"é"}';
    const body = json + ' '.repeat(16_385 - Buffer.byteLength(json));

    const response = await invoke(createSession, request.createSession({ body, headers: JSON_HEADERS }));

    expect(body.length).toBeLessThan(16_385);
    expect(response.statusCode).toBe(413);
    expect(s3.fake.puts).toEqual([]);
  });

  it('200 for a base64-encoded body that decodes to exactly 16384 bytes, though its encoding is longer', async () => {
    const { session } = seedSession(s3.fake);
    const encoded = Buffer.from(paddedJobBody(16_384)).toString('base64');

    const response = await invoke(addJob, request.addJob(session.id, { body: encoded, isBase64Encoded: true, headers: JSON_HEADERS }));

    expect(encoded.length).toBeGreaterThan(16_384);
    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual(['job-1']);
  });

  it('413 for a base64-encoded body that decodes to 16385 bytes', async () => {
    const { session } = seedSession(s3.fake);
    const encoded = Buffer.from(paddedJobBody(16_385)).toString('base64');

    const response = await invoke(addJob, request.addJob(session.id, { body: encoded, isBase64Encoded: true, headers: JSON_HEADERS }));

    expect(response.statusCode).toBe(413);
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('is checked before the media type and before parsing', async () => {
    const response = await invoke(
      createSession,
      request.createSession({ body: '<'.repeat(16_385), headers: { 'content-type': 'text/xml' } }),
    );

    expect(response.statusCode).toBe(413);
  });

  it.each([
    ['raw', 'abc', false, 3],
    ['raw, multi-byte', 'é', false, 2],
    ['base64', Buffer.from('hello').toString('base64'), true, 5],
  ])('bodyBytes measures a %s body', (_, body, encoded, bytes) => {
    expect(bodyBytes(body, encoded)).toBe(bytes);
  });
});

describe('media type', () => {
  it.each([['application/json'], ['application/json; charset=utf-8'], ['Application/JSON;charset=UTF-8']])(
    '201 for %s',
    async (contentType) => {
      const response = await invoke(
        createSession,
        request.createSession({ body: '{"name":"typed"}', headers: { 'content-type': contentType } }),
      );

      expect(response.statusCode).toBe(201);
    },
  );

  it('201 whatever the case of the header name (normalised)', async () => {
    const response = await invoke(
      createSession,
      request.createSession({ body: '{"name":"typed"}', headers: { 'Content-Type': 'application/json' } }),
    );

    expect(response.statusCode).toBe(201);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['a form', 'application/x-www-form-urlencoded'],
    ['a +json vendor type', 'application/vnd.api+json'],
    ['a prefix of application/json', 'application/jsonp'],
  ])('415 unsupported_media_type for %s, and nothing is written', async (_, contentType) => {
    const response = await invoke(
      createSession,
      request.createSession({ body: '{"name":"typed"}', headers: { 'content-type': contentType } }),
    );

    expect(response.statusCode).toBe(415);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({
      error: { code: 'unsupported_media_type', message: 'request body must be application/json', details: { content_type: contentType } },
    });
    expect(s3.fake.puts).toEqual([]);
  });

  it('415 for a body without any content-type', async () => {
    const response = await invoke(createSession, request.createSession({ body: '{"name":"untyped"}' }));

    expect(response.statusCode).toBe(415);
    expect(response.body.error.details).toEqual({ content_type: null });
    expect(s3.fake.puts).toEqual([]);
  });

  it('is checked before parsing: a malformed text/plain body is 415, not 400', async () => {
    const response = await invoke(createSession, request.createSession({ body: '{oops', headers: { 'content-type': 'text/plain' } }));

    expect(response.statusCode).toBe(415);
  });
});

describe('JSON parsing', () => {
  it.each([
    ['truncated JSON', '{"job_id": "job-1"'],
    ['a trailing comma', '{"job_id": "job-1",}'],
    ['single quotes', "{'job_id': 'job-1'}"],
    ['not JSON at all', 'job_id=job-1'],
  ])('400 invalid_request on body for %s (not 422), before any storage call', async (_, body) => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(addJob, request.addJob(session.id, { body, headers: JSON_HEADERS }));

    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({
      error: {
        code: 'invalid_request',
        message: 'body: is not valid JSON',
        details: { issues: [{ field: 'body', message: 'is not valid JSON' }] },
      },
    });
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('400 invalid_request for a __proto__ key', async () => {
    const response = await invoke(
      createSession,
      request.createSession({ body: '{"name":"x","__proto__":{"polluted":true}}', headers: JSON_HEADERS }),
    );

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([{ field: 'body', message: expect.stringContaining('__proto__') }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(s3.fake.puts).toEqual([]);
  });

  it('parses a base64-encoded JSON body', async () => {
    const encoded = Buffer.from('{"name":"encoded"}').toString('base64');

    const response = await invoke(createSession, request.createSession({ body: encoded, isBase64Encoded: true, headers: JSON_HEADERS }));

    expect(response.statusCode).toBe(201);
    expect(response.body.name).toBe('encoded');
  });
});

describe('JSON that parses but is refused', () => {
  it.each([
    ['{"status":"paused","status":"terminated"}', 'gives the key "status" more than once'],
    ['{"status":"paused","st\\u0061tus":"terminated"}', 'gives the key "status" more than once'],
    ['{"a":{"b":1,"b":2},"status":"paused"}', 'gives the key "b" more than once'],
  ])('PATCH with %s: 400 invalid_request naming the key, nothing written', async (body, message) => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(s3.setStatus, request.setStatus(session.id, { body, headers: JSON_HEADERS }));

    expect([response.statusCode, response.body.error.code, response.body.error.details.issues]).toEqual([
      400,
      'invalid_request',
      [{ field: 'body', message }],
    ]);
    expect(storedSession(s3.fake, session.id)!.status).toBe('active');
    expect(s3.fake.puts).toEqual([]);
  });

  it('the same key in two objects is not a duplicate', () => {
    expect(jsonShapeProblem('[{"a":1},{"a":2}]')).toBeUndefined();
    expect(jsonShapeProblem('{"a":{"a":1},"b":"a"}')).toBeUndefined();
  });

  it(`deeply nested valid JSON: 400 saying it nests deeper than ${MAX_JSON_DEPTH} levels`, async () => {
    const { session } = seedSession(s3.fake);
    const body = `{"job_id":"j","x":${'['.repeat(5_000)}${']'.repeat(5_000)}}`;

    const response = await invoke(addJob, request.addJob(session.id, { body, headers: JSON_HEADERS }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([
      { field: 'body', message: `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  });
});
