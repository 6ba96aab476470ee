import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { GetObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConditionNotMet, NULL_VERSION_ID, StoreFault, UnknownVersion } from '#lib/storage/port.ts';
import { S3_CLIENT_CONFIG, S3ObjectStore } from '#lib/storage/s3.ts';
import { md5Etag, networkError, S3Fake, s3Error } from '../../helpers/s3-fake.ts';

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
  ])('reports %s as StoreFault', async (_, error) => {
    fake.fail('PutObject', error);

    await expect(store.put('k', 'v', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(StoreFault);
  });

  it('passes configuration errors on unchanged', async () => {
    const denied = s3Error('AccessDenied', 403);
    fake.fail('PutObject', denied);

    await expect(store.put('k', 'v', { ifNoneMatch: '*' })).rejects.toBe(denied);
  });
});

describe('S3ObjectStore.get', () => {
  it('returns the body, the ETag and the version ID S3 sends with it', async () => {
    const etag = fake.seed('k', '{"a":1}');

    await expect(store.get('k')).resolves.toEqual({ body: '{"a":1}', etag, versionId: fake.versionIds('k')[0] });
  });

  it('reports no version ID from a bucket that never had versioning', async () => {
    fake.versioning = 'disabled';
    const etag = fake.seed('k', '{"a":1}');

    await expect(store.get('k')).resolves.toEqual({ body: '{"a":1}', etag });
  });

  it('returns undefined for a missing key', async () => {
    await expect(store.get('missing')).resolves.toBeUndefined();
  });

  it('reports throttling as StoreFault', async () => {
    fake.fail('GetObject', s3Error('SlowDown', 503));

    await expect(store.get('k')).rejects.toBeInstanceOf(StoreFault);
  });
});

// S3 answers a missing key with 403 to a caller that may list only the key itself, not the bucket.
describe('S3ObjectStore.get, where S3 hides a missing key behind 403 AccessDenied', () => {
  const hideMissingKeys = () =>
    fake.fail('GetObject', s3Error('AccessDenied', 403), {
      times: Number.MAX_SAFE_INTEGER,
      when: (input) => !fake.objects.has(String(input.Key)),
    });

  it('tells a missing key by one ListObjectsV2 of exactly that key, MaxKeys 1', async () => {
    hideMissingKeys();
    fake.seed('sessions/ab.json.bak', '{}');

    await expect(store.get('sessions/ab.json')).resolves.toBeUndefined();

    expect(fake.stub).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
    expect(fake.stub).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'b', Prefix: 'sessions/ab.json', MaxKeys: 1 });
  });

  it('passes the 403 on when the listing shows the key: it exists and is denied', async () => {
    const denied = s3Error('AccessDenied', 403);
    fake.seed('sessions/ab.json', '{}');
    fake.fail('GetObject', denied);

    await expect(store.get('sessions/ab.json')).rejects.toBe(denied);
    expect(fake.stub).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
  });

  it('passes the 403 on when the listing is denied too, and reports a throttled listing as StoreFault', async () => {
    const denied = s3Error('AccessDenied', 403);
    hideMissingKeys();
    fake.fail('ListObjectsV2', s3Error('AccessDenied', 403));
    fake.fail('ListObjectsV2', s3Error('SlowDown', 503));

    await expect(store.get('sessions/ab.json')).rejects.toMatchObject({ name: denied.name });
    await expect(store.get('sessions/ab.json')).rejects.toBeInstanceOf(StoreFault);
  });

  it('lists nothing on a found key, a 404 or any other error', async () => {
    fake.seed('k', '{}');
    fake.fail('GetObject', s3Error('SlowDown', 503));

    await expect(store.get('k')).rejects.toBeInstanceOf(StoreFault);
    await expect(store.get('k')).resolves.toBeDefined();
    await expect(store.get('missing')).resolves.toBeUndefined();
    expect(fake.stub).toHaveReceivedCommandTimes(ListObjectsV2Command, 0);
  });
});

describe('S3ObjectStore.getVersion, where S3 hides a missing version behind 403 AccessDenied', () => {
  it('reads a version that expired since it was listed as none: the version listing no longer shows it', async () => {
    fake.seed('sessions/x.json', 'first');
    fake.seed('sessions/x.json', 'second');
    fake.fail('GetObject', s3Error('AccessDenied', 403));

    await expect(store.getVersion('sessions/x.json', 'expired-version')).resolves.toBeUndefined();

    expect(fake.stub).toHaveReceivedCommandWith(ListObjectVersionsCommand, { Bucket: 'b', Prefix: 'sessions/x.json' });
  });

  it('passes the 403 on when the version is still listed: it exists and is denied', async () => {
    const denied = s3Error('AccessDenied', 403);
    fake.seed('sessions/x.json', 'first');
    fake.seed('sessions/x.json', 'second');
    const [, first] = fake.versionIds('sessions/x.json');
    fake.fail('GetObject', denied);

    await expect(store.getVersion('sessions/x.json', first!)).rejects.toBe(denied);
  });

  it('follows the version listing to its last page before saying none', async () => {
    for (let index = 0; index < 3; index += 1) fake.seed('sessions/x.json', `v${index}`);
    const [, , oldest] = fake.versionIds('sessions/x.json');
    const denied = s3Error('AccessDenied', 403);
    fake.fail('GetObject', denied);
    // Pages of one version each: the version sought is on the last.
    fake.stub.on(ListObjectVersionsCommand).callsFake((input) => fakeVersionPage(input, oldest!));

    await expect(store.getVersion('sessions/x.json', oldest!)).rejects.toBe(denied);
    expect(fake.stub).toHaveReceivedCommandTimes(ListObjectVersionsCommand, 3);
  });
});

/** The versions v0…v2 of `sessions/x.json` (newest first, `oldest` last), one per page. */
function fakeVersionPage(input: { VersionIdMarker?: string }, oldest: string) {
  const ids = ['newest', 'middle', oldest];
  const at = input.VersionIdMarker === undefined ? 0 : ids.indexOf(input.VersionIdMarker) + 1;
  const more = at < ids.length - 1;
  return {
    Versions: [{ Key: 'sessions/x.json', VersionId: ids[at], ETag: '"e"', IsLatest: at === 0, LastModified: new Date(0) }],
    IsTruncated: more,
    ...(more ? { NextKeyMarker: 'sessions/x.json', NextVersionIdMarker: ids[at] } : {}),
  };
}

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

describe('S3ObjectStore versions', () => {
  it('reports the VersionId PutObject answers, and none on a bucket without versioning', async () => {
    const versioned = await store.putVersion('k', 'v1', { ifNoneMatch: '*' });
    fake.versioning = 'disabled';
    const unversioned = await store.putVersion('u', 'v1', { ifNoneMatch: '*' });

    expect(versioned.versionId).toBe(fake.versionIds('k')[0]);
    expect(unversioned).toEqual({ etag: md5Etag('v1'), versionId: undefined });
  });

  it('lists with Prefix = the key and resumes from the cursor with KeyMarker and VersionIdMarker', async () => {
    for (const body of ['a', 'b', 'c']) fake.seed('sessions/x.json', body);
    const [, middle, oldest] = fake.versionIds('sessions/x.json');

    const page = await store.listVersions('sessions/x.json', { limit: 5, cursor: middle });

    expect(fake.stub).toHaveReceivedCommandWith(ListObjectVersionsCommand, {
      Bucket: 'b',
      Prefix: 'sessions/x.json',
      MaxKeys: 5,
      KeyMarker: 'sessions/x.json',
      VersionIdMarker: middle,
    });
    expect(page.versions.map((version) => version.versionId)).toEqual([oldest]);
  });

  it('skips delete markers and other keys under the prefix, and reads on when delete markers fill a page', async () => {
    fake.seed('sessions/x.json', 'old');
    fake.deleteObject('sessions/x.json');
    fake.deleteObject('sessions/x.json');
    fake.seed('sessions/x.json.bak', 'other');
    const [oldest] = fake.versionIds('sessions/x.json').slice(-1);

    const page = await store.listVersions('sessions/x.json', { limit: 1 });

    expect(page.versions).toEqual([expect.objectContaining({ versionId: oldest, etag: md5Etag('old'), isLatest: false })]);
    expect(fake.requests.ListObjectVersions).toBe(3);
    // A full page cannot tell whether older versions follow: the next page (after the cursor) says none do.
    expect(await store.listVersions('sessions/x.json', { limit: 1, cursor: page.cursor })).toEqual({ versions: [] });
  });

  it('lists the one "null" version of each key on a bucket without versioning', async () => {
    fake.versioning = 'disabled';
    fake.seed('sessions/x.json', 'v1');
    fake.seed('sessions/x.json', 'v2');

    const page = await store.listVersions('sessions/x.json', { limit: 5 });

    expect(page).toEqual({
      versions: [{ versionId: NULL_VERSION_ID, etag: md5Etag('v2'), lastModified: expect.any(Date), isLatest: true }],
    });
  });

  it('reads a version with GetObject VersionId', async () => {
    fake.seed('k', 'first');
    fake.seed('k', 'second');
    const [, first] = fake.versionIds('k');

    const version = await store.getVersion('k', first!);

    expect(fake.stub).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'b', Key: 'k', VersionId: first });
    expect(version).toEqual({ body: 'first', etag: md5Etag('first'), versionId: first });
  });

  it.each([
    ['404 NoSuchVersion', s3Error('NoSuchVersion', 404)],
    ['404 NoSuchKey (Ceph RGW, for an unknown version too)', s3Error('NoSuchKey', 404)],
    ['405 MethodNotAllowed (the version is a delete marker)', s3Error('MethodNotAllowed', 405)],
    ['400 InvalidArgument (an ID the bucket could not have issued)', s3Error('InvalidArgument', 400)],
  ])('reads %s as no such version', async (_, error) => {
    fake.fail('GetObject', error);

    await expect(store.getVersion('k', 'some-version')).resolves.toBeUndefined();
  });

  it('reports throttling as StoreFault and passes access denied on, for both version reads', async () => {
    const denied = s3Error('AccessDenied', 403);
    fake.fail('GetObject', s3Error('SlowDown', 503));
    fake.fail('ListObjectVersions', denied);

    await expect(store.getVersion('k', 'v')).rejects.toBeInstanceOf(StoreFault);
    await expect(store.listVersions('k', { limit: 1 })).rejects.toBe(denied);
  });

  it('reports a cursor S3 refuses as UnknownVersion', async () => {
    fake.seed('k', 'v1');

    const listing = store.listVersions('k', { limit: 1, cursor: 'not-a-version-of-k' });

    await expect(listing).rejects.toBeInstanceOf(UnknownVersion);
  });
});

describe('the S3 client configuration', () => {
  it('turns a server that accepts and never answers into StoreFault, not a hang', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const hanging = new S3Client({
      ...S3_CLIENT_CONFIG,
      requestHandler: { ...S3_CLIENT_CONFIG.requestHandler, requestTimeout: 200 },
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    });
    fake.restore();

    try {
      await expect(new S3ObjectStore({ bucket: 'b', client: hanging }).get('k')).rejects.toBeInstanceOf(StoreFault);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
