import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '#lib/domain/config.ts';
import { ConflictRetry, InvalidRequest } from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { idempotencyRecordKey } from '#lib/sessions/idempotency.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { StoreFault } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { networkError, S3Fake, s3Error } from '../../helpers/s3-fake.ts';

const BUCKET = 'sessions-test-bucket';
const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const RUNNER = 'arn:aws:sts::123456789012:assumed-role/runner/i-0abc';
const OTHER = 'arn:aws:sts::123456789012:assumed-role/runner/i-0def';
const KEY = '5b0c1e1e-8f7a-4c55-9d0e-0a1b2c3d4e5f';

let fake: S3Fake;
let now: number;

beforeEach(() => {
  fake = new S3Fake();
  now = Date.UTC(2026, 10, 23, 12, 0, 0);
});
afterEach(() => {
  fake.restore();
});

/** A repository as one Lambda instance holds it: its own cache, the shared bucket. */
function instance(config: Partial<ServiceConfig> = {}) {
  return new SessionRepository({
    renewals: new MemoryObjectStore(),
    store: new S3ObjectStore({ bucket: BUCKET, client }),
    config,
    clock: () => now,
  });
}

const recordKey = (actor = RUNNER, key = KEY) => idempotencyRecordKey(actor, key);
const record = (actor = RUNNER, key = KEY) => JSON.parse(fake.body(recordKey(actor, key)) ?? 'null');
const sessionKeys = () => [...fake.objects.keys()].filter((key) => key.startsWith('sessions/'));
const isSessionWrite = (input: Record<string, unknown>) => String(input.Key).startsWith('sessions/');
const isIndexWrite = (input: Record<string, unknown>) => String(input.Key).startsWith('names/');
const isRecordWrite = (input: Record<string, unknown>) => String(input.Key).startsWith('idempotency/');

describe('idempotencyRecordKey', () => {
  it('is idempotency/<sha256 of actor and key>.json, with neither in clear', () => {
    const key = idempotencyRecordKey(RUNNER, KEY);

    expect(key).toBe(
      `idempotency/${createHash('sha256')
        .update(JSON.stringify([RUNNER, KEY]))
        .digest('hex')}.json`,
    );
    expect(key).not.toContain(KEY);
    expect(key).not.toContain('runner');
  });

  it('scopes a key to its caller, without ambiguity between where the actor ends and the key begins', () => {
    expect(idempotencyRecordKey(OTHER, KEY)).not.toBe(idempotencyRecordKey(RUNNER, KEY));
    expect(idempotencyRecordKey(undefined, KEY)).not.toBe(idempotencyRecordKey('', KEY));
    expect(idempotencyRecordKey('a', 'bc')).not.toBe(idempotencyRecordKey('ab', 'c'));
    expect(idempotencyRecordKey(RUNNER, KEY)).toBe(idempotencyRecordKey(RUNNER, KEY));
  });
});

describe('createSession with an idempotency key', () => {
  it('the first time: claims the key create-only, then writes the name index entry and the session; three writes', async () => {
    const created = await instance().createSession({ name: 'ssh-import', actor: RUNNER, idempotencyKey: KEY });

    expect(created.replayed).toBe(false);
    const id = created.session.id;
    expect(fake.puts.map(({ Key, IfNoneMatch, IfMatch }) => ({ Key, IfNoneMatch, IfMatch }))).toEqual([
      { Key: recordKey(), IfNoneMatch: '*', IfMatch: undefined },
      { Key: nameIndexKey('ssh-import', id), IfNoneMatch: '*', IfMatch: undefined },
      { Key: sessionKey(id), IfNoneMatch: '*', IfMatch: undefined },
    ]);
    expect(fake.totalRequests).toBe(3);
    expect(record()).toEqual({ session_id: id, request: { name: 'ssh-import' }, created_at: now / 1000 });
  });

  it('without a name: the record and the session, two writes', async () => {
    const created = await instance().createSession({ actor: RUNNER, idempotencyKey: KEY });

    expect(fake.puts.map((put) => put.Key)).toEqual([recordKey(), sessionKey(created.session.id)]);
  });

  it('a repeat answers the same session, replayed, with the same ETag, and creates nothing: one refused write and two reads', async () => {
    const first = await instance().createSession({ name: 'ssh-import', actor: RUNNER, idempotencyKey: KEY });
    const objects = new Map(fake.objects);
    fake.resetCounts();

    const repeat = await instance().createSession({ name: 'ssh-import', actor: RUNNER, idempotencyKey: KEY });

    expect(repeat).toEqual({ session: first.session, etag: first.etag, replayed: true });
    expect(fake.objects).toEqual(objects);
    expect(fake.requests).toMatchObject({ PutObject: 1, GetObject: 2, ListObjectsV2: 0 });
    expect(fake.totalRequests).toBe(3);
    expect(sessionKeys()).toEqual([sessionKey(first.session.id)]);
  });

  it('a repeat answers the session as it now stands', async () => {
    const first = await instance().createSession({ name: 'busy', actor: RUNNER, idempotencyKey: KEY });
    const changed = await instance().addJob(first.session.id, 'job-1');

    const repeat = await instance().createSession({ name: 'busy', actor: RUNNER, idempotencyKey: KEY });

    expect(repeat).toEqual({ session: changed.session, etag: changed.etag, replayed: true });
  });

  it.each<[string, string | null, string | null]>([
    ['another name', 'ssh-import', 'ssh-export'],
    ['a name where there was none', null, 'ssh-import'],
    ['no name where there was one', 'ssh-import', null],
  ])('refuses the key for a different request (%s) with InvalidRequest, and writes nothing', async (_, firstName, secondName) => {
    await instance().createSession({ name: firstName, actor: RUNNER, idempotencyKey: KEY });
    const objects = new Map(fake.objects);

    const error = await instance()
      .createSession({ name: secondName, actor: RUNNER, idempotencyKey: KEY })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidRequest);
    expect((error as InvalidRequest).details).toEqual({
      issues: [{ field: 'headers.idempotency-key', message: expect.stringContaining('already used for a different request') }],
    });
    expect(fake.objects).toEqual(objects);
  });

  it('scopes the key to the caller: the same key from another principal opens its own session', async () => {
    const mine = await instance().createSession({ name: 'shared-name', actor: RUNNER, idempotencyKey: KEY });

    const theirs = await instance().createSession({ name: 'shared-name', actor: OTHER, idempotencyKey: KEY });

    expect(theirs.replayed).toBe(false);
    expect(theirs.session.id).not.toBe(mine.session.id);
    expect(theirs.session.updated_by).toBe(OTHER);
    expect(sessionKeys()).toHaveLength(2);
  });

  describe('finishes a create that stopped half-way', () => {
    it.each([
      ['after the record, before the name index entry', isIndexWrite],
      ['after the name index entry, before the session', isSessionWrite],
    ])('%s: the repeat writes the session under the recorded ID', async (_, failing) => {
      fake.fail('PutObject', networkError('ECONNRESET'), { when: failing });
      const error = await instance()
        .createSession({ name: 'half-way', actor: RUNNER, idempotencyKey: KEY })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreFault);
      expect(sessionKeys()).toEqual([]);
      const { session_id: recorded } = record();
      now += 30_000;

      const repeat = await instance().createSession({ name: 'half-way', actor: RUNNER, idempotencyKey: KEY });

      expect(repeat.replayed).toBe(true);
      expect(repeat.session).toMatchObject({
        id: recorded,
        name: 'half-way',
        status: 'active',
        job_ids: [],
        created_at: record().created_at,
        updated_by: RUNNER,
      });
      expect(sessionKeys()).toEqual([sessionKey(recorded)]);
      expect(fake.objects.has(nameIndexKey('half-way', recorded))).toBe(true);
      expect((await instance().listSessions({ name: 'half-way' })).sessions).toEqual([repeat.session]);
    });

    it('treats its own record write, answered with 412 after a lost answer, as its claim: a first request, not a repeat', async () => {
      fake.loseNextPutAnswer({ when: isRecordWrite });

      const created = await instance().createSession({ actor: RUNNER, idempotencyKey: KEY });

      expect(created.replayed).toBe(false);
      expect(record().session_id).toBe(created.session.id);
      expect(sessionKeys()).toEqual([sessionKey(created.session.id)]);
    });

    it('treats its own session write, answered with 412 after a lost answer, as the success it was', async () => {
      fake.loseNextPutAnswer({ when: isSessionWrite });

      const created = await instance().createSession({ name: 'lost', actor: RUNNER, idempotencyKey: KEY });

      expect(created.replayed).toBe(false);
      expect(created.etag).toBe(fake.objects.get(sessionKey(created.session.id))!.etag);
      expect(sessionKeys()).toHaveLength(1);
    });
  });

  describe('a bounded window', () => {
    const config = { idempotencyWindowSeconds: 3600 };

    it('still answers the recorded session one second before the window ends', async () => {
      const first = await instance(config).createSession({ actor: RUNNER, idempotencyKey: KEY });
      now += 3599_000;

      const repeat = await instance(config).createSession({ actor: RUNNER, idempotencyKey: KEY });

      expect(repeat.session.id).toBe(first.session.id);
      expect(repeat.replayed).toBe(true);
    });

    it('once it has passed, replaces the record by compare-and-swap and opens a new session, for any request', async () => {
      const first = await instance(config).createSession({ name: 'before', actor: RUNNER, idempotencyKey: KEY });
      const expiredEtag = fake.objects.get(recordKey())!.etag;
      now += 3600_000;
      fake.resetCounts();

      const again = await instance(config).createSession({ name: 'after', actor: RUNNER, idempotencyKey: KEY });

      expect(again.replayed).toBe(false);
      expect(again.session.id).not.toBe(first.session.id);
      expect(fake.puts.map(({ Key, IfNoneMatch, IfMatch }) => ({ Key, IfNoneMatch, IfMatch }))).toEqual([
        { Key: recordKey(), IfNoneMatch: '*', IfMatch: undefined },
        { Key: recordKey(), IfNoneMatch: undefined, IfMatch: expiredEtag.replaceAll('"', '') },
        { Key: nameIndexKey('after', again.session.id), IfNoneMatch: '*', IfMatch: undefined },
        { Key: sessionKey(again.session.id), IfNoneMatch: '*', IfMatch: undefined },
      ]);
      expect(record()).toEqual({ session_id: again.session.id, request: { name: 'after' }, created_at: now / 1000 });
      expect(sessionKeys()).toHaveLength(2);
    });

    it('of two requests replacing the same expired record, one wins and both answer its session', async () => {
      await instance(config).createSession({ actor: RUNNER, idempotencyKey: KEY });
      now += 7200_000;
      fake.latency = 2;

      const answers = await Promise.all(
        [instance(config), instance(config)].map((r) => r.createSession({ actor: RUNNER, idempotencyKey: KEY })),
      );

      expect(answers[0]!.session.id).toBe(answers[1]!.session.id);
      expect(answers.map((answer) => answer.replayed).sort()).toEqual([false, true]);
      expect(sessionKeys()).toHaveLength(2);
    });
  });

  describe('concurrent first requests with the same key', () => {
    it.each([2, 8])('%i at once open exactly one session, and every answer carries it', async (count) => {
      fake.latency = (command) => (command === 'PutObject' ? 3 : 1);
      const repositories = Array.from({ length: count }, () => instance());

      const answers = await Promise.all(repositories.map((r) => r.createSession({ name: 'racing', actor: RUNNER, idempotencyKey: KEY })));

      const id = answers[0]!.session.id;
      expect(answers.every((answer) => answer.session.id === id)).toBe(true);
      expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
      expect(sessionKeys()).toEqual([sessionKey(id)]);
      expect((await instance().listSessions({ name: 'racing' })).sessions.map((s) => s.id)).toEqual([id]);
    });

    it('two repeats finishing the same half-way create write one session between them', async () => {
      fake.fail('PutObject', networkError('ETIMEDOUT'), { when: isSessionWrite });
      await instance()
        .createSession({ name: 'finish', actor: RUNNER, idempotencyKey: KEY })
        .catch(() => undefined);
      fake.latency = (command) => (command === 'PutObject' ? 3 : 1);

      const answers = await Promise.all(
        [instance(), instance()].map((r) => r.createSession({ name: 'finish', actor: RUNNER, idempotencyKey: KEY })),
      );

      expect(answers[0]!.session).toEqual(answers[1]!.session);
      expect(answers.every((answer) => answer.replayed)).toBe(true);
      expect(sessionKeys()).toHaveLength(1);
      expect(fake.puts.filter((put) => String(put.Key).startsWith('sessions/'))).toHaveLength(3);
    });
  });

  it('gives up with ConflictRetry, writing no session, when the record keeps changing under it', async () => {
    // Every claim is refused, yet no record can be read: as if other requests kept writing and expiring it.
    fake.fail('PutObject', () => s3Error('PreconditionFailed', 412), { times: 100, when: isRecordWrite });

    const error = await instance()
      .createSession({ actor: RUNNER, idempotencyKey: KEY })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConflictRetry);
    expect(fake.requests).toMatchObject({ PutObject: 4, GetObject: 4 });
    expect(sessionKeys()).toEqual([]);
  });

  it('reports a failing record read as StoreFault', async () => {
    await instance().createSession({ actor: RUNNER, idempotencyKey: KEY });
    fake.fail('GetObject', s3Error('SlowDown', 503));

    await expect(instance().createSession({ actor: RUNNER, idempotencyKey: KEY })).rejects.toBeInstanceOf(StoreFault);
  });

  it('fails loudly on a record it cannot read, rather than opening a second session', async () => {
    fake.seed(recordKey(), '{"session_id":"nope"}');

    await expect(instance().createSession({ actor: RUNNER, idempotencyKey: KEY })).rejects.toThrow(/not an idempotency record/);
    expect(sessionKeys()).toEqual([]);
  });
});
