import { DeleteObjectCommand, ListObjectsV2Command, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import { ENDED_TAG } from '#lib/domain/retention.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { ownerIndexKey } from '#lib/sessions/owner-index.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { statusIndexKey } from '#lib/sessions/status-index.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { announcedKey } from '#lib/workers/announcer.ts';
import { LeaseSweeper } from '#lib/workers/lease-sweeper.ts';
import { RetentionCleanup } from '#lib/workers/retention-cleanup.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { seedSession } from '../../helpers/sessions.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 6, 1);
const DAYS = 30;

/** The deployed sweeper's retention steps, against the stateful S3 fake. */
describe('RetentionCleanup', () => {
  let fake: S3Fake;

  beforeEach(() => {
    fake = new S3Fake();
  });

  afterEach(() => fake.restore());

  const cleanup = (pageSize?: number) =>
    new RetentionCleanup({
      sessions: new S3ObjectStore({ bucket: 'sessions', client }),
      state: new S3ObjectStore({ bucket: 'leases', client }),
      retentionDays: DAYS,
      clock: { now: () => NOW },
      ...(pageSize === undefined ? {} : { pageSize }),
    });

  /** Stores `key` as written `daysAgo` days before now. */
  function seedAt(daysAgo: number, key: string, body = '{}'): void {
    fake.clock = () => NOW - daysAgo * DAY_MS;
    fake.seed(key, body);
    fake.clock = Date.now;
  }

  function storedSession(daysAgo: number, status: 'active' | 'completed', name?: string): string {
    fake.clock = () => NOW - daysAgo * DAY_MS;
    const { session } = seedSession(fake, { status, ...(name === undefined ? {} : { name }) }, NOW - daysAgo * DAY_MS);
    fake.clock = Date.now;
    return session.id;
  }

  it('deletes old entries and cursors of sessions that are gone, keeps those of sessions that exist and young ones', async () => {
    const gone = newestFirstId(NOW - 100 * DAY_MS);
    const justCreated = newestFirstId(NOW);
    const living = storedSession(100, 'active', 'alpha');
    seedAt(100, nameIndexKey('alpha', gone));
    seedAt(100, nameIndexKey('alpha', living));
    seedAt(0, nameIndexKey('alpha', justCreated));
    seedAt(DAYS + 1, announcedKey(gone));
    seedAt(DAYS + 1, announcedKey(living));
    seedAt(DAYS + 1, statusIndexKey('terminated', gone));
    seedAt(100, ownerIndexKey('tenant-a', gone));
    seedAt(100, ownerIndexKey('tenant-a', living));

    const report = await cleanup().run();

    expect(fake.body(nameIndexKey('alpha', gone))).toBeUndefined();
    expect(fake.body(announcedKey(gone))).toBeUndefined();
    expect(fake.body(statusIndexKey('terminated', gone))).toBeUndefined();
    expect(fake.body(nameIndexKey('alpha', living))).toBe('{}');
    expect(fake.body(nameIndexKey('alpha', justCreated))).toBe('{}');
    expect(fake.body(announcedKey(living))).toBe('{}');
    expect(fake.body(ownerIndexKey('tenant-a', gone))).toBeUndefined();
    expect(fake.body(ownerIndexKey('tenant-a', living))).toBe('{}');
    expect(report.traces).toBe(4);
    expect(
      fake.stub
        .commandCalls(DeleteObjectCommand)
        .map((call) => call.args[0].input.Key)
        .sort(),
    ).toEqual(
      [nameIndexKey('alpha', gone), ownerIndexKey('tenant-a', gone), announcedKey(gone), statusIndexKey('terminated', gone)].sort(),
    );
  });

  it('tags the ending version of a session that ended before retention, by its version ID, once per instance', async () => {
    const ended = storedSession(200, 'completed');
    seedAt(200, statusIndexKey('completed', ended));
    const [version] = fake.versionIds(sessionKey(ended));
    const steps = cleanup();

    const first = await steps.run();
    const second = await steps.run();

    expect(fake.tags(sessionKey(ended))).toEqual({ [ENDED_TAG.key]: ENDED_TAG.value });
    expect(fake.stub.commandCalls(PutObjectTaggingCommand).map((call) => call.args[0].input)).toEqual([
      {
        Bucket: 'sessions',
        Key: sessionKey(ended),
        VersionId: version,
        Tagging: { TagSet: [{ Key: ENDED_TAG.key, Value: ENDED_TAG.value }] },
      },
    ]);
    expect([first.tagged, second.tagged]).toEqual([1, 0]);
  });

  it('walks one page of each prefix per run, resuming where it stopped', async () => {
    const gone = [1, 2, 3, 4, 5].map((n) => newestFirstId(NOW - (100 + n) * DAY_MS));
    for (const id of gone) seedAt(100, nameIndexKey('beta', id));

    const steps = cleanup(2);
    const lists: number[] = [];
    for (let run = 0; run < 3; run++) {
      const before = fake.stub.commandCalls(ListObjectsV2Command).length;
      await steps.run();
      lists.push(fake.stub.commandCalls(ListObjectsV2Command).length - before);
    }

    // One listing per prefix and run: names/, owners/, announced/, status/completed/, status/terminated/.
    expect(lists).toEqual([5, 5, 5]);
    for (const id of gone) expect(fake.body(nameIndexKey('beta', id))).toBeUndefined();
  });

  it('runs as a step of every lease sweep, after the leases, and reports what it did', async () => {
    const gone = newestFirstId(NOW - 100 * DAY_MS);
    seedAt(100, nameIndexKey('gamma', gone));
    const repository = new SessionRepository({
      store: new S3ObjectStore({ bucket: 'sessions', client }),
      renewals: new S3ObjectStore({ bucket: 'leases', client }),
    });

    const report = await new LeaseSweeper({ repository, graceSeconds: 60, retention: cleanup() }).sweep();

    expect(report.retention).toMatchObject({ traces: 1 });
    expect(fake.body(nameIndexKey('gamma', gone))).toBeUndefined();
  });
});
