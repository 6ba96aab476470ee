import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionNotFound } from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { renewalKey } from '#lib/domain/lease.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { PrunableObjectStore, PurgingObjectStore } from '#lib/storage/port.ts';
import { openSqliteStores } from '#lib/storage/sqlite/index.ts';
import { announcedKey } from '#lib/workers/announcer.ts';
import { RetentionSweeper } from '#lib/workers/retention.ts';

const DAY_MS = 86_400_000;
const DAYS = 3;
const T0 = Date.UTC(2026, 0, 1);

interface Stores {
  sessions: PurgingObjectStore & PrunableObjectStore;
  state: PrunableObjectStore;
  cleanup: () => Promise<void>;
}

/** A test clock: every store, the repository and the sweeper read it. */
const clock = { ms: T0, now: () => clock.ms };

const STORES: Array<[string, () => Promise<Stores>]> = [
  [
    'memory',
    async () => ({ sessions: new MemoryObjectStore({ clock }), state: new MemoryObjectStore({ clock }), cleanup: async () => {} }),
  ],
  [
    'SQLite',
    async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'retention-'));
      const stores = openSqliteStores(root, { clock });
      return {
        sessions: stores.sessions,
        state: stores.state,
        cleanup: async () => {
          await stores.sessions.close();
          await rm(root, { recursive: true, force: true });
        },
      };
    },
  ],
];

describe.each(STORES)('retention of ended sessions on the %s store, with a test clock', (_, open) => {
  let stores: Stores;
  let repository: SessionRepository;
  let sweeper: RetentionSweeper;

  beforeEach(async () => {
    clock.ms = T0;
    stores = await open();
    repository = new SessionRepository({ store: stores.sessions, renewals: stores.state, clock: clock.now });
    sweeper = new RetentionSweeper({
      sessions: stores.sessions,
      state: stores.state,
      retentionDays: DAYS,
      idempotencyWindowSeconds: 86_400,
      clock,
      batch: 2,
    });
    await repository.backfillStatusIndex();
  });

  afterEach(async () => {
    await stores.cleanup();
  });

  /** Everything of session `id` still stored, by key. */
  async function tracesOf(id: string): Promise<string[]> {
    const keys: string[] = [];
    for (const store of [stores.sessions, stores.state]) {
      for (const prefix of ['sessions/', 'names/', 'status/', 'leases/', 'announced/']) {
        keys.push(...(await store.list(prefix, { limit: 1000 })).keys.filter((key) => key.includes(id)));
      }
    }
    return keys;
  }

  async function listed(options: Parameters<SessionRepository['listSessions']>[0] = {}): Promise<string[]> {
    return (await repository.listSessions({ limit: 100, ...options })).sessions.map((session) => session.id);
  }

  it('keeps a session completed at t listed and readable until t + N days, then deletes it with everything that names it', async () => {
    const held = await repository.createSession({ name: 'alpha', leaseSeconds: 60, holder: 'runner', idempotencyKey: 'k-1' });
    const id = held.session.id;
    await repository.addJob(id, 'job-1', { leaseEpoch: 1 });
    await repository.heartbeat(id, 1);
    // A cursor of the announcer, and a renewal record an acquire left behind.
    await stores.state.put(announcedKey(id), '{"etag":"x"}', { ifNoneMatch: '*' });
    await stores.state.put(renewalKey(id, 7, 60), '{}', { ifNoneMatch: '*' });
    clock.ms = T0 + 1_000;
    await repository.setStatus(id, 'completed', { leaseEpoch: 1 });
    const ended = clock.ms;
    expect(await tracesOf(id)).not.toEqual([]);

    clock.ms = ended + DAYS * DAY_MS - 1_000;
    const early = await sweeper.sweep();

    expect(early.purged).toEqual([]);
    expect((await repository.getSession(id)).session.status).toBe('completed');
    expect(await listed()).toContain(id);
    expect(await listed({ name: 'alpha' })).toEqual([id]);
    expect(await listed({ status: 'completed' })).toEqual([id]);

    clock.ms = ended + DAYS * DAY_MS + 1_000;
    const due = await sweeper.sweep();

    expect(due.purged).toEqual([id]);
    await expect(repository.getSession(id)).rejects.toBeInstanceOf(SessionNotFound);
    expect(await listed()).toEqual([]);
    expect(await listed({ name: 'alpha' })).toEqual([]);
    expect(await listed({ status: 'completed' })).toEqual([]);
    expect((await stores.sessions.listVersions(sessionKey(id), { limit: 10 })).versions).toEqual([]);
    expect(await tracesOf(id)).toEqual([]);
    // The idempotency record was past its window and a day: no record of any session is left.
    expect((await stores.sessions.list('idempotency/', { limit: 10 })).keys).toEqual([]);
  });

  it('keeps a session restored before t + N days, and counts again from its next ending', async () => {
    const { session } = await repository.createSession({ name: 'beta' });
    await repository.setStatus(session.id, 'terminated');
    const ended = clock.ms;
    clock.ms = ended + DAYS * DAY_MS - DAY_MS;
    const [, created] = (await repository.sessionHistory(session.id)).versions;
    await repository.restoreVersion(session.id, created!.version_id);

    clock.ms = ended + 10 * DAYS * DAY_MS;
    expect((await sweeper.sweep()).purged).toEqual([]);
    expect((await repository.getSession(session.id)).session.status).toBe('active');

    await repository.setStatus(session.id, 'completed');
    const endedAgain = clock.ms;
    clock.ms = endedAgain + DAYS * DAY_MS - 1_000;
    expect((await sweeper.sweep()).purged).toEqual([]);
    clock.ms = endedAgain + DAYS * DAY_MS;
    expect((await sweeper.sweep()).purged).toEqual([session.id]);
    expect(await tracesOf(session.id)).toEqual([]);
  });

  it('counts from the last write of an ended session, as the deployed lifecycle counts from its last tagged version', async () => {
    const { session } = await repository.createSession({});
    await repository.setStatus(session.id, 'completed');
    const [firstEnding, created] = (await repository.sessionHistory(session.id)).versions;
    await repository.restoreVersion(session.id, created!.version_id);
    await repository.addJob(session.id, 'job-1');
    await repository.setStatus(session.id, 'completed');
    // Two days on, the first ending's content is restored: still completed, written then.
    clock.ms = T0 + 2 * DAY_MS;
    await repository.restoreVersion(session.id, firstEnding!.version_id);

    clock.ms = T0 + DAYS * DAY_MS + 1_000;
    expect((await sweeper.sweep()).purged).toEqual([]);
    clock.ms = T0 + (2 + DAYS) * DAY_MS;
    expect((await sweeper.sweep()).purged).toEqual([session.id]);
  });

  it('never deletes active or paused sessions, however old', async () => {
    const active = (await repository.createSession({ name: 'gamma' })).session.id;
    const paused = (await repository.createSession({})).session.id;
    await repository.setStatus(paused, 'paused');

    clock.ms = T0 + 3650 * DAY_MS;
    const report = await sweeper.sweep();

    expect(report.purged).toEqual([]);
    expect((await repository.getSession(active)).session.status).toBe('active');
    expect((await repository.getSession(paused)).session.status).toBe('paused');
    expect((await listed()).sort()).toEqual([active, paused].sort());
  });

  it('keeps a session that a change reached between the sweep reading it and purging it', async () => {
    const { session } = await repository.createSession({});
    await repository.setStatus(session.id, 'completed');
    clock.ms = T0 + DAYS * DAY_MS + 1_000;
    const [, created] = (await repository.sessionHistory(session.id)).versions;
    const purge = stores.sessions.purge.bind(stores.sessions);
    stores.sessions.purge = async (key, ifMatch) => {
      if (key === sessionKey(session.id)) await repository.restoreVersion(session.id, created!.version_id);
      return purge(key, ifMatch);
    };

    const report = await sweeper.sweep();

    expect(report.purged).toEqual([]);
    expect((await repository.getSession(session.id)).session.status).toBe('active');
  });

  it('purges many in batches of the configured size, all of them in one pass', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 7; n++) {
      const { session } = await repository.createSession({ name: `n${n % 2}` });
      await repository.setStatus(session.id, n % 2 === 0 ? 'completed' : 'terminated');
      ids.push(session.id);
    }
    clock.ms = T0 + DAYS * DAY_MS + 1_000;

    const report = await sweeper.sweep();

    expect(report.purged.sort()).toEqual([...ids].sort());
    expect(await listed()).toEqual([]);
    for (const id of ids) expect(await tracesOf(id)).toEqual([]);
  });
});
