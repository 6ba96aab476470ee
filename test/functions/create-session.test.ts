import { describe, expect, it } from 'vitest';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { TEST_BUCKET, useFakeS3Service } from '../helpers/handlers.ts';
import { s3Error } from '../helpers/s3-fake.ts';
import { storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

const telemetry = captureTelemetry();
const s3 = useFakeS3Service();
const { createSession: handler, getSession } = s3;

describe('POST /sessions', () => {
  it('201: stores a new active session create-only and answers it with Location and its stored ETag', async () => {
    const response = await invoke(handler, request.createSession({ body: { name: 'ssh-import' } }));

    expect(response.statusCode).toBe(201);
    const session = response.body;
    expect(session).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      name: 'ssh-import',
      job_ids: [],
      created_at: expect.any(Number),
      updated_at: session.created_at,
      status: 'active',
      updated_by: TEST_CALLER,
      job_counts: { total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
    });
    expect(response.headers).toEqual({
      'Content-Type': JSON_CONTENT_TYPE,
      ETag: s3.fake.objects.get(`sessions/${session.id}.json`)!.etag,
      Location: `/sessions/${session.id}`,
    });
    expect(s3.fake.puts.map((put) => put.Key)).toEqual([nameIndexKey('ssh-import', session.id), `sessions/${session.id}.json`]);
    expect(s3.fake.puts[1]).toMatchObject({
      Bucket: TEST_BUCKET,
      Key: `sessions/${session.id}.json`,
      IfNoneMatch: '*',
      ContentType: 'application/json',
    });
    expect(storedSession(s3.fake, session.id)).toEqual(session);
  });

  it('201: the stored session reads back through GET /sessions/{id} with the same ETag', async () => {
    const created = await invoke(handler, request.createSession({ body: { name: 'round-trip' } }));

    const read = await invoke(getSession, request.getSession(created.body.id));

    expect(read.statusCode).toBe(200);
    expect(read.body).toEqual(created.body);
    expect(read.headers.ETag).toBe(created.headers.ETag);
  });

  it.each([
    ['no body at all', {}],
    ['an empty object', { body: {} }],
    ['a null name', { body: { name: null } }],
    ['an empty object with a charset', { body: '{}', headers: { 'content-type': 'application/json; charset=utf-8' } }],
  ])('201 with a null name for %s', async (_, init) => {
    const response = await invoke(handler, request.createSession(init));

    expect(response.statusCode).toBe(201);
    expect(response.body.name).toBeNull();
    expect(s3.fake.puts).toHaveLength(1);
  });

  it('201 without updated_by when the request carries no IAM authorizer', async () => {
    const response = await invoke(handler, request.createSession({ body: { name: 'anonymous' }, caller: null }));

    expect(response.statusCode).toBe(201);
    expect(response.body).not.toHaveProperty('updated_by');
    expect(storedSession(s3.fake, response.body.id)).not.toHaveProperty('updated_by');
  });

  it.each([
    ['an empty name', { name: '' }, 'body.name'],
    ['a name of 257 characters', { name: 'n'.repeat(257) }, 'body.name'],
    ['a name with a control character', { name: 'tab\there' }, 'body.name'],
    ['a name that is not a string', { name: 42 }, 'body.name'],
    ['an unknown field', { name: 'ok', owner: 'me' }, 'body.owner'],
    ['an array instead of an object', ['ssh-import'], 'body'],
  ])('400 invalid_request naming the field for %s, and writes nothing', async (_, body, field) => {
    const response = await invoke(handler, request.createSession({ body }));

    expect(response.statusCode).toBe(400);
    expect(response.headers['Content-Type']).toBe(JSON_CONTENT_TYPE);
    expect(response.body).toEqual({
      error: {
        code: 'invalid_request',
        message: expect.stringContaining(field),
        details: { issues: [{ field, message: expect.any(String) }] },
      },
    });
    expect(s3.fake.puts).toEqual([]);
  });

  it('201 for a name of exactly 256 characters', async () => {
    const response = await invoke(handler, request.createSession({ body: { name: 'n'.repeat(256) } }));

    expect(response.statusCode).toBe(201);
  });

  it('503 storage_unavailable with Retry-After when S3 is throttling', async () => {
    s3.fake.fail('PutObject', s3Error('SlowDown', 503, 'Please reduce your request rate.'));

    const response = await invoke(handler, request.createSession({ body: { name: 'throttled' } }));

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '2' });
    expect(response.body.error.code).toBe('storage_unavailable');
    expect(response.raw).not.toContain('SlowDown');
  });
});

describe('POST /sessions with an Idempotency-Key', () => {
  const KEY = 'run-2026-11-23/attempt-1';
  const withKey = (body: unknown, key = KEY, headers: Record<string, string> = {}) =>
    request.createSession({ body, headers: { 'Idempotency-Key': key, ...headers } });

  it('201 with Location the first time; 200 with the same body, ETag and Location, marked Idempotent-Replayed, on a repeat', async () => {
    const first = await invoke(handler, withKey({ name: 'ssh-import' }));
    const repeat = await invoke(handler, withKey({ name: 'ssh-import' }));

    expect(first.statusCode).toBe(201);
    expect(first.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, ETag: expect.any(String), Location: `/sessions/${first.body.id}` });
    expect(repeat.statusCode).toBe(200);
    expect(repeat.body).toEqual(first.body);
    expect(repeat.headers).toEqual({ ...first.headers, 'Idempotent-Replayed': 'true' });
    expect([...s3.fake.objects.keys()].filter((key) => key.startsWith('sessions/'))).toEqual([`sessions/${first.body.id}.json`]);
  });

  it('logs the first request as created and the repeat as replayed, with the session ID', async () => {
    const first = await invoke(handler, withKey({ name: 'logged' }));
    await invoke(handler, withKey({ name: 'logged' }));

    const completed = telemetry.logs().filter((line) => line.message === 'request completed');
    expect(completed.map(({ status_code, outcome, session_id }) => ({ status_code, outcome, session_id }))).toEqual([
      { status_code: 201, outcome: 'created', session_id: first.body.id },
      { status_code: 200, outcome: 'replayed', session_id: first.body.id },
    ]);
    expect(telemetry.text()).not.toContain(KEY);
  });

  it('matches the header name case-insensitively', async () => {
    const first = await invoke(handler, withKey({}, KEY));
    const repeat = await invoke(handler, request.createSession({ body: {}, headers: { 'idempotency-key': KEY } }));

    expect(repeat.statusCode).toBe(200);
    expect(repeat.body.id).toBe(first.body.id);
  });

  it('treats no body and {} as the same request', async () => {
    const first = await invoke(handler, request.createSession({ headers: { 'Idempotency-Key': KEY } }));
    const repeat = await invoke(handler, withKey({}));

    expect([first.statusCode, repeat.statusCode]).toEqual([201, 200]);
    expect(repeat.body.id).toBe(first.body.id);
  });

  it('gives another caller with the same key its own session', async () => {
    const mine = await invoke(handler, withKey({ name: 'x' }));
    const theirs = await invoke(
      handler,
      request.createSession({
        body: { name: 'x' },
        headers: { 'Idempotency-Key': KEY },
        caller: 'arn:aws:iam::123456789012:user/someone-else',
      }),
    );

    expect(theirs.statusCode).toBe(201);
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it('400 invalid_request when the key was used for a different request, and writes nothing', async () => {
    await invoke(handler, withKey({ name: 'ssh-import' }));
    const objects = new Map(s3.fake.objects);

    const response = await invoke(handler, withKey({ name: 'ssh-export' }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toEqual({
      code: 'invalid_request',
      message: expect.stringContaining('headers.idempotency-key'),
      details: { issues: [{ field: 'headers.idempotency-key', message: expect.stringContaining('already used for a different request') }] },
    });
    expect(s3.fake.objects).toEqual(objects);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['not ASCII', 'clé-1'],
    ['a control character', 'key\u0001'],
  ])('400 invalid_request naming headers.idempotency-key for a key that is %s, before touching storage', async (_, key) => {
    const response = await invoke(handler, withKey({ name: 'x' }, key));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([
      { field: 'headers.idempotency-key', message: 'must be 1-255 printable ASCII characters' },
    ]);
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('accepts a key of 255 printable characters, spaces and punctuation included (but the comma: a duplicated header)', async () => {
    const key = `${' !"#$%&\'()*+-./:;<=>?@[\\]^_`{|}~'.repeat(7)}`.padEnd(255, 'z');

    const response = await invoke(handler, withKey({}, key));

    expect(key).toHaveLength(255);
    expect(response.statusCode).toBe(201);
  });
});
