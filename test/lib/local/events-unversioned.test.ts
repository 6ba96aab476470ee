import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../helpers/lambda-env.ts';
import { startLocalEvents } from '#lib/local/events.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { eventsUnavailable, UNVERSIONED_EVENTS } from '#lib/workers/announcer.ts';
import { TEST_BUCKET } from '../../helpers/lambda-env.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { seedSession } from '../../helpers/sessions.ts';

let dataDir: string;
let fake: S3Fake;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-unversioned-'));
  fake = new S3Fake();
});

afterEach(async () => {
  fake.restore();
  await rm(dataDir, { recursive: true, force: true });
});

async function eventsFile(): Promise<string> {
  return readFile(path.join(dataDir, 'events.jsonl'), 'utf-8').catch(() => '');
}

describe('events on an S3 bucket without versions', () => {
  it('eventsUnavailable says why for such a bucket, and nothing for a versioned one or a fresh bucket', async () => {
    const store = new S3ObjectStore({ bucket: TEST_BUCKET });

    const fresh = await eventsUnavailable(store);
    seedSession(fake);
    const versioned = await eventsUnavailable(store);
    fake.versioning = 'disabled';
    seedSession(fake);
    const unversioned = await eventsUnavailable(store);

    expect([fresh, versioned]).toEqual([undefined, undefined]);
    expect(unversioned).toBe(UNVERSIONED_EVENTS);
    expect(unversioned).toMatch(/enable versioning on the bucket.*SESSIONS_BUCKET unset/);
  });

  it('announces nothing, with a warning at start that says why and what to use: no creation for sessions already there', async () => {
    fake.versioning = 'disabled';
    seedSession(fake);
    seedSession(fake);
    const warnings: string[] = [];

    const events = await startLocalEvents({
      dataDir,
      store: new S3ObjectStore({ bucket: TEST_BUCKET }),
      cursors: new MemoryObjectStore(),
      onError: (message) => warnings.push(message),
    });
    await events.caughtUp;
    await events.stop();

    expect(events.announcer).toBeUndefined();
    expect(warnings).toEqual([`events are off: ${UNVERSIONED_EVENTS}`]);
    expect(await eventsFile()).toBe('');
  });

  it('a bucket empty at start: create, pause, acquire, complete announce nothing rather than one wrong creation', async () => {
    fake.versioning = 'disabled';
    const errors: string[] = [];
    const events = await startLocalEvents({
      dataDir,
      store: new S3ObjectStore({ bucket: TEST_BUCKET }),
      cursors: new MemoryObjectStore(),
      onError: (_, error) => errors.push(String(error)),
    });
    const repository = new SessionRepository({
      store: events.hintStore,
      renewals: new MemoryObjectStore(),
      config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
    });

    const session = await repository.createSession({});
    await repository.setStatus(session.session.id, 'paused');
    const acquired = await repository.acquireLease(session.session.id, {});
    await repository.setStatus(session.session.id, 'completed', { leaseEpoch: acquired.session.lease!.epoch });
    await events.announcer?.idle();
    await events.stop();

    expect(await eventsFile()).toBe('');
    expect(errors).toEqual([`Error: events are off: ${UNVERSIONED_EVENTS}`]);
  });
});
