import { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceError } from '#lib/domain/errors.ts';
import { type SessionEvent, type SessionEventDetail, sessionEvents } from '#lib/domain/events.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { type Session, SessionSchema } from '#lib/domain/session.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { KeyListOptions, ObjectStore, WriteCondition } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { Announcer, announcedKey, PUBLISH_BATCH, type Publisher } from '#lib/workers/announcer.ts';
import { LeaseSweeper } from '#lib/workers/lease-sweeper.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** Keeps what was published, batch by batch; can be told to fail. */
class RecordingPublisher implements Publisher {
  readonly batches: SessionEvent[][] = [];
  failNext = 0;
  async publish(events: SessionEvent[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('publish failed');
    }
    this.batches.push(events);
  }
  get events(): SessionEvent[] {
    return this.batches.flat();
  }
}

/** A cursor store whose writes fail while `crash` is set: the process died after publishing. */
class CrashingCursors implements ObjectStore {
  crash = false;
  readonly #inner: ObjectStore;
  constructor(inner: ObjectStore) {
    this.#inner = inner;
  }
  get(key: string) {
    return this.#inner.get(key);
  }
  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    if (this.crash) throw new Error('process killed');
    return this.#inner.put(key, body, condition);
  }
  list(prefix: string, options: KeyListOptions) {
    return this.#inner.list(prefix, options);
  }
}

let now: number;
let sessions: MemoryObjectStore;
let renewals: MemoryObjectStore;
let cursors: MemoryObjectStore;
let publisher: RecordingPublisher;
let repository: SessionRepository;

beforeEach(() => {
  now = T0;
  sessions = new MemoryObjectStore({ clock: { now: () => now } });
  renewals = new MemoryObjectStore({ clock: { now: () => now } });
  cursors = new MemoryObjectStore();
  publisher = new RecordingPublisher();
  repository = new SessionRepository({
    store: sessions,
    renewals,
    clock: () => now,
    sleep: async () => {},
    config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
  });
});

function announcer(options: { depth?: number; to?: Publisher } = {}): Announcer {
  return new Announcer({
    sessions,
    cursors,
    publisher: options.to ?? publisher,
    ...(options.depth === undefined ? {} : { depth: options.depth }),
  });
}

/** The events that consecutive stored versions of the session give, oldest first: what must be announced. */
async function expectedEvents(id: string): Promise<SessionEvent[]> {
  const key = sessionKey(id);
  const { versions } = await sessions.listVersions(key, { limit: 1000 });
  const events: SessionEvent[] = [];
  let previous: Session | null = null;
  for (const { versionId } of versions.reverse()) {
    const next = SessionSchema.parse(JSON.parse((await sessions.getVersion(key, versionId))!.body));
    events.push(...sessionEvents(previous, next, versionId));
    previous = next;
  }
  return events;
}

function dedupe(events: SessionEvent[]): SessionEvent[] {
  const seen = new Set<string>();
  return events.filter((event) => !seen.has(event.id) && seen.add(event.id));
}

describe('Announcer', () => {
  it('announces a job that ends failed, once, and no other job change', async () => {
    const id = (await repository.createSession({ name: 'ci', actor: 'ci' })).session.id;
    await repository.addJob(id, 'build-41', { state: 'succeeded', exitCode: 0, actor: 'ci' });
    await repository.addJob(id, 'build-42', { state: 'running', actor: 'ci' });
    await repository.addJob(id, 'build-42', { state: 'failed', exitCode: 2, actor: 'ci' });
    await repository.addJob(id, 'build-42', { state: 'failed', exitCode: 2, actor: 'ci' });
    await repository.addJob(id, 'build-43', { actor: 'ci' });
    await repository.setStatus(id, 'paused', { actor: 'ci' });

    await announcer().announceAll(id);

    const newest = (await sessions.listVersions(sessionKey(id), { limit: 3 })).versions[2]!.versionId;
    expect(publisher.events.map((event) => event['detail-type'])).toEqual([
      'Session Created',
      'Session Job Failed',
      'Session Status Changed',
    ]);
    expect(publisher.events[1]!.detail).toEqual({
      session_id: id,
      name: 'ci',
      job_id: 'build-42',
      exit_code: 2,
      signal: null,
      epoch: null,
      actor: 'ci',
      version_id: newest,
      at: T0 / 1000,
    });
    expect(publisher.events).toEqual(await expectedEvents(id));
  });

  it('announces a life cycle in order: creation, appends (none), pause, resume, take-over, expiry, completion, restore', async () => {
    const id = (await repository.createSession({ name: 'ssh-import', actor: 'ci', leaseSeconds: 30, holder: 'runner-a' })).session.id;
    const announce = announcer();
    await announce.announceAll(id);
    await repository.addJob(id, 'job-1', { leaseEpoch: 1 });
    await announce.announceAll(id);
    await repository.setStatus(id, 'paused', { leaseEpoch: 1, actor: 'runner-a' });
    await repository.acquireLease(id, { holder: 'runner-b', seconds: 30, actor: 'runner-b' });
    await repository.acquireLease(id, { holder: 'operator', seconds: 30, force: true, actor: 'operator' });
    await announce.announceAll(id);
    now += 120_000;
    const swept = await new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } }).sweep();
    expect(swept.expired).toEqual([id]);
    const beforeCompletion = (await sessions.listVersions(sessionKey(id), { limit: 1 })).versions[0]!.versionId;
    await repository.setStatus(id, 'completed', { actor: 'operator' });
    await repository.restoreVersion(id, beforeCompletion, { actor: 'operator' });
    const reports = await announce.announceAll(id);

    const types = publisher.events.map((event) => [
      event['detail-type'],
      (event.detail as SessionEventDetail).old_status,
      (event.detail as SessionEventDetail).new_status,
      event.detail.epoch,
    ]);
    expect(types).toEqual([
      ['Session Created', null, 'active', 1],
      ['Session Status Changed', 'active', 'paused', 1],
      ['Session Lease Acquired', 'paused', 'active', 2],
      ['Session Lease Acquired', 'active', 'active', 3],
      ['Session Lease Expired', 'active', 'paused', 3],
      ['Session Status Changed', 'paused', 'completed', 3],
      ['Session Restored', 'completed', 'paused', 3],
    ]);
    expect(publisher.events).toEqual(await expectedEvents(id));
    expect(publisher.events.map((event) => event.detail.actor)).toEqual([
      'ci',
      'runner-a',
      'runner-b',
      'operator',
      'lease-expiry',
      'operator',
      'operator',
    ]);
    const newest = (await sessions.listVersions(sessionKey(id), { limit: 1 })).versions[0]!.versionId;
    expect(JSON.parse((await cursors.get(announcedKey(id)))!.body)).toEqual({ version_id: newest });
    expect(reports.at(-1)).toMatchObject({ versions: 3, published: 3, remaining: false, gap: false });
  });

  it('moves the cursor past job appends without publishing anything', async () => {
    const id = (await repository.createSession({})).session.id;
    const announce = announcer();
    await announce.announce(id);
    await repository.addJob(id, 'job-1');
    await repository.addJob(id, 'job-2');
    const report = await announce.announce(id);
    expect(report).toMatchObject({ versions: 2, published: 0, remaining: false });
    expect(publisher.batches).toHaveLength(1);
    expect(await announce.announce(id)).toMatchObject({ versions: 0, published: 0, requests: 2 });
  });

  it('republishes after a crash between the publish and the cursor write: a duplicate, never a loss', async () => {
    const id = (await repository.createSession({})).session.id;
    await repository.setStatus(id, 'paused');
    const crashing = new CrashingCursors(cursors);
    crashing.crash = true;
    const first = new Announcer({ sessions, cursors: crashing, publisher });
    await expect(first.announce(id)).rejects.toThrow('process killed');
    expect(publisher.events.map((event) => event['detail-type'])).toEqual(['Session Created', 'Session Status Changed']);
    crashing.crash = false;

    await repository.setStatus(id, 'active');
    await first.announceAll(id);
    const ids = publisher.events.map((event) => event.id);
    expect(ids).toHaveLength(5);
    expect(ids.slice(2, 4)).toEqual(ids.slice(0, 2));
    expect(dedupe(publisher.events)).toEqual(await expectedEvents(id));
  });

  it('publishes nothing and keeps the cursor when the publish fails', async () => {
    const id = (await repository.createSession({})).session.id;
    publisher.failNext = 1;
    await expect(announcer().announce(id)).rejects.toThrow('publish failed');
    expect(await cursors.get(announcedKey(id))).toBeUndefined();
    await announcer().announce(id);
    expect(publisher.events.map((event) => event['detail-type'])).toEqual(['Session Created']);
  });

  it('announces at most `depth` versions a run, in batches of ten, and the rest on the next runs', async () => {
    const id = (await repository.createSession({})).session.id;
    for (let i = 0; i < 12; i++) await repository.setStatus(id, i % 2 === 0 ? 'paused' : 'active');
    const announce = announcer({ depth: 5 });
    expect(await announce.announce(id)).toMatchObject({ versions: 5, published: 5, remaining: true });
    const reports = await announce.announceAll(id);
    expect(reports.map((report) => report.versions)).toEqual([5, 3]);
    expect(publisher.events).toEqual(await expectedEvents(id));
    const wide = new RecordingPublisher();
    await new Announcer({ sessions, cursors: new MemoryObjectStore(), publisher: wide }).announce(id);
    expect(wide.batches.map((batch) => batch.length)).toEqual([PUBLISH_BATCH, 3]);
  });

  it('starts over from the oldest stored version, unannounced, when the announced version is gone', async () => {
    const id = (await repository.createSession({})).session.id;
    await repository.setStatus(id, 'paused');
    await cursors.put(announcedKey(id), JSON.stringify({ version_id: 'expired-version' }), { ifNoneMatch: '*' });
    const report = await announcer().announce(id);
    expect(report).toMatchObject({ gap: true, versions: 1, published: 1 });
    expect(publisher.events.map((event) => event['detail-type'])).toEqual(['Session Status Changed']);
  });

  it('never skips a version when announcers of one session race, and first publications stay in order', async () => {
    const id = (await repository.createSession({ leaseSeconds: 30, holder: 'r' })).session.id;
    const announcers = [announcer(), announcer(), announcer()];
    const writes = (async () => {
      for (let i = 0; i < 20; i++) {
        const epoch = (await repository.storedSession(id))?.lease?.epoch;
        if (i % 3 === 0) await repository.acquireLease(id, { holder: `r${i}`, force: true });
        else await repository.addJob(id, `job-${i}`, { leaseEpoch: epoch });
      }
    })();
    await Promise.all([
      writes,
      ...announcers.map(async (one) => {
        for (let i = 0; i < 15; i++) await one.announce(id);
      }),
    ]);
    await announcers[0]!.announceAll(id);
    expect(dedupe(publisher.events)).toEqual(await expectedEvents(id));
  });

  it('equals deriveEvent over consecutive stored versions for any sequence of operations and crashes (property)', async () => {
    const operation = fc.oneof(
      fc.record({ op: fc.constant('status' as const), to: fc.constantFrom('active', 'paused', 'completed', 'terminated') }),
      fc.record({ op: fc.constant('job' as const) }),
      fc.record({ op: fc.constant('acquire' as const), force: fc.boolean() }),
      fc.record({ op: fc.constant('heartbeat' as const) }),
      fc.record({ op: fc.constant('wait' as const), seconds: fc.integer({ min: 1, max: 120 }) }),
      fc.record({ op: fc.constant('sweep' as const) }),
      fc.record({ op: fc.constant('restore' as const), back: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant('announce' as const), crash: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(operation, { maxLength: 25 }), async (held, operations) => {
        now = T0;
        sessions = new MemoryObjectStore({ clock: { now: () => now } });
        cursors = new MemoryObjectStore();
        publisher = new RecordingPublisher();
        repository = new SessionRepository({
          store: sessions,
          renewals: new MemoryObjectStore({ clock: { now: () => now } }),
          clock: () => now,
          sleep: async () => {},
          config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
        });
        const sweeper = new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } });
        const id = (await repository.createSession(held ? { leaseSeconds: 30, holder: 'r' } : {})).session.id;
        const crashing = new CrashingCursors(cursors);
        const announce = new Announcer({ sessions, cursors: crashing, publisher, depth: 3 });
        for (const step of operations) {
          const epoch = (await repository.storedSession(id))?.lease?.epoch;
          const refusals = async (change: () => Promise<unknown>) =>
            change().catch((error: unknown) => (error instanceof ServiceError ? undefined : Promise.reject(error)));
          if (step.op === 'status') await refusals(() => repository.setStatus(id, step.to, { leaseEpoch: epoch }));
          else if (step.op === 'job') await refusals(() => repository.addJob(id, `job-${now}-${Math.random()}`, { leaseEpoch: epoch }));
          else if (step.op === 'acquire')
            await refusals(() => repository.acquireLease(id, { holder: `h${now}`, seconds: 30, force: step.force }));
          else if (step.op === 'heartbeat' && epoch !== undefined) await refusals(() => repository.heartbeat(id, epoch));
          else if (step.op === 'wait') now += step.seconds * 1000;
          else if (step.op === 'sweep') await sweeper.sweep();
          else if (step.op === 'restore') {
            const { versions } = await sessions.listVersions(sessionKey(id), { limit: step.back + 1 });
            const target = versions.at(-1)!.versionId;
            await refusals(() => repository.restoreVersion(id, target));
          } else if (step.op === 'announce') {
            crashing.crash = step.crash;
            await announce.announce(id).catch((error: unknown) => (step.crash ? undefined : Promise.reject(error)));
            crashing.crash = false;
          }
        }
        await announce.announceAll(id);
        expect(dedupe(publisher.events)).toEqual(await expectedEvents(id));
      }),
      { numRuns: 60 },
    );
  });
});

describe('Announcer on the stateful S3 fake', () => {
  let fake: S3Fake;
  beforeEach(() => {
    fake = new S3Fake();
  });
  afterEach(() => fake.restore());

  it('spends four S3 requests per announced change on a warm announcer: cursor read, one listing, the new version, cursor write', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
    const store = new S3ObjectStore({ bucket: 'sessions', client });
    const s3Repository = new SessionRepository({ store, renewals: new MemoryObjectStore(), sleep: async () => {} });
    const s3Announcer = new Announcer({ sessions: store, cursors: new S3ObjectStore({ bucket: 'leases', client }), publisher });
    const id = (await s3Repository.createSession({})).session.id;
    await s3Announcer.announce(id);

    const counts: Record<string, number>[] = [];
    for (const status of ['paused', 'active', 'paused'] as const) {
      await s3Repository.setStatus(id, status);
      fake.resetCounts();
      const report = await s3Announcer.announce(id);
      counts.push({ ...fake.requests, reported: report.requests });
    }

    expect(publisher.events.map((event) => event['detail-type'])).toEqual(['Session Created', ...Array(3).fill('Session Status Changed')]);
    // The version before it is the one the last run announced up to, which the announcer remembers.
    for (const count of counts) expect(count).toEqual({ GetObject: 2, PutObject: 1, ListObjectsV2: 0, ListObjectVersions: 1, reported: 4 });
    // A cold announcer (a new instance) reads the version before too.
    await s3Repository.setStatus(id, 'completed');
    fake.resetCounts();
    const cold = new Announcer({ sessions: store, cursors: new S3ObjectStore({ bucket: 'leases', client }), publisher });
    expect((await cold.announce(id)).requests).toBe(5);
    expect(fake.requests).toMatchObject({ GetObject: 3, ListObjectVersions: 1, PutObject: 1 });
    expect(publisher.events.at(-1)!.detail).toMatchObject({ old_status: 'paused', new_status: 'completed' });
    const cursorPuts = fake.puts.filter((put) => put.Key === announcedKey(id));
    expect(cursorPuts.at(-1)).toMatchObject({ IfMatch: expect.any(String) });
  });
});
