import { GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRequest, PreconditionFailed, SessionNotFound, VersioningDisabled } from '#lib/domain/errors.ts';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import { decodeHistoryCursor, encodeHistoryCursor } from '#lib/sessions/history.ts';
import { describeChange } from '#lib/sessions/history-change.ts';
import { type RepositoryWarning, SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake, s3Error } from '../../helpers/s3-fake.ts';
import { seedSession } from '../../helpers/sessions.ts';
import { landThenFail } from '../../properties/s3-faults.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const RUNNER = 'arn:aws:sts::123456789012:assumed-role/runner/host-7';
const OPERATOR = 'arn:aws:iam::123456789012:user/operator';

let fake: S3Fake;
let now: number;

beforeEach(() => {
  fake = new S3Fake();
  now = Date.UTC(2026, 10, 23, 12, 0, 0);
  fake.clock = () => now;
});

afterEach(() => {
  fake.restore();
});

function instance(onWarning?: (warning: RepositoryWarning) => void): SessionRepository {
  return new SessionRepository({
    renewals: new MemoryObjectStore(),
    store: new S3ObjectStore({ bucket: 'history', client }),
    config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
    clock: () => now,
    ...(onWarning === undefined ? {} : { onWarning }),
  });
}

function session(fields: Partial<Session> = {}): Session {
  return { id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7', name: null, job_ids: [], created_at: 100, updated_at: 100, status: 'active', ...fields };
}

/** A session with `jobs` jobs added one version at a time, a minute apart; returns its ID. */
async function sessionWithJobs(repository: SessionRepository, jobs: number): Promise<string> {
  const { session: created } = await repository.createSession({ actor: RUNNER });
  for (let n = 1; n <= jobs; n++) {
    now += 60_000;
    await repository.addJob(created.id, `job-${n}`, { actor: RUNNER });
  }
  return created.id;
}

describe('describeChange', () => {
  it.each([
    ['a fresh session with nothing before it', session(), undefined, 'created'],
    ['one job more', session({ job_ids: ['a', 'b'] }), session({ job_ids: ['a'] }), 'job_added b'],
    ['several jobs at once', session({ job_ids: ['a', 'b', 'c'] }), session({ job_ids: ['a'] }), 'jobs_added 2: b, c'],
    [
      'more jobs than it names',
      session({ job_ids: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] }),
      session(),
      'jobs_added 8: a, b, c, d, e, … (+3 more)',
    ],
    ['a job gone', session({ job_ids: ['a'] }), session({ job_ids: ['a', 'b'] }), 'job_removed b'],
    ['a status change', session({ status: 'paused' }), session(), 'status active→paused'],
    [
      'a status change and a job together',
      session({ status: 'completed', job_ids: ['a'] }),
      session(),
      'status active→completed; job_added a',
    ],
    ['a restore, whatever else differs', session({ restored_from: 'v1', job_ids: [] }), session({ job_ids: ['a', 'b'] }), 'restored v1'],
    [
      'a restore mark carried over by a writer that keeps unknown fields',
      session({ restored_from: 'v1', job_ids: ['a', 'b'] }),
      session({ restored_from: 'v1', job_ids: ['a'] }),
      'job_added b',
    ],
    ['nothing but time and writer', session({ updated_at: 200, updated_by: 'x' }), session(), 'unchanged'],
    ['an oldest kept version that is not a creation', session({ job_ids: ['a'], updated_at: 200 }), undefined, 'older versions expired'],
  ])('%s → %s', (_, version, older, expected) => {
    expect(describeChange(version, older)).toBe(expected);
  });
});

describe('history cursors', () => {
  it('round-trip a version ID', () => {
    expect(decodeHistoryCursor(encodeHistoryCursor('3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo'))).toBe(
      '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo',
    );
  });

  it.each([
    ['not base64url', 'a b'],
    ['not JSON', Buffer.from('{').toString('base64url')],
    ['a listing cursor', Buffer.from(JSON.stringify({ after: 'fffe6a1c2b3d4e5f60718293a4b5c6d7' })).toString('base64url')],
    ['a version ID with a space', Buffer.from(JSON.stringify({ v: 'a b' })).toString('base64url')],
    ['extra fields', Buffer.from(JSON.stringify({ v: 'x', more: 1 })).toString('base64url')],
    ['too long', 'A'.repeat(3000)],
  ])('refuse %s with invalid_request on query.cursor', (_, cursor) => {
    expect(() => decodeHistoryCursor(cursor)).toThrow(InvalidRequest);
    try {
      decodeHistoryCursor(cursor);
    } catch (error) {
      expect((error as InvalidRequest).details).toEqual({
        issues: [{ field: 'query.cursor', message: 'is not a cursor returned by this API' }],
      });
    }
  });
});

describe('sessionHistory', () => {
  it('takes each entry’s time from the store’s LastModified, in Unix seconds, and its actor from updated_by (null when absent)', async () => {
    const { session: seeded, key } = seedSession(fake, {}, now);
    now += 90_500;
    fake.seed(key, JSON.stringify({ ...seeded, job_ids: ['job-1'], updated_by: RUNNER }));

    const page = await instance().sessionHistory(seeded.id);

    expect(page.versions.map((entry) => [entry.change, entry.actor, entry.at])).toEqual([
      ['job_added job-1', RUNNER, Math.floor(now / 1000)],
      ['created', null, Math.floor((now - 90_500) / 1000)],
    ]);
  });

  it('costs one version listing of N + 1 and N + 1 version reads for a page of N; the last page, what is left', async () => {
    const id = await sessionWithJobs(instance(), 9);
    fake.resetCounts();

    const first = await instance().sessionHistory(id, { limit: 4 });
    const firstCost = { ...fake.requests };
    fake.resetCounts();
    await instance().sessionHistory(id, { limit: 4, cursor: encodeHistoryCursor(first.versions[3]!.version_id) });
    const middle = { ...fake.requests };
    fake.resetCounts();
    const last = await instance().sessionHistory(id, { limit: 4, cursor: encodeHistoryCursor(fake.versionIds(sessionKey(id))[7]!) });

    expect(firstCost).toEqual({ ListObjectVersions: 1, GetObject: 5, PutObject: 0, ListObjectsV2: 0 });
    expect(fake.stub).toHaveReceivedCommandWith(ListObjectVersionsCommand, { Prefix: sessionKey(id), MaxKeys: 5 });
    expect(middle).toEqual({ ListObjectVersions: 1, GetObject: 5, PutObject: 0, ListObjectsV2: 0 });
    expect(fake.requests).toEqual({ ListObjectVersions: 1, GetObject: 2, PutObject: 0, ListObjectsV2: 0 });
    expect(last.versions.map((entry) => entry.change)).toEqual(['job_added job-1', 'created']);
    expect(last.nextCursor).toBeNull();
  });

  it('describes the last entry of a page against the version below it, which the next page starts with', async () => {
    const id = await sessionWithJobs(instance(), 3);

    const first = await instance().sessionHistory(id, { limit: 2 });
    const second = await instance().sessionHistory(id, { limit: 2, cursor: first.nextCursor! });

    expect(first.versions.map((entry) => entry.change)).toEqual(['job_added job-3', 'job_added job-2']);
    expect(second.versions.map((entry) => entry.change)).toEqual(['job_added job-1', 'created']);
    expect(second.nextCursor).toBeNull();
  });

  it('leaves out a version that vanished after the listing, and describes the next one against the version below', async () => {
    const id = await sessionWithJobs(instance(), 3);
    const [, vanished] = fake.versionIds(sessionKey(id));
    fake.fail('GetObject', s3Error('NoSuchVersion', 404), { when: (input) => input.VersionId === vanished });

    const page = await instance().sessionHistory(id);

    expect(page.versions.map((entry) => entry.change)).toEqual(['jobs_added 2: job-2, job-3', 'job_added job-1', 'created']);
  });

  it('skips, with a warning, a version that does not hold this session', async () => {
    const warnings: RepositoryWarning[] = [];
    const { session: seeded, key } = seedSession(fake, {}, now);
    fake.seed(key, '{"not":"a session"}');
    fake.seed(key, JSON.stringify({ ...seeded, job_ids: ['job-1'] }));

    const page = await instance((warning) => warnings.push(warning)).sessionHistory(seeded.id);

    expect(page.versions.map((entry) => entry.change)).toEqual(['job_added job-1', 'created']);
    expect(warnings).toEqual([expect.objectContaining({ key, message: expect.stringContaining('does not hold session') })]);
  });

  it('lists a session deleted outside the service by the versions it kept, skipping the delete marker', async () => {
    const id = await sessionWithJobs(instance(), 1);
    fake.deleteObject(sessionKey(id));

    const page = await instance().sessionHistory(id);

    expect(page.versions.map((entry) => entry.change)).toEqual(['job_added job-1', 'created']);
  });

  it.each([
    ['a missing session', async () => newestFirstId(), SessionNotFound],
    [
      'a bucket without versioning',
      async () => {
        fake.versioning = 'disabled';
        return (await instance().createSession()).session.id;
      },
      VersioningDisabled,
    ],
  ])('refuses %s', async (_, arrange, expected) => {
    const id = await arrange();

    await expect(instance().sessionHistory(id)).rejects.toBeInstanceOf(expected);
  });

  it.each([0, 101, 1.5])('refuses limit %s', async (limit) => {
    await expect(instance().sessionHistory(newestFirstId(), { limit })).rejects.toThrow(InvalidRequest);
  });

  it('refuses a cursor naming a version S3 does not know, as invalid_request', async () => {
    const id = await sessionWithJobs(instance(), 1);

    const page = instance().sessionHistory(id, { cursor: encodeHistoryCursor('not-a-version-of-this-key') });

    await expect(page).rejects.toThrow(InvalidRequest);
  });
});

describe('restoreVersion', () => {
  it('reads the version, then writes its content If-Match the current ETag, stamped with time, writer and restored_from', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 2);
    const [, , created] = fake.versionIds(sessionKey(id));
    const before = await repository.getSession(id);
    now += 60_000;
    fake.resetCounts();

    const result = await repository.restoreVersion(id, created!, { actor: OPERATOR });

    expect(fake.requests).toEqual({ GetObject: 1, PutObject: 1, ListObjectsV2: 0 });
    expect(fake.stub).toHaveReceivedCommandWith(GetObjectCommand, { Key: sessionKey(id), VersionId: created });
    expect(fake.puts[0]).toMatchObject({ Key: sessionKey(id), IfMatch: before.etag.replaceAll('"', '') });
    expect(JSON.parse(fake.puts[0]!.Body as string)).toEqual({
      ...before.session,
      job_ids: [],
      job_counts: { total: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      updated_at: Math.floor(now / 1000),
      updated_by: OPERATOR,
      restored_from: created,
    });
    expect(result).toMatchObject({ changed: true, attempts: 1, etag: fake.objects.get(sessionKey(id))!.etag });
  });

  it('costs one more read on an instance that has not seen the session: the version, the current session, the write', async () => {
    const id = await sessionWithJobs(instance(), 1);
    const [, created] = fake.versionIds(sessionKey(id));
    fake.resetCounts();

    await instance().restoreVersion(id, created!, { actor: OPERATOR });

    expect(fake.requests).toEqual({ GetObject: 2, PutObject: 1, ListObjectsV2: 0 });
  });

  it('writes nothing when the session already has that content', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 1);
    const [latest] = fake.versionIds(sessionKey(id));
    const before = await repository.getSession(id);
    fake.resetCounts();

    const result = await repository.restoreVersion(id, latest!, { actor: OPERATOR });

    expect(result).toMatchObject({ changed: false, etag: before.etag, session: before.session });
    expect(fake.puts).toEqual([]);
  });

  it('brings a completed session back to the status the version had: an undo is not a status transition', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 1);
    const [active] = fake.versionIds(sessionKey(id));
    await repository.setStatus(id, 'completed', { actor: RUNNER });

    const result = await repository.restoreVersion(id, active!, { actor: OPERATOR });

    expect(result.session).toMatchObject({ status: 'active', job_ids: ['job-1'], restored_from: active });
  });

  it('restores the version S3 calls "null" (written before versioning was enabled) once the bucket keeps versions', async () => {
    fake.versioning = 'disabled';
    const { session: seeded, key } = seedSession(fake, { job_ids: ['before-versioning'] }, now);
    fake.versioning = 'enabled';
    const repository = instance();
    await repository.addJob(seeded.id, 'job-2', { actor: RUNNER });

    const result = await repository.restoreVersion(seeded.id, 'null', { actor: OPERATOR });

    expect(result.session).toMatchObject({ job_ids: ['before-versioning'], restored_from: 'null' });
    expect(fake.versionIds(key)).toHaveLength(3);
  });

  it('is not applied again when its write landed with a 500 for an answer and a change that drops restored_from came before the re-read', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 1);
    const key = sessionKey(id);
    const [oneJob] = fake.versionIds(key);
    await repository.addJob(id, 'job-2', { actor: RUNNER });
    fake.resetCounts();
    // The restore lands; then another instance appends a job, as addJob writes it (without the restore mark), before this one reads again.
    landThenFail(fake, () => s3Error('InternalError', 500), {
      when: () => {
        queueMicrotask(() => {
          const { restored_from: _mark, ...current } = JSON.parse(fake.body(key)!);
          fake.seed(key, JSON.stringify({ ...current, job_ids: [...current.job_ids, 'job-other'] }));
        });
        return true;
      },
    });

    const result = await repository.restoreVersion(id, oneJob!, { actor: OPERATOR });

    expect(result.session).toEqual(JSON.parse(fake.body(key)!));
    expect(result.session.job_ids).toEqual(['job-1', 'job-other']);
    expect(fake.puts).toHaveLength(1);
  });

  it('refuses a stale If-Match with precondition_failed after reading the version, and writes nothing', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 2);
    const [, , created] = fake.versionIds(sessionKey(id));
    fake.resetCounts();

    const restore = repository.restoreVersion(id, created!, { actor: OPERATOR, ifMatch: '"0123456789abcdef0123456789abcdef"' });

    await expect(restore).rejects.toBeInstanceOf(PreconditionFailed);
    expect(fake.puts).toEqual([]);
  });

  it.each([
    ['an ID S3 never issued', 'no-such-version', InvalidRequest, 2],
    ['the version of another session', 'other', InvalidRequest, 2],
    ['a version ID with a space', 'a b', InvalidRequest, 0],
  ])('refuses %s with invalid_request on body.version_id', async (_, versionId, expected, requests) => {
    const id = await sessionWithJobs(instance(), 1);
    const other = await sessionWithJobs(instance(), 0);
    const [otherVersion] = fake.versionIds(sessionKey(other));
    fake.resetCounts();

    const restore = instance().restoreVersion(id, versionId === 'other' ? otherVersion! : versionId);

    await expect(restore).rejects.toBeInstanceOf(expected);
    await restore.catch((error: InvalidRequest) =>
      expect(error.details).toEqual({ issues: [{ field: 'body.version_id', message: `is not a version of session ${id}` }] }),
    );
    // The read that found nothing, and the listing that tells why.
    expect(fake.totalRequests).toBe(requests);
  });

  it('refuses a session that does not exist with session_not_found, and a bucket without versioning with versioning_disabled', async () => {
    const missing = instance().restoreVersion(newestFirstId(), 'some-version');
    await expect(missing).rejects.toBeInstanceOf(SessionNotFound);

    fake.versioning = 'disabled';
    const id = (await instance().createSession()).session.id;
    await expect(instance().restoreVersion(id, 'some-version')).rejects.toBeInstanceOf(VersioningDisabled);
    await expect(instance().restoreVersion(id, 'null')).rejects.toBeInstanceOf(VersioningDisabled);
    expect(fake.puts.filter((put) => put.IfMatch !== undefined)).toEqual([]);
  });

  it('loses no change when a restore races job additions: every change lands once, and the history holds each', async () => {
    const repository = instance();
    const id = await sessionWithJobs(repository, 1);
    const [, created] = fake.versionIds(sessionKey(id));
    fake.latency = () => Math.random() * 2;

    await Promise.all([
      instance().restoreVersion(id, created!, { actor: OPERATOR }),
      ...['a', 'b', 'c'].map((job) => instance().addJob(id, job, { actor: RUNNER })),
    ]);

    const changes = (await repository.sessionHistory(id)).versions.map((entry) => entry.change);
    expect(changes).toHaveLength(6);
    expect(changes.filter((change) => change === `restored ${created}`)).toHaveLength(1);
    for (const job of ['a', 'b', 'c']) expect(changes.filter((change) => change === `job_added ${job}`)).toHaveLength(1);
    expect(
      fake.stub
        .commandCalls(PutObjectCommand)
        .every((call) => call.args[0].input.IfMatch !== undefined || call.args[0].input.IfNoneMatch === '*'),
    ).toBe(true);
  });
});
