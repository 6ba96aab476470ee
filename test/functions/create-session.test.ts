import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const { TEST_BUCKET } = await vi.hoisted(() => import('../helpers/lambda-env.ts'));

import { handler } from '#functions/create-session.ts';
import { handler as getSession } from '#functions/get-session.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { s3Error, S3Fake } from '../helpers/s3-fake.ts';
import { storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
let fake: S3Fake;

beforeEach(() => {
  fake = new S3Fake();
});
afterEach(() => {
  fake.restore();
});

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
    });
    expect(response.headers).toEqual({
      'Content-Type': JSON_CONTENT_TYPE,
      ETag: fake.objects.get(`sessions/${session.id}.json`)!.etag,
      Location: `/sessions/${session.id}`,
    });
    expect(fake.puts).toHaveLength(1);
    expect(fake.puts[0]).toMatchObject({ Bucket: TEST_BUCKET, Key: `sessions/${session.id}.json`, IfNoneMatch: '*', ContentType: 'application/json' });
    expect(storedSession(fake, session.id)).toEqual(session);
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
    expect(fake.puts).toHaveLength(1);
  });

  it('201 without updated_by when the request carries no IAM authorizer', async () => {
    const response = await invoke(handler, request.createSession({ body: { name: 'anonymous' }, caller: null }));

    expect(response.statusCode).toBe(201);
    expect(response.body).not.toHaveProperty('updated_by');
    expect(storedSession(fake, response.body.id)).not.toHaveProperty('updated_by');
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
      error: { code: 'invalid_request', message: expect.stringContaining(field), details: { issues: [{ field, message: expect.any(String) }] } },
    });
    expect(fake.puts).toEqual([]);
  });

  it('201 for a name of exactly 256 characters', async () => {
    const response = await invoke(handler, request.createSession({ body: { name: 'n'.repeat(256) } }));

    expect(response.statusCode).toBe(201);
  });

  it('503 storage_unavailable with Retry-After when S3 is throttling', async () => {
    fake.fail('PutObject', s3Error('SlowDown', 503, 'Please reduce your request rate.'));

    const response = await invoke(handler, request.createSession({ body: { name: 'throttled' } }));

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '2' });
    expect(response.body.error.code).toBe('storage_unavailable');
    expect(response.raw).not.toContain('SlowDown');
  });
});
