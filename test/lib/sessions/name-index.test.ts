import { createHash } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '#lib/domain/config.ts';
import { encodeCursor } from '#lib/domain/cursor.ts';
import { InvalidRequest } from '#lib/domain/errors.ts';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import type { Session, SessionStatus } from '#lib/domain/session.ts';
import { idFromNameIndexKey, listingScope, nameIndexBody, nameIndexKey, nameIndexPrefix } from '#lib/sessions/name-index.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { StoreFault } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake, s3Error } from '../../helpers/s3-fake.ts';
import { seedSession } from '../../helpers/sessions.ts';

const BUCKET = 'sessions-test-bucket';
const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

let fake: S3Fake;
let now: number;

beforeEach(() => {
  fake = new S3Fake();
  now = T0;
});
afterEach(() => {
  fake.restore();
});

function instance(config: Partial<ServiceConfig> = {}) {
  return new SessionRepository({
    renewals: new MemoryObjectStore(),
    store: new S3ObjectStore({ bucket: BUCKET, client }),
    config,
    clock: () => now,
  });
}

/** A session and its index entry, as a completed create leaves them; `createdMs` orders them. */
function seedNamed(name: string, createdMs: number, fields: Partial<Session> = {}): Session {
  const { session } = seedSession(fake, { name, ...fields }, createdMs);
  fake.seed(nameIndexKey(name, session.id), nameIndexBody(name, session.id));
  return session;
}

const ids = (sessions: Session[]) => sessions.map((session) => session.id);

describe('keys', () => {
  it.each(['ssh-import', 'nightly build / eu-west-1', 'ビルド 🚀', 'a'.repeat(256)])(
    'keeps the name %j out of the key: names/<sha256 hex>/<id>.json',
    (name) => {
      const id = newestFirstId(T0);

      const key = nameIndexKey(name, id);

      expect(key).toBe(`names/${createHash('sha256').update(name, 'utf-8').digest('hex')}/${id}.json`);
      expect(key).toMatch(/^names\/[0-9a-f]{64}\/[0-9a-f]{32}\.json$/);
      expect(key.startsWith(nameIndexPrefix(name))).toBe(true);
      expect(idFromNameIndexKey(key)).toBe(id);
      expect(JSON.parse(nameIndexBody(name, id))).toEqual({ name, session_id: id });
    },
  );

  it('gives different names different prefixes, also names that differ only in case or normalisation', () => {
    const names = ['build', 'Build', 'café', 'cafe\u0301'];

    expect(new Set(names.map(nameIndexPrefix)).size).toBe(names.length);
  });

  it.each([
    'sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7.json',
    'names/abc/fffe6a1c2b3d4e5f60718293a4b5c6d7.json',
    `names/${'0'.repeat(64)}/FFFE.json`,
  ])('does not read %j as an index entry', (key) => {
    expect(idFromNameIndexKey(key)).toBeUndefined();
  });

  it('resolves a cursor ID inside the prefix of the listing it comes with, so it cannot move a listing elsewhere', () => {
    const id = newestFirstId(T0);

    expect(listingScope(undefined).keyOf(id)).toBe(sessionKey(id));
    expect(listingScope('a').keyOf(id)).toBe(`${nameIndexPrefix('a')}${id}.json`);
    expect(listingScope('a').idOf(nameIndexKey('b', id))).toBe(id);
    expect(listingScope(undefined).idOf(nameIndexKey('a', id))).toBeUndefined();
  });
});

describe('createSession writes the name index entry first', () => {
  it('sends the create-only entry, then the create-only session, and nothing else', async () => {
    const { session } = await instance().createSession({ name: 'ssh-import' });

    expect(fake.puts.map(({ Key, IfNoneMatch, IfMatch }) => ({ Key, IfNoneMatch, IfMatch }))).toEqual([
      { Key: nameIndexKey('ssh-import', session.id), IfNoneMatch: '*', IfMatch: undefined },
      { Key: sessionKey(session.id), IfNoneMatch: '*', IfMatch: undefined },
    ]);
    expect(fake.totalRequests).toBe(2);
    expect(JSON.parse(fake.body(nameIndexKey('ssh-import', session.id))!)).toEqual({ name: 'ssh-import', session_id: session.id });
  });

  it('writes no entry for a session without a name', async () => {
    const { session } = await instance().createSession();

    expect([...fake.objects.keys()]).toEqual([sessionKey(session.id)]);
  });

  it('when the session write fails after the entry, leaves nothing visible: the name listing skips the entry', async () => {
    fake.fail('PutObject', s3Error('InternalError', 500), { when: (input) => String(input.Key).startsWith('sessions/') });

    await expect(instance().createSession({ name: 'interrupted' })).rejects.toBeInstanceOf(StoreFault);

    const keys = [...fake.objects.keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]!.startsWith(nameIndexPrefix('interrupted'))).toBe(true);
    expect((await instance().listSessions({ name: 'interrupted' })).sessions).toEqual([]);
    expect((await instance().listSessions()).sessions).toEqual([]);
  });

  it('when the entry write fails, writes no session', async () => {
    fake.fail('PutObject', s3Error('SlowDown', 503), { when: (input) => String(input.Key).startsWith('names/') });

    await expect(instance().createSession({ name: 'throttled' })).rejects.toBeInstanceOf(StoreFault);

    expect(fake.objects.size).toBe(0);
  });
});

describe('listSessions by name', () => {
  it('answers only the sessions with exactly that name, newest first', async () => {
    const older = seedNamed('ssh-import', T0);
    seedNamed('ssh-import-2', T0 + 1000);
    seedNamed('SSH-import', T0 + 2000);
    seedSession(fake, { name: 'ssh-import' }, T0 + 3000); // no index entry: created before the index existed
    const newer = seedNamed('ssh-import', T0 + 4000);

    const page = await instance().listSessions({ name: 'ssh-import' });

    expect(ids(page.sessions)).toEqual([newer.id, older.id]);
    expect(page.nextCursor).toBeNull();
  });

  it('skips an entry whose session is missing, or carries another name (a hash collision or a forged entry)', async () => {
    const genuine = seedNamed('deploy', T0);
    const missing = newestFirstId(T0 + 1000);
    fake.seed(nameIndexKey('deploy', missing), nameIndexBody('deploy', missing));
    const { session: other } = seedSession(fake, { name: 'another name' }, T0 + 2000);
    fake.seed(nameIndexKey('deploy', other.id), nameIndexBody('deploy', other.id));
    fake.seed(`${nameIndexPrefix('deploy')}not-an-id.json`, '{}');

    const page = await instance().listSessions({ name: 'deploy' });

    expect(ids(page.sessions)).toEqual([genuine.id]);
    expect(page.scanned).toBe(4);
  });

  it('costs one LIST of the name prefix and one GET per entry, however many other sessions exist', async () => {
    for (let n = 0; n < 3000; n++) seedSession(fake, { name: n % 2 === 0 ? `other-${n}` : null }, T0 + n);
    const mine = [seedNamed('needle', T0 + 10), seedNamed('needle', T0 + 1500), seedNamed('needle', T0 + 2990)].reverse();
    fake.resetCounts();

    const page = await instance().listSessions({ name: 'needle' });

    expect(ids(page.sessions)).toEqual(ids(mine));
    expect(fake.requests).toMatchObject({ ListObjectsV2: 1, GetObject: 3, PutObject: 0 });
    expect(fake.totalRequests).toBe(4);
    expect(fake.stub).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: BUCKET, Prefix: nameIndexPrefix('needle'), MaxKeys: 50 });
  });

  it.each<[SessionStatus, number[]]>([
    ['paused', [3, 1]],
    ['active', [2, 0]],
    ['completed', []],
  ])('combines with status=%s', async (status, expected) => {
    const statuses: SessionStatus[] = ['active', 'paused', 'active', 'paused'];
    const mine = statuses.map((s, n) => seedNamed('runner-7', T0 + n * 1000, { status: s }));
    seedNamed('runner-8', T0 + 5000, { status });

    const page = await instance().listSessions({ name: 'runner-7', status });

    expect(ids(page.sessions)).toEqual(expected.map((n) => mine[n]!.id));
  });

  it('pages with an opaque cursor, newest first, to the end', async () => {
    const mine = Array.from({ length: 5 }, (_, n) => seedNamed('paged', T0 + n * 1000)).reverse();
    for (let n = 0; n < 20; n++) seedSession(fake, { name: 'paged' }, T0 + 500 + n * 10);
    const repository = instance();

    const first = await repository.listSessions({ name: 'paged', limit: 2 });
    const second = await repository.listSessions({ name: 'paged', limit: 2, cursor: first.nextCursor! });
    const third = await repository.listSessions({ name: 'paged', limit: 2, cursor: second.nextCursor! });

    expect([ids(first.sessions), ids(second.sessions), ids(third.sessions)]).toEqual([
      ids(mine.slice(0, 2)),
      ids(mine.slice(2, 4)),
      ids(mine.slice(4)),
    ]);
    expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(third.nextCursor).toBeNull();
  });

  it('reads a cursor as a session ID only: given with another name, it lists that name, after that ID', async () => {
    const a = [seedNamed('a', T0), seedNamed('a', T0 + 2000)];
    const b = [seedNamed('b', T0 + 1000), seedNamed('b', T0 + 3000)];

    const page = await instance().listSessions({ name: 'b', cursor: encodeCursor(a[1]!.id) });

    expect(ids(page.sessions)).toEqual([b[0]!.id]);
  });

  it('refuses a cursor that carries a key instead of an ID', async () => {
    const forged = Buffer.from(JSON.stringify({ after: `${nameIndexPrefix('a')}${newestFirstId(T0)}.json` })).toString('base64url');

    await expect(instance().listSessions({ name: 'b', cursor: forged })).rejects.toBeInstanceOf(InvalidRequest);
    expect(fake.totalRequests).toBe(0);
  });

  it('finds sessions created through createSession, and none for a name nobody used', async () => {
    const repository = instance();
    const first = await repository.createSession({ name: 'round trip' });
    now += 1;
    const second = await repository.createSession({ name: 'round trip' });
    await repository.createSession({ name: 'elsewhere' });

    expect(ids((await repository.listSessions({ name: 'round trip' })).sessions)).toEqual([second.session.id, first.session.id]);
    expect((await repository.listSessions({ name: 'nobody' })).sessions).toEqual([]);
  });
});
