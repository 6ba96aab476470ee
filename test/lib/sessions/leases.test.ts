import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidTransition, LeaseHeld, LeaseLost, LeaseRequired } from '#lib/domain/errors.ts';
import { LEASE_EXPIRY_ACTOR } from '#lib/domain/lease.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { KeyListOptions, ObjectStore, PrunableObjectStore, WriteCondition } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { SqliteObjectStore, UnversionedSqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { LeaseSweeper } from '#lib/workers/lease-sweeper.ts';
import { s3Endpoint } from '../../helpers/s3-endpoint.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { expectFenced, raceTakeOvers } from './lease-scenarios.ts';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A store that counts the requests made to it, by operation. */
class CountingStore implements PrunableObjectStore {
  readonly counts = { get: 0, put: 0, list: 0, delete: 0 };
  readonly inner: PrunableObjectStore;
  constructor(inner: PrunableObjectStore) {
    this.inner = inner;
  }
  get(key: string) {
    this.counts.get++;
    return this.inner.get(key);
  }
  put(key: string, body: string, condition: WriteCondition) {
    this.counts.put++;
    return this.inner.put(key, body, condition);
  }
  list(prefix: string, options: KeyListOptions) {
    this.counts.list++;
    return this.inner.list(prefix, options);
  }
  listObjects(prefix: string, options: KeyListOptions) {
    this.counts.list++;
    return this.inner.listObjects(prefix, options);
  }
  delete(key: string) {
    this.counts.delete++;
    return this.inner.delete(key);
  }
  get total(): number {
    return this.counts.get + this.counts.put + this.counts.list + this.counts.delete;
  }
}

let now: number;
let sessions: MemoryObjectStore;
let renewals: CountingStore;

function instance(store: ObjectStore = sessions, leases: PrunableObjectStore = renewals): SessionRepository {
  return new SessionRepository({
    store,
    renewals: leases,
    clock: () => now,
    sleep: async () => {},
    config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
  });
}

beforeEach(() => {
  now = T0;
  sessions = new MemoryObjectStore({ clock: { now: () => now } });
  renewals = new CountingStore(new MemoryObjectStore({ clock: { now: () => now } }));
});

describe('acquire', () => {
  it('opens a session held from its creation, with epoch 1 and a renewal record ready for the first heartbeat', async () => {
    const repository = instance();

    const { session } = await repository.createSession({ name: 'ssh-import', leaseSeconds: 30, holder: 'build-7:4711' });

    expect(session.lease).toEqual({ holder: 'build-7:4711', epoch: 1, seconds: 30, expires_at: T0 / 1000 + 30 });
    expect((await renewals.inner.list('leases/', { limit: 10 })).keys).toEqual([`leases/${session.id}/1-30.json`]);
  });

  it('of N racing acquirers of a free lease, exactly one wins; the others hear lease_held naming the winner', async () => {
    const { session } = await instance().createSession({ name: 'race' });
    const racers = Array.from({ length: 8 }, () => instance());

    const results = await Promise.allSettled(racers.map((racer, index) => racer.acquireLease(session.id, { holder: `runner-${index}` })));

    const won = results.filter((result) => result.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<SessionRepository['acquireLease']>>>).value.session.lease!;
    expect(winner.epoch).toBe(1);
    for (const result of results.filter((r) => r.status === 'rejected')) {
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(LeaseHeld);
      expect((result as PromiseRejectedResult).reason.details.holder).toBe(winner.holder);
    }
  });

  it('gives N racing forced take-overs N distinct, increasing epochs', async () => {
    const { session } = await instance().createSession({ name: 'race', leaseSeconds: 60, holder: 'first' });
    const racers = Array.from({ length: 8 }, () => instance());

    const results = await Promise.all(
      racers.map((racer, index) => racer.acquireLease(session.id, { holder: `runner-${index}`, force: true })),
    );

    const epochs = results.map((result) => result.session.lease!.epoch).sort((a, b) => a - b);
    expect(epochs).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await instance().storedSession(session.id))!.lease!.epoch).toBe(9);
  });

  it('resumes a paused session, refuses a completed one, and lets the holder take its own live lease again with its epoch', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    await repository.setStatus(session.id, 'paused', { leaseEpoch: 1 });

    const resumed = await repository.acquireLease(session.id, { holder: 'r2' });
    const again = await repository.acquireLease(session.id, { holder: 'r2', leaseEpoch: 2 });
    await repository.setStatus(session.id, 'completed', { leaseEpoch: 3 });

    expect(resumed.session).toMatchObject({ status: 'active', lease: { holder: 'r2', epoch: 2 } });
    expect(again.session.lease).toMatchObject({ holder: 'r2', epoch: 3 });
    await expect(repository.acquireLease(session.id, { holder: 'r3', force: true })).rejects.toBeInstanceOf(InvalidTransition);
  });
});

describe('acquire of a lapsed lease racing a late heartbeat', () => {
  it('decides again when the heartbeat lands before its fence: the lease is live after all, and the acquire is refused', async () => {
    const [holder, acquirer] = [instance(), instance()];
    const { session } = await holder.createSession({ leaseSeconds: 30, holder: 'r1' });
    await holder.heartbeat(session.id, 1);
    now += 45_000;
    const original = renewals.inner.put.bind(renewals.inner);
    let raced = 0;
    renewals.inner.put = async (key, body, condition) => {
      if (raced === 0 && body.includes('"expired":true')) {
        raced++;
        // The heartbeat was sent while the lease was still live and lands just before the fence.
        now -= 20_000;
        await holder.heartbeat(session.id, 1);
        now += 20_000;
      }
      return original(key, body, condition);
    };

    const refused = await acquirer.acquireLease(session.id, { holder: 'r2' }).catch((error: unknown) => error);

    expect(raced).toBe(1);
    expect(refused).toBeInstanceOf(LeaseHeld);
    expect((await acquirer.storedSession(session.id))!.lease).toMatchObject({ holder: 'r1', epoch: 1 });
    await holder.addJob(session.id, 'job-1', { leaseEpoch: 1 });
  });
});

describe('acquire of a live lease under a shared holder name', () => {
  it('refuses a second caller that uses the same holder name but not the epoch (409 lease_held), and writes nothing', async () => {
    const [first, second] = [instance(), instance()];
    const { session } = await first.createSession({ leaseSeconds: 300, holder: 'local' });
    const before = await sessions.get(`sessions/${session.id}.json`);

    const refused = await second.acquireLease(session.id, { holder: 'local', seconds: 60 }).catch((error: unknown) => error);
    const wrongEpoch = await second.acquireLease(session.id, { holder: 'local', leaseEpoch: 7 }).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(LeaseHeld);
    expect((refused as LeaseHeld).details).toMatchObject({ id: session.id, holder: 'local' });
    expect(wrongEpoch).toBeInstanceOf(LeaseHeld);
    expect((await sessions.get(`sessions/${session.id}.json`))!.etag).toBe(before!.etag);
    // The first caller still holds its 300 s lease of epoch 1, and its changes land.
    await first.addJob(session.id, 'job-1', { leaseEpoch: 1 });
    expect((await first.getSession(session.id)).session.lease).toMatchObject({ epoch: 1, seconds: 300 });
    // Presenting the epoch is the holder's re-acquire: a new epoch, a new length.
    const again = await first.acquireLease(session.id, { holder: 'local', seconds: 60, leaseEpoch: 1 });
    expect(again.session.lease).toMatchObject({ holder: 'local', epoch: 2, seconds: 60 });
    expect(again.session.lease!.taken_over).toBeUndefined();
  });
});

describe('fencing of changes', () => {
  it('refuses a change without Lease-Epoch while the lease is live (428), and with another epoch (409 superseded); nothing is written', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    const before = await sessions.get(`sessions/${session.id}.json`);

    await expect(repository.addJob(session.id, 'job-1')).rejects.toBeInstanceOf(LeaseRequired);
    await expect(repository.setStatus(session.id, 'paused')).rejects.toBeInstanceOf(LeaseRequired);
    const lost = await repository.addJob(session.id, 'job-1', { leaseEpoch: 7 }).catch((error: unknown) => error);

    expect(lost).toBeInstanceOf(LeaseLost);
    expect((lost as LeaseLost).details).toEqual({ id: session.id, reason: 'superseded', epoch: 1 });
    expect(await sessions.get(`sessions/${session.id}.json`)).toEqual(before);
  });

  it("accepts the holder's append and extends its lease by its length", async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    now += 45_000;

    const { session: after } = await repository.addJob(session.id, 'job-1', { leaseEpoch: 1 });

    expect(after.job_ids).toEqual(['job-1']);
    expect(after.lease!.expires_at).toBe(now / 1000 + 60);
  });

  it('tells a holder whose lease was taken over, released or expired why, before anything about the status', async () => {
    const repository = instance();
    const { session: a } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    const { session: b } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    const { session: c } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    await repository.acquireLease(a.id, { holder: 'r2', force: true });
    await repository.setStatus(b.id, 'completed', { leaseEpoch: 1 });
    now += 61_000;

    const reasons = await Promise.all(
      [a, b, c].map((s) =>
        repository
          .addJob(s.id, 'late', { leaseEpoch: 1 })
          .catch((error: LeaseLost) => [error.code, error.details.reason, error.details.epoch]),
      ),
    );

    expect(reasons).toEqual([
      ['lease_lost', 'superseded', 2],
      ['lease_lost', 'released', 1],
      ['lease_lost', 'expired', 1],
    ]);
  });

  it('lets an operator change a session whose lease expired or was released, and a never-held session as before', async () => {
    const repository = instance();
    const { session: held } = await repository.createSession({ leaseSeconds: 5, holder: 'r1' });
    const { session: plain } = await repository.createSession({ name: 'v1' });
    now += 6_000;

    const changed = await repository.setStatus(held.id, 'terminated');
    const appended = await repository.addJob(plain.id, 'job-1');

    expect(changed.session.status).toBe('terminated');
    expect(appended.session).not.toHaveProperty('lease');
  });

  it('releases the lease on pause, complete or terminate, and deletes its renewal records', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    now += 10_000;

    const { session: paused } = await repository.setStatus(session.id, 'paused', { leaseEpoch: 1 });

    expect(paused.lease).toEqual({ holder: 'r1', epoch: 1, seconds: 60, expires_at: now / 1000, ended: 'released' });
    expect((await renewals.inner.list('leases/', { limit: 10 })).keys).toEqual([]);
  });
});

describe('heartbeat', () => {
  it('costs one request on a warm instance, writes nothing to the session and shows nowhere in its history', async () => {
    const repository = instance();
    const { session, etag } = await repository.createSession({ leaseSeconds: 30, holder: 'r1' });
    renewals.counts.get = renewals.counts.put = renewals.counts.list = renewals.counts.delete = 0;
    const sessionWrites = (await sessions.listVersions(`sessions/${session.id}.json`, { limit: 10 })).versions.length;

    for (let beat = 1; beat <= 100; beat++) {
      now += 10_000;
      const lease = await repository.heartbeat(session.id, 1);
      expect(lease.expires_at).toBe(now / 1000 + 30);
    }

    expect(renewals.total).toBe(100);
    expect(renewals.counts.put).toBe(100);
    const read = await repository.getSession(session.id);
    expect(read.etag).toBe(etag);
    expect(read.session.lease!.expires_at).toBe(now / 1000 + 30);
    expect((await sessions.listVersions(`sessions/${session.id}.json`, { limit: 10 })).versions).toHaveLength(sessionWrites);
    expect((await repository.sessionHistory(session.id)).versions.map((version) => version.change)).toEqual(['created']);
  });

  it('on a cold instance reads the session and the record, then writes the record', async () => {
    const { session } = await instance().createSession({ leaseSeconds: 30, holder: 'r1' });
    renewals.counts.get = renewals.counts.put = renewals.counts.list = renewals.counts.delete = 0;
    const cold = instance();

    await cold.heartbeat(session.id, 1, 120);

    expect(renewals.counts).toEqual({ get: 1, put: 1, list: 0, delete: 0 });
    expect((await cold.getSession(session.id)).session.lease!.expires_at).toBe(T0 / 1000 + 120);
  });

  it('hears lease_lost superseded after a take-over on another instance, even when it remembers its record', async () => {
    const holder = instance();
    const operator = instance();
    const { session } = await holder.createSession({ leaseSeconds: 30, holder: 'r1' });
    await holder.heartbeat(session.id, 1);

    await operator.acquireLease(session.id, { holder: 'operator', force: true });
    const lost = await holder.heartbeat(session.id, 1).catch((error: unknown) => error);

    expect(lost).toBeInstanceOf(LeaseLost);
    expect((lost as LeaseLost).details).toMatchObject({ reason: 'superseded', epoch: 2 });
  });

  it('keeps a lease alive past its length while heartbeats come, so that other acquirers are refused', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 30, holder: 'r1' });
    for (let beat = 0; beat < 10; beat++) {
      now += 20_000;
      await repository.heartbeat(session.id, 1);
    }

    await expect(instance().acquireLease(session.id, { holder: 'r2' })).rejects.toBeInstanceOf(LeaseHeld);
    await expect(instance().addJob(session.id, 'job-1')).rejects.toBeInstanceOf(LeaseRequired);
    expect((await instance().addJob(session.id, 'job-1', { leaseEpoch: 1 })).session.job_ids).toEqual(['job-1']);
  });
});

describe('expiry', () => {
  it('pauses a session whose lease has been expired for longer than the sweep interval, as lease-expiry, once', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ name: 'quiet', leaseSeconds: 30, holder: 'r1' });
    const sweeper = new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } });
    now += 35_000;
    const early = await sweeper.sweep();
    now += 10_000;

    const report = await sweeper.sweep();
    const again = await sweeper.sweep();

    expect(early.expired).toEqual([]);
    expect(report.expired).toEqual([session.id]);
    expect(again).toMatchObject({ expired: [], records: 0 });
    const stored = (await repository.storedSession(session.id))!;
    expect(stored).toMatchObject({ status: 'paused', updated_by: LEASE_EXPIRY_ACTOR, lease: { epoch: 1, ended: 'expired' } });
    expect((await repository.sessionHistory(session.id)).versions[0]!.change).toBe('status active→paused (lease expired)');
    const lost = await repository.heartbeat(session.id, 1).catch((error: unknown) => error);
    expect((lost as LeaseLost).details).toMatchObject({ reason: 'expired', epoch: 1 });
  });

  it('skips a session whose heartbeat lands between the sweep judging it lapsed and its fence', async () => {
    const repository = instance();
    const holder = instance();
    const { session } = await holder.createSession({ leaseSeconds: 30, holder: 'r1' });
    now += 45_000;
    // The heartbeat is late but not past the lease expiry plus the grace: it is still accepted.
    const original = renewals.inner.put.bind(renewals.inner);
    let raced = false;
    renewals.inner.put = async (key, body, condition) => {
      if (!raced && body.includes('"expired":true')) {
        raced = true;
        now -= 20_000;
        await holder.heartbeat(session.id, 1);
        now += 20_000;
      }
      return original(key, body, condition);
    };

    const report = await new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } }).sweep();

    expect(raced).toBe(true);
    expect(report.expired).toEqual([]);
    expect((await repository.storedSession(session.id))!.status).toBe('active');
  });

  it('does not pause a session its holder keeps alive by appending, without heartbeats', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 30, holder: 'r1' });
    const sweeper = new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } });
    for (let n = 0; n < 10; n++) {
      now += 25_000;
      await repository.addJob(session.id, `job-${n}`, { leaseEpoch: 1 });
      expect((await sweeper.sweep()).expired).toEqual([]);
    }
    expect((await repository.storedSession(session.id))!.status).toBe('active');
  });

  it('costs one listing per 1,000 held sessions and reads only the lapsed ones', async () => {
    const repository = instance();
    const ids: string[] = [];
    for (let n = 0; n < 1500; n++) ids.push((await repository.createSession({ leaseSeconds: 60, holder: `r${n}` })).session.id);
    now += 30_000;
    for (const id of ids.slice(15)) await repository.heartbeat(id, 1);
    now += 45_000;
    renewals.counts.get = renewals.counts.put = renewals.counts.list = renewals.counts.delete = 0;

    const report = await new LeaseSweeper({ repository, graceSeconds: 10, clock: { now: () => now } }).sweep();

    expect(report).toMatchObject({ listRequests: 2, records: 1500, candidates: 15 });
    expect(report.expired.sort()).toEqual(ids.slice(0, 15).sort());
    expect(renewals.counts.list).toBe(2 + 15);
  });

  it('keeps the epoch on restore: a restore brings back content, never a lease', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    await repository.addJob(session.id, 'job-1', { leaseEpoch: 1 });
    const first = (await repository.sessionHistory(session.id)).versions.at(-1)!;
    await repository.acquireLease(session.id, { holder: 'r2', force: true });

    const { session: restored } = await repository.restoreVersion(session.id, first.version_id, { force: true });

    expect(restored.job_ids).toEqual([]);
    expect(restored.lease).toMatchObject({ holder: 'r2', epoch: 2, ended: 'restored' });
  });

  it('refuses a restore while the lease is live (409 lease_held), and writes nothing', async () => {
    const repository = instance();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'r1' });
    const first = (await repository.sessionHistory(session.id)).versions.at(-1)!;
    await repository.addJob(session.id, 'a1', { leaseEpoch: 1 });
    const before = await sessions.get(`sessions/${session.id}.json`);

    const refused = await repository.restoreVersion(session.id, first.version_id).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(LeaseHeld);
    expect((refused as LeaseHeld).details).toMatchObject({ id: session.id, holder: 'r1' });
    expect((await sessions.get(`sessions/${session.id}.json`))!.etag).toBe(before!.etag);
    await repository.addJob(session.id, 'a2', { leaseEpoch: 1 });
    expect((await repository.getSession(session.id)).session.job_ids).toEqual(['a1', 'a2']);
  });

  it('fences the holder on a forced restore: its next append, status change and heartbeat hear lease_lost (restored)', async () => {
    const [holder, operator] = [instance(), instance()];
    const { session } = await holder.createSession({ leaseSeconds: 60, holder: 'r1' });
    const first = (await holder.sessionHistory(session.id)).versions.at(-1)!;
    for (const job of ['a1', 'a2', 'a3']) await holder.addJob(session.id, job, { leaseEpoch: 1 });
    // The holder's warm instance remembers its renewal record: its heartbeat is one conditional PUT.
    await holder.heartbeat(session.id, 1);

    const restored = await operator.restoreVersion(session.id, first.version_id, { force: true, actor: 'operator' });

    expect(restored.session).toMatchObject({ job_ids: [], status: 'active', lease: { holder: 'r1', epoch: 1, ended: 'restored' } });
    for (const change of [
      () => holder.addJob(session.id, 'a4', { leaseEpoch: 1 }),
      () => holder.setStatus(session.id, 'completed', { leaseEpoch: 1 }),
      () => holder.heartbeat(session.id, 1),
    ]) {
      const lost = await change().catch((error: unknown) => error);
      expect(lost).toBeInstanceOf(LeaseLost);
      expect((lost as LeaseLost).details).toEqual({ id: session.id, reason: 'restored', epoch: 1 });
    }
    expect((await operator.getSession(session.id)).session.job_ids).toEqual([]);
    // The session is free again: an acquire needs no force, and the epoch goes on from the last.
    expect((await operator.acquireLease(session.id, { holder: 'r2' })).session.lease).toMatchObject({ holder: 'r2', epoch: 2 });
  });
});

describe('zero accepted writes from a superseded epoch, under racing take-overs', () => {
  it('in memory: every accepted append present once, every refused one absent, none of epoch e after e+1 was issued', async () => {
    const outcome = await raceTakeOvers(
      Array.from({ length: 4 }, () => instance()),
      { takeOvers: 12, appendsPerWriter: 40 },
    );
    expectFenced(outcome);
  });

  describe('on the stateful S3 fake', () => {
    let fake: S3Fake;
    beforeEach(() => {
      fake = new S3Fake();
      fake.latency = () => (Math.random() < 0.5 ? 0 : 2);
    });
    afterEach(() => fake.restore());

    it('holds the fencing property', async () => {
      const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
      const outcome = await raceTakeOvers(
        Array.from({ length: 4 }, () =>
          instance(new S3ObjectStore({ bucket: 'sessions', client }), new S3ObjectStore({ bucket: 'leases', client })),
        ),
        { takeOvers: 10, appendsPerWriter: 30 },
      );
      expectFenced(outcome);
    });
  });

  describe('on the file store', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'rs-fencing-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('holds the fencing property with each writer its own store on the directory, as separate processes would be', async () => {
      const outcome = await raceTakeOvers(
        Array.from(
          { length: 4 },
          () =>
            new SessionRepository({
              store: new SqliteObjectStore(path.join(dir, 'sessions')),
              renewals: new UnversionedSqliteObjectStore(path.join(dir, 'leases')),
              config: { casBaseDelayMs: 1, casMaxDelayMs: 10 },
            }),
        ),
        { takeOvers: 10, appendsPerWriter: 30 },
      );
      expectFenced(outcome);
    });
  });

  describe.skipIf(!(s3Endpoint.url && s3Endpoint.bucket))(
    `on a real S3 endpoint (${s3Endpoint.url}, bucket ${s3Endpoint.bucket}, unversioned)`,
    () => {
      it('holds the fencing property', async () => {
        const outcome = await raceTakeOvers(
          Array.from(
            { length: 4 },
            () =>
              new SessionRepository({
                store: new S3ObjectStore({ bucket: s3Endpoint.bucket! }),
                renewals: new S3ObjectStore({ bucket: s3Endpoint.bucket! }),
                config: { casBaseDelayMs: 5, casMaxDelayMs: 100 },
              }),
          ),
          { takeOvers: 8, appendsPerWriter: 25 },
        );
        expectFenced(outcome);
      }, 120_000);
    },
  );
});
