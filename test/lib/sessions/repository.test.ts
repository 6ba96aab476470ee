import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '#lib/domain/config.ts';
import {
  ConflictRetry,
  InvalidRequest,
  InvalidTransition,
  PreconditionFailed,
  SessionFull,
  SessionNotActive,
  SessionNotFound,
} from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { type RepositoryWarning, SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { StoreFault } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { networkError, S3Fake, s3Error } from '../../helpers/s3-fake.ts';

const BUCKET = 'sessions-test-bucket';
const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

let fake: S3Fake;
let now: number;

beforeEach(() => {
  fake = new S3Fake();
  now = Date.UTC(2026, 10, 23, 12, 0, 0);
});

afterEach(() => {
  fake.restore();
});

/** A repository as one Lambda instance would hold it: its own cache, the shared bucket. */
function instance(config: Partial<ServiceConfig> = {}, onWarning?: (warning: RepositoryWarning) => void) {
  return new SessionRepository({
    renewals: new MemoryObjectStore(),
    store: new S3ObjectStore({ bucket: BUCKET, client }),
    config: { casBaseDelayMs: 1, casMaxDelayMs: 20, ...config },
    clock: () => now,
    ...(onWarning === undefined ? {} : { onWarning }),
  });
}

function stored(id: string): Record<string, unknown> {
  return JSON.parse(fake.body(sessionKey(id)) ?? 'null');
}

describe('the original module, in spirit', () => {
  it('creates a session with a name and no jobs', async () => {
    const repository = instance();

    const { session } = await repository.createSession({ name: 'ssh-import' });

    expect(session).toMatchObject({ name: 'ssh-import', job_ids: [], status: 'active' });
    expect(stored(session.id)).toEqual(session);
  });

  it('adds a job and reads it back', async () => {
    const { session } = await instance().createSession({ name: 'ssh-import' });

    await instance().addJob(session.id, 'job-123');
    const { session: read } = await instance().getSession(session.id);

    expect(read.job_ids).toEqual(['job-123']);
  });

  it('lists two sessions, newest first', async () => {
    const repository = instance();
    const first = await repository.createSession({ name: 'first' });
    now += 1;
    const second = await repository.createSession({ name: 'second' });

    const { sessions, nextCursor } = await repository.listSessions();

    expect(sessions.map((s) => s.id)).toEqual([second.session.id, first.session.id]);
    expect(nextCursor).toBeNull();
  });
});

describe('createSession', () => {
  it('sends one create-only PutObject of the session JSON, after the one of its name index entry', async () => {
    const { session, etag } = await instance().createSession({ name: 'build-42', actor: 'arn:aws:iam::123456789012:user/runner' });

    expect(fake.stub).toHaveReceivedCommandTimes(PutObjectCommand, 2);
    expect(fake.puts.map((put) => put.Key)).toEqual([nameIndexKey('build-42', session.id), `sessions/${session.id}.json`]);
    expect(fake.stub).toHaveReceivedNthCommandWith(PutObjectCommand, 2, {
      Bucket: BUCKET,
      Key: `sessions/${session.id}.json`,
      IfNoneMatch: '*',
      ContentType: 'application/json',
      ContentLength: Buffer.byteLength(JSON.stringify(session)),
    });
    expect(fake.puts.map((put) => [put.IfNoneMatch, put.IfMatch])).toEqual([
      ['*', undefined],
      ['*', undefined],
    ]);
    expect(fake.totalRequests).toBe(2);
    expect(session).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      name: 'build-42',
      job_ids: [],
      created_at: now / 1000,
      updated_at: now / 1000,
      status: 'active',
      updated_by: 'arn:aws:iam::123456789012:user/runner',
      job_counts: { total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
    });
    expect(etag).toBe(fake.objects.get(sessionKey(session.id))?.etag);
  });

  it('stores a null name when none is given', async () => {
    const { session } = await instance().createSession();

    expect(stored(session.id)).toMatchObject({ name: null });
  });

  it.each(['names/', 'sessions/'])(
    'treats its own write under %s, answered with 412 after a lost answer, as the success it was',
    async (prefix) => {
      fake.loseNextPutAnswer({ when: (input) => String(input.Key).startsWith(prefix) });

      const { session } = await instance().createSession({ name: 'lost-answer' });

      expect([...fake.objects.keys()].sort()).toEqual([nameIndexKey('lost-answer', session.id), sessionKey(session.id)]);
      expect(stored(session.id)).toEqual(session);
    },
  );

  it('picks a new ID when the one it drew is taken by another session', async () => {
    const taken = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    fake.seed(sessionKey(taken), '{"someone":"else"}');
    const ids = [taken, 'fffe6a1c2b3d4e5f60718293a4b5c6d8'];
    const repository = new SessionRepository({
      renewals: new MemoryObjectStore(),
      store: new S3ObjectStore({ bucket: BUCKET, client }),
      newId: () => ids.shift()!,
    });

    const { session } = await repository.createSession();

    expect(session.id).toBe('fffe6a1c2b3d4e5f60718293a4b5c6d8');
    expect(fake.body(sessionKey(taken))).toBe('{"someone":"else"}');
  });

  it('reports storage failures as StoreFault', async () => {
    fake.fail('PutObject', s3Error('SlowDown', 503));

    await expect(instance().createSession()).rejects.toBeInstanceOf(StoreFault);
  });
});

describe('getSession', () => {
  it('reads the object and its ETag', async () => {
    const { session, etag } = await instance().createSession({ name: 'x' });
    fake.resetCounts();

    const read = await instance().getSession(session.id);

    // A session stored before counts were kept reads with them counted.
    expect(read).toEqual({ session: { ...session, job_counts: { total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 } }, etag });
    expect(fake.stub).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: BUCKET, Key: sessionKey(session.id) });
    expect(fake.totalRequests).toBe(1);
  });

  it('throws SessionNotFound for a missing session', async () => {
    await expect(instance().getSession('fffe6a1c2b3d4e5f60718293a4b5c6d7')).rejects.toBeInstanceOf(SessionNotFound);
  });

  it.each(['../../etc/passwd', 'FFFE6A1C2B3D4E5F60718293A4B5C6D7', 'abc', ''])(
    'refuses the malformed ID %j before touching storage',
    async (id) => {
      await expect(instance().getSession(id)).rejects.toBeInstanceOf(InvalidRequest);
      expect(fake.totalRequests).toBe(0);
    },
  );

  it('fails loudly, not silently, on a stored object that is not a session', async () => {
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    fake.seed(sessionKey(id), '{not json');

    await expect(instance().getSession(id)).rejects.toThrow(/not a valid session/);
  });
});

describe('addJob', () => {
  it('reads, then writes If-Match the ETag it read, from a cold instance', async () => {
    const { session, etag } = await instance().createSession();
    fake.resetCounts();

    const result = await instance().addJob(session.id, 'job-1');

    expect(fake.requests).toEqual({ GetObject: 1, PutObject: 1, ListObjectsV2: 0 });
    expect(fake.stub).toHaveReceivedNthCommandWith(PutObjectCommand, 1, {
      Key: sessionKey(session.id),
      IfMatch: etag.replaceAll('"', ''),
    });
    expect(fake.puts[0]?.IfNoneMatch).toBeUndefined();
    expect(result).toMatchObject({ changed: true, attempts: 1, conflicts: 0 });
    expect(stored(session.id)).toMatchObject({ job_ids: ['job-1'] });
  });

  it('writes nothing for a job already in the session', async () => {
    const { session } = await instance().createSession();
    await instance().addJob(session.id, 'job-1');
    fake.resetCounts();

    const result = await instance().addJob(session.id, 'job-1');

    expect(fake.stub).not.toHaveReceivedCommand(PutObjectCommand);
    expect(fake.requests.GetObject).toBe(1);
    expect(result).toMatchObject({ changed: false, attempts: 0 });
    expect(result.session.job_ids).toEqual(['job-1']);
  });

  it('costs one request per job on a warm instance appending one after another', async () => {
    const repository = instance();
    const { session } = await repository.createSession();
    fake.resetCounts();

    for (let i = 0; i < 100; i++) await repository.addJob(session.id, `job-${i}`);

    expect(fake.requests).toEqual({ GetObject: 0, PutObject: 100, ListObjectsV2: 0 });
    expect(stored(session.id)).toMatchObject({ job_ids: Array.from({ length: 100 }, (_, i) => `job-${i}`) });
  });

  it('falls back to a fresh read when its remembered version is stale', async () => {
    const mine = instance();
    const { session } = await mine.createSession();
    await instance().addJob(session.id, 'from-another-instance');
    fake.resetCounts();

    await mine.addJob(session.id, 'mine');

    expect(fake.requests).toEqual({ GetObject: 1, PutObject: 2, ListObjectsV2: 0 });
    expect(stored(session.id)).toMatchObject({ job_ids: ['from-another-instance', 'mine'] });
  });

  it('confirms a refusal based on its remembered version against a fresh read', async () => {
    const mine = instance();
    const { session } = await mine.createSession();
    await mine.setStatus(session.id, 'paused');
    await instance().setStatus(session.id, 'active');

    await mine.addJob(session.id, 'after-resume');

    expect(stored(session.id)).toMatchObject({ status: 'active', job_ids: ['after-resume'] });
  });

  it('refuses jobs unless the session is active, and writes nothing', async () => {
    const { session } = await instance().createSession();
    await instance().setStatus(session.id, 'paused');
    fake.resetCounts();

    await expect(instance().addJob(session.id, 'job-1')).rejects.toBeInstanceOf(SessionNotActive);
    expect(fake.puts).toEqual([]);
  });

  it('refuses the job past MAX_JOBS_PER_SESSION', async () => {
    const repository = instance({ maxJobsPerSession: 3 });
    const { session } = await repository.createSession();
    for (const job of ['a', 'b', 'c']) await repository.addJob(session.id, job);
    fake.resetCounts();

    await expect(instance({ maxJobsPerSession: 3 }).addJob(session.id, 'd')).rejects.toBeInstanceOf(SessionFull);
    expect(fake.puts).toEqual([]);
    await expect(instance({ maxJobsPerSession: 3 }).addJob(session.id, 'c')).resolves.toMatchObject({ changed: false });
  });

  it('applies a change only to the version the caller names with If-Match', async () => {
    const { session, etag } = await instance().createSession();

    const result = await instance().addJob(session.id, 'job-1', { ifMatch: etag });

    expect(result.session.job_ids).toEqual(['job-1']);
  });

  it('fails a stale If-Match with PreconditionFailed and writes nothing', async () => {
    const { session, etag } = await instance().createSession();
    await instance().addJob(session.id, 'job-1');
    fake.resetCounts();

    await expect(instance().addJob(session.id, 'job-2', { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailed);
    expect(fake.puts).toEqual([]);
    expect(stored(session.id)).toMatchObject({ job_ids: ['job-1'] });
  });

  it('fails a stale If-Match on a warm instance too', async () => {
    const mine = instance();
    const { session, etag } = await mine.createSession();
    await instance().addJob(session.id, 'elsewhere');

    await expect(mine.addJob(session.id, 'job-2', { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailed);
    expect(stored(session.id)).toMatchObject({ job_ids: ['elsewhere'] });
  });

  it('keeps fields it does not know', async () => {
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const legacy = { id, name: 'legacy', job_ids: [], created_at: 1, updated_at: 1, status: 'active', runner: { host: 'b7' } };
    fake.seed(sessionKey(id), JSON.stringify(legacy));

    await instance().addJob(id, 'job-1');

    expect(stored(id)).toEqual({
      ...legacy,
      job_ids: ['job-1'],
      job_counts: { total: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      updated_at: now / 1000,
    });
  });

  it('never moves updated_at backwards', async () => {
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const future = now / 1000 + 3600;
    fake.seed(sessionKey(id), JSON.stringify({ id, name: null, job_ids: [], created_at: 1, updated_at: future, status: 'active' }));

    await instance().addJob(id, 'job-1');

    expect(stored(id)).toMatchObject({ updated_at: future });
  });
});

describe('compare-and-swap under faults and contention', () => {
  it('succeeds without a duplicate when its own write collides with itself', async () => {
    const { session } = await instance().createSession();
    fake.loseNextPutAnswer();

    const result = await instance().addJob(session.id, 'job-1');

    expect(result.session.job_ids).toEqual(['job-1']);
    expect(stored(session.id)).toMatchObject({ job_ids: ['job-1'] });
  });

  it('succeeds when a caller-conditioned write collides with itself', async () => {
    const { session, etag } = await instance().createSession();
    fake.loseNextPutAnswer();

    const result = await instance().addJob(session.id, 'job-1', { ifMatch: etag });

    expect(result.session.job_ids).toEqual(['job-1']);
    expect(stored(session.id)).toMatchObject({ job_ids: ['job-1'] });
  });

  it.each([
    ['409 ConditionalRequestConflict', () => s3Error('ConditionalRequestConflict', 409)],
    ['500 InternalError', () => s3Error('InternalError', 500)],
    ['503 SlowDown', () => s3Error('SlowDown', 503)],
    ['a connection reset', () => networkError('ECONNRESET')],
  ])('re-reads and retries after %s on the conditional write', async (_, error) => {
    const { session } = await instance().createSession();
    fake.fail('PutObject', error, { times: 2 });

    const result = await instance().addJob(session.id, 'job-1');

    expect(result.attempts).toBe(3);
    expect(stored(session.id)).toMatchObject({ job_ids: ['job-1'] });
  });

  it('gives up with ConflictRetry after CAS_MAX_ATTEMPTS refused writes, leaving the session as it was', async () => {
    const { session } = await instance().createSession();
    const before = fake.body(sessionKey(session.id));
    fake.fail('PutObject', () => s3Error('PreconditionFailed', 412), { times: 1000 });
    fake.resetCounts();

    const error = await instance({ casMaxAttempts: 5 })
      .addJob(session.id, 'job-1')
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConflictRetry);
    expect((error as ConflictRetry).details).toMatchObject({ attempts: 5 });
    expect(fake.requests.PutObject).toBe(5);
    expect(fake.body(sessionKey(session.id))).toBe(before);
  });

  it('gives up with StoreFault when the store keeps failing', async () => {
    const { session } = await instance().createSession();
    fake.fail('PutObject', () => s3Error('InternalError', 500), { times: 1000 });

    await expect(instance({ casMaxAttempts: 3 }).addJob(session.id, 'job-1')).rejects.toBeInstanceOf(StoreFault);
  });

  it('reports a failing read as StoreFault', async () => {
    const { session } = await instance().createSession();
    fake.fail('GetObject', s3Error('SlowDown', 503));

    await expect(instance().addJob(session.id, 'job-1')).rejects.toBeInstanceOf(StoreFault);
  });

  it('keeps all 400 jobs, each once, from 16 concurrent writers × 25 jobs', async () => {
    const { session } = await instance().createSession();
    fake.latency = 1;
    let exhausted = 0;
    const writer = async (w: number) => {
      const repository = instance({ casMaxAttempts: 8 });
      for (let j = 0; j < 25; j++) {
        for (;;) {
          try {
            await repository.addJob(session.id, `w${w}-j${j}`);
            break;
          } catch (error) {
            if (!(error instanceof ConflictRetry)) throw error;
            exhausted++;
          }
        }
      }
    };

    await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));

    const jobs = stored(session.id).job_ids as string[];
    expect(jobs).toHaveLength(400);
    expect(new Set(jobs).size).toBe(400);
    for (let w = 0; w < 16; w++) {
      expect(jobs.filter((job) => job.startsWith(`w${w}-`))).toEqual(Array.from({ length: 25 }, (_, j) => `w${w}-j${j}`));
    }
    expect(fake.puts.every((put) => put.IfMatch !== undefined || put.IfNoneMatch === '*')).toBe(true);
    console.info(`16×25 appends: ${fake.requests.PutObject} PutObject, ${fake.requests.GetObject} GetObject, ${exhausted} ConflictRetry`);
  });
});

describe('setStatus', () => {
  it.each([
    ['active', 'paused'],
    ['active', 'completed'],
    ['active', 'terminated'],
  ] as const)('moves a session from %s to %s', async (_, to) => {
    const { session } = await instance().createSession();

    const result = await instance().setStatus(session.id, to);

    expect(result.session.status).toBe(to);
    expect(stored(session.id)).toMatchObject({ status: to });
  });

  it('resumes a paused session', async () => {
    const { session } = await instance().createSession();
    await instance().setStatus(session.id, 'paused');

    await instance().setStatus(session.id, 'active');

    expect(stored(session.id)).toMatchObject({ status: 'active' });
  });

  it('treats the current status as a no-op that writes nothing', async () => {
    const { session } = await instance().createSession();
    fake.resetCounts();

    const result = await instance().setStatus(session.id, 'active');

    expect(result.changed).toBe(false);
    expect(fake.puts).toEqual([]);
  });

  it('refuses to leave a terminal status', async () => {
    const { session } = await instance().createSession();
    await instance().setStatus(session.id, 'completed');
    fake.resetCounts();

    await expect(instance().setStatus(session.id, 'active')).rejects.toBeInstanceOf(InvalidTransition);
    expect(fake.puts).toEqual([]);
  });

  it('records who made the change', async () => {
    const { session } = await instance().createSession({ actor: 'creator' });

    await instance().setStatus(session.id, 'paused', { actor: 'operator' });

    expect(stored(session.id)).toMatchObject({ updated_by: 'operator' });
  });
});

describe('listSessions', () => {
  async function createMany(count: number, status?: (i: number) => 'active' | 'completed') {
    const repository = instance();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      now += 1;
      const { session } = await repository.createSession({ name: `s${i}` });
      if (status?.(i) === 'completed') await repository.setStatus(session.id, 'completed');
      ids.push(session.id);
    }
    fake.resetCounts();
    return ids.reverse();
  }

  it('pages through every session newest first, each once', async () => {
    const newestFirst = await createMany(120);
    const repository = instance();
    const seen: string[] = [];
    const sizes: number[] = [];

    let cursor: string | undefined;
    do {
      const page = await repository.listSessions({ limit: 50, cursor });
      seen.push(...page.sessions.map((s) => s.id));
      sizes.push(page.sessions.length);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);

    expect(sizes).toEqual([50, 50, 20]);
    expect(seen).toEqual(newestFirst);
  });

  it('costs one LIST and one GET per session for a page', async () => {
    await createMany(60);

    await instance().listSessions({ limit: 50 });

    expect(fake.requests).toEqual({ ListObjectsV2: 1, GetObject: 50, PutObject: 0 });
  });

  it('filters by status and keeps reading until the page is full', async () => {
    const newestFirst = await createMany(40, (i) => (i % 4 === 0 ? 'completed' : 'active'));
    const completed = newestFirst.filter((_, index) => (39 - index) % 4 === 0);

    const page = await instance().listSessions({ limit: 5, status: 'completed' });

    expect(page.sessions.map((s) => s.id)).toEqual(completed.slice(0, 5));
    expect(page.sessions.every((s) => s.status === 'completed')).toBe(true);
    const rest = await instance().listSessions({ limit: 100, status: 'completed', cursor: page.nextCursor! });
    expect(rest.sessions.map((s) => s.id)).toEqual(completed.slice(5));
    expect(rest.nextCursor).toBeNull();
  });

  it('stops at the scan budget and hands back a cursor', async () => {
    await createMany(30);

    const page = await instance({ listScanBudget: 10 }).listSessions({ limit: 5, status: 'completed' });

    expect(page.sessions).toEqual([]);
    expect(page.scanned).toBe(10);
    expect(page.nextCursor).not.toBeNull();
  });

  it('skips and reports an object that does not parse, without breaking the list', async () => {
    const newestFirst = await createMany(3);
    fake.seed(sessionKey(newestFirst[1]!), '{"id": "garbage"');
    const warnings: RepositoryWarning[] = [];

    const page = await instance({}, (w) => warnings.push(w)).listSessions();

    expect(page.sessions.map((s) => s.id)).toEqual([newestFirst[0], newestFirst[2]]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.key).toBe(sessionKey(newestFirst[1]!));
  });

  it('ignores keys under the prefix that are not session objects', async () => {
    const newestFirst = await createMany(2);
    fake.seed('sessions/README.txt', 'not a session');

    const page = await instance().listSessions();

    expect(page.sessions.map((s) => s.id)).toEqual(newestFirst);
    expect(fake.requests.GetObject).toBe(2);
  });

  it.each(['garbage', 'eyJhZnRlciI6Ii4uLy4uIn0', Buffer.from('{"after":"../x"}').toString('base64url'), 'x'.repeat(500)])(
    'refuses the cursor %j with InvalidRequest before any storage call',
    async (cursor) => {
      await expect(instance().listSessions({ cursor })).rejects.toBeInstanceOf(InvalidRequest);
      expect(fake.totalRequests).toBe(0);
    },
  );

  it('reports a failing list as StoreFault', async () => {
    fake.fail('ListObjectsV2', s3Error('ServiceUnavailable', 503));

    await expect(instance().listSessions()).rejects.toBeInstanceOf(StoreFault);
  });
});
