import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConditionNotMet, StoreUnavailable } from '#lib/store/port.ts';
import { S3ObjectStore } from '#lib/store/s3.ts';
import { networkError, s3Error, S3Fake } from '../../helpers/s3-fake.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const store = new S3ObjectStore({ bucket: 'b', client });
let fake: S3Fake;

beforeEach(() => {
  fake = new S3Fake();
});

afterEach(() => {
  fake.restore();
});

describe('S3ObjectStore.put', () => {
  it('creates with If-None-Match: * and a Content-Length in bytes', async () => {
    const body = '{"name":"ünïcode ✓"}';

    await store.put('sessions/a.json', body, { ifNoneMatch: '*' });

    expect(fake.stub).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'b',
      Key: 'sessions/a.json',
      Body: body,
      IfNoneMatch: '*',
      ContentType: 'application/json',
      ContentLength: Buffer.byteLength(body, 'utf-8'),
    });
  });

  it('replaces with If-Match carrying the bare ETag', async () => {
    const etag = fake.seed('k', 'v1');

    const next = await store.put('k', 'v2', { ifMatch: etag });

    expect(fake.puts[0]).toMatchObject({ IfMatch: etag.replaceAll('"', '') });
    expect(fake.puts[0]?.IfNoneMatch).toBeUndefined();
    expect(next).toBe(fake.objects.get('k')?.etag);
  });

  it.each([
    ['412 PreconditionFailed', s3Error('PreconditionFailed', 412)],
    ['409 ConditionalRequestConflict', s3Error('ConditionalRequestConflict', 409)],
    ['404 NoSuchKey on If-Match', s3Error('NoSuchKey', 404)],
  ])('reports %s as ConditionNotMet', async (_, error) => {
    fake.fail('PutObject', error);

    await expect(store.put('k', 'v', { ifMatch: '"x"' })).rejects.toBeInstanceOf(ConditionNotMet);
  });

  it.each([
    ['503 SlowDown', s3Error('SlowDown', 503)],
    ['500 InternalError', s3Error('InternalError', 500)],
    ['a connection reset', networkError('ECONNRESET')],
    ['a timeout', networkError('ETIMEDOUT')],
  ])('reports %s as StoreUnavailable', async (_, error) => {
    fake.fail('PutObject', error);

    await expect(store.put('k', 'v', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(StoreUnavailable);
  });

  it('passes configuration errors on unchanged', async () => {
    const denied = s3Error('AccessDenied', 403);
    fake.fail('PutObject', denied);

    await expect(store.put('k', 'v', { ifNoneMatch: '*' })).rejects.toBe(denied);
  });
});

describe('S3ObjectStore.get', () => {
  it('returns the body and ETag', async () => {
    const etag = fake.seed('k', '{"a":1}');

    await expect(store.get('k')).resolves.toEqual({ body: '{"a":1}', etag });
  });

  it('returns undefined for a missing key', async () => {
    await expect(store.get('missing')).resolves.toBeUndefined();
  });

  it('reports throttling as StoreUnavailable', async () => {
    fake.fail('GetObject', s3Error('SlowDown', 503));

    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailable);
  });
});

describe('S3ObjectStore.list', () => {
  it('lists by prefix from a start key, in key order', async () => {
    for (const key of ['sessions/c', 'sessions/a', 'sessions/b', 'other/a']) fake.seed(key, '{}');

    const page = await store.list('sessions/', { limit: 1, startAfter: 'sessions/a' });

    expect(fake.stub).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: 'b',
      Prefix: 'sessions/',
      MaxKeys: 1,
      StartAfter: 'sessions/a',
    });
    expect(page).toEqual({ keys: ['sessions/b'], truncated: true });
  });
});
