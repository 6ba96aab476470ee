import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newestFirstId } from '#lib/domain/ids.ts';
import type { SessionStatus } from '#lib/domain/session.ts';
import { type RepositoryWarning, SessionRepository } from '#lib/sessions/repository.ts';
import { idFromStatusIndexKey, STATUS_INDEXED_KEY, STATUS_PREFIX, statusIndexKey, statusIndexPrefix } from '#lib/sessions/status-index.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { type KeyListOptions, type ListPage, StoreFault, type WriteCondition } from '#lib/storage/port.ts';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const STATUSES: readonly SessionStatus[] = ['active', 'paused', 'completed', 'terminated'];

/** A memory store that counts its requests by kind and prefix, and can wait or fail on chosen ones. */
class ObservedStore extends MemoryObjectStore {
  readonly requests: string[] = [];
  /** Waits before each request (to shuffle concurrent requests), in ms. */
  delay: () => number = () => 0;
  /** Throws a StoreFault instead of answering when it returns true. */
  fails: (request: string) => boolean = () => false;
  /** Holds a request until the promise it returns settles. */
  gate: (request: string) => Promise<void> | undefined = () => undefined;

  async #observe(request: string): Promise<void> {
    this.requests.push(request);
    await this.gate(request);
    const ms = this.delay();
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.fails(request)) throw new StoreFault(`injected: ${request}`);
  }

  override async get(key: string) {
    await this.#observe(`GET ${key}`);
    return super.get(key);
  }

  override async put(key: string, body: string, condition: WriteCondition) {
    await this.#observe(`PUT ${key}`);
    return super.put(key, body, condition);
  }

  override async list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    await this.#observe(`LIST ${prefix}`);
    return super.list(prefix, options);
  }

  override async delete(key: string) {
    await this.#observe(`DELETE ${key}`);
    return super.delete(key);
  }

  count(pattern: RegExp): number {
    return this.requests.filter((request) => pattern.test(request)).length;
  }
}

/** Holds the first `request` to `store` until released; `reached` settles when it arrives. */
function gateOnce(store: ObservedStore, request: string) {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const previous = store.gate;
  store.gate = (incoming) => {
    if (held || incoming !== request) return previous(incoming);
    held = true;
    arrive();
    return released;
  };
  return { reached, release };
}

function setup({ warnings = [] as RepositoryWarning[] } = {}) {
  const sessions = new ObservedStore();
  const index = new ObservedStore();
  let now = T0;
  let sequence = 0;
  const repository = new SessionRepository({
    store: sessions,
    renewals: index,
    clock: () => now,
    sleep: async () => {},
    // Distinct, newest-first IDs even within one millisecond.
    newId: () => newestFirstId(T0 + 10_000_000 - ++sequence),
    onWarning: (warning) => warnings.push(warning),
  });
  return { sessions, index, repository, warnings, tick: (seconds: number) => (now += seconds * 1000) };
}

/** The statuses under which session `id` has an entry. */
async function entriesOf(index: MemoryObjectStore, id: string): Promise<SessionStatus[]> {
  const found: SessionStatus[] = [];
  for (const status of STATUSES) if ((await index.get(statusIndexKey(status, id))) !== undefined) found.push(status);
  return found;
}

describe('keys', () => {
  it('names one entry per status and session ID, status/<status>/<id>.json, and reads the ID back', () => {
    const id = newestFirstId(T0);
    for (const status of STATUSES) {
      const key = statusIndexKey(status, id);
      expect(key).toBe(`status/${status}/${id}.json`);
      expect(key.startsWith(statusIndexPrefix(status))).toBe(true);
      expect(idFromStatusIndexKey(key)).toBe(id);
    }
    expect(idFromStatusIndexKey(STATUS_INDEXED_KEY)).toBeUndefined();
    expect(idFromStatusIndexKey(`status/lost/${id}.json`)).toBeUndefined();
    expect(() => statusIndexKey('active', '../x')).toThrow(RangeError);
    expect(STATUS_INDEXED_KEY.startsWith(STATUS_PREFIX)).toBe(false);
  });
});

describe('the status index kept by every change', () => {
  it('gives a new session its active entry, and moves it with each status change, leaving exactly one', async () => {
    const { repository, index } = setup();
    const { session } = await repository.createSession({ name: 'build' });
    expect(await entriesOf(index, session.id)).toEqual(['active']);

    await repository.setStatus(session.id, 'paused');
    expect(await entriesOf(index, session.id)).toEqual(['paused']);
    await repository.acquireLease(session.id, { holder: 'runner-1' });
    expect(await entriesOf(index, session.id)).toEqual(['active']);
    await repository.setStatus(session.id, 'completed', { leaseEpoch: 1 });
    expect(await entriesOf(index, session.id)).toEqual(['completed']);
  });

  it('moves the entry when a lease expires (active → paused) and when a restore brings back another status', async () => {
    const { repository, index, tick } = setup();
    const { session } = await repository.createSession({ leaseSeconds: 30, holder: 'runner-1' });
    tick(60);
    expect((await repository.expireLapsedLease(session.id, 1, 0)).changed).toBe(true);
    expect(await entriesOf(index, session.id)).toEqual(['paused']);

    await repository.setStatus(session.id, 'terminated');
    const history = await repository.sessionHistory(session.id);
    const pausedVersion = history.versions.find((version) => version.session?.status === 'paused')!;
    await repository.restoreVersion(session.id, pausedVersion.version_id);
    expect(await entriesOf(index, session.id)).toEqual(['paused']);
  });

  it('writes nothing to the index for appends, heartbeats or changes that change no status', async () => {
    const { repository, index } = setup();
    const { session } = await repository.createSession({ leaseSeconds: 60, holder: 'runner-1' });
    const before = index.count(/ status\//);

    for (let job = 0; job < 20; job++) await repository.addJob(session.id, `job-${job}`, { leaseEpoch: 1 });
    await repository.heartbeat(session.id, 1);
    await repository.setStatus(session.id, 'active', { leaseEpoch: 1 });
    await repository.acquireLease(session.id, { holder: 'runner-2', force: true });

    expect(index.count(/ status\//)).toBe(before);
  });

  it('leaves no entry behind for a change that was refused after its entry was made', async () => {
    const { repository, index } = setup();
    const { session } = await repository.createSession();
    await repository.setStatus(session.id, 'terminated');
    // A PATCH to completed on a terminated session is refused before anything is written; its entry must not stay.
    await expect(repository.setStatus(session.id, 'completed')).rejects.toThrow();
    expect(await entriesOf(index, session.id)).toEqual(['terminated']);
  });

  it('for any sequence of changes, each session has exactly the entry of its status', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(2), fc.constantFrom('pause', 'resume', 'complete', 'terminate', 'expire', 'restore')), {
          maxLength: 25,
        }),
        async (steps) => {
          const { repository, index, tick } = setup();
          const ids = [];
          for (let n = 0; n < 3; n++) ids.push((await repository.createSession({ leaseSeconds: 10, holder: `r-${n}` })).session.id);
          for (const [which, step] of steps) {
            const id = ids[which]!;
            const attempt = async () => {
              switch (step) {
                case 'pause':
                  return repository.setStatus(id, 'paused');
                case 'resume':
                  return repository.acquireLease(id, { holder: 'r', force: true });
                case 'complete':
                  return repository.setStatus(id, 'completed');
                case 'terminate':
                  return repository.setStatus(id, 'terminated');
                case 'expire': {
                  tick(30);
                  const lease = (await repository.storedSession(id))?.lease;
                  return lease ? repository.expireLapsedLease(id, lease.epoch, 0) : undefined;
                }
                case 'restore': {
                  const { versions } = await repository.sessionHistory(id, { limit: 5 });
                  const target = versions.at(-1);
                  return target ? repository.restoreVersion(id, target.version_id) : undefined;
                }
              }
            };
            await attempt().catch(() => undefined);
          }
          for (const id of ids) {
            const status = (await repository.storedSession(id))!.status;
            expect(await entriesOf(index, id)).toEqual([status]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('makes the entry again when a writer moved the session back into the status whose entry another was deleting', async () => {
    const { repository, index } = setup();
    const { session } = await repository.createSession();
    const deleting = gateOnce(index, `DELETE ${statusIndexKey('active', session.id)}`);

    // The pause lands, then its delete of the active entry waits...
    const pause = repository.setStatus(session.id, 'paused');
    await deleting.reached;
    // ...while a take-over moves the session back to active (its entry is still there, so it makes none).
    await repository.acquireLease(session.id, { holder: 'runner-2', force: true });
    deleting.release();
    await pause;

    expect((await repository.storedSession(session.id))!.status).toBe('active');
    expect(await entriesOf(index, session.id)).toEqual(['active']);
  });

  it('makes the entry again after its write, when a delete came between the entry made before it and the write', async () => {
    const { repository, index, sessions } = setup();
    const { session } = await repository.createSession();
    const deleting = gateOnce(index, `DELETE ${statusIndexKey('active', session.id)}`);
    const pause = repository.setStatus(session.id, 'paused');
    await deleting.reached;

    // The take-over finds the active entry still there, and its write waits...
    const writing = gateOnce(sessions, `PUT ${`sessions/${session.id}.json`}`);
    const takeOver = repository.acquireLease(session.id, { holder: 'runner-2', force: true });
    await writing.reached;
    // ...while the pause deletes the entry and reads the session: still paused, so it makes none.
    deleting.release();
    await pause;
    expect(await entriesOf(index, session.id)).toEqual(['paused']);
    writing.release();
    await takeOver;

    expect((await repository.storedSession(session.id))!.status).toBe('active');
    expect(await entriesOf(index, session.id)).toEqual(['active']);
  });

  it('answers a change whose index update failed after the write as done, with a warning; the entry made before it stands', async () => {
    const { repository, index, warnings } = setup();
    const { session } = await repository.createSession();
    index.fails = (request) => request.startsWith('DELETE ');

    const result = await repository.setStatus(session.id, 'completed');

    expect(result.session.status).toBe('completed');
    expect(warnings.map((warning) => warning.message)).toContain('could not bring the status index up to date after a change');
    // The stale active entry stays (readers skip it); the completed one was made before the write.
    expect(await entriesOf(index, session.id)).toEqual(['active', 'completed']);
  });

  it('refuses a change whose entry could not be made before the write, and writes nothing', async () => {
    const { repository, index, sessions } = setup();
    const { session } = await repository.createSession();
    index.fails = (request) => request.startsWith(`PUT ${statusIndexPrefix('completed')}`);
    const writes = sessions.count(/^PUT sessions\//);

    await expect(repository.setStatus(session.id, 'completed')).rejects.toBeInstanceOf(StoreFault);

    expect(sessions.count(/^PUT sessions\//)).toBe(writes);
    expect((await repository.storedSession(session.id))!.status).toBe('active');
  });
});

describe('status listings through the index', () => {
  /** `actives` active sessions among `others` completed ones, the index complete. */
  async function fleet(actives: number, others: number) {
    const context = setup();
    const { repository } = context;
    const active: string[] = [];
    const total = actives + others;
    for (let n = 0; n < total; n++) {
      const { session } = await repository.createSession({ name: `s-${n}` });
      // Exactly `actives` of them, spread over the whole listing.
      if (Math.floor((n * actives) / total) !== Math.floor(((n + 1) * actives) / total)) active.push(session.id);
      else await repository.setStatus(session.id, 'completed');
    }
    await repository.backfillStatusIndex();
    return { ...context, active };
  }

  it('lists 10 active sessions among 2,000 with one index listing and one read each, where a scan reads every session', async () => {
    const { repository, index, sessions, active } = await fleet(10, 1_990);
    const scan = new SessionRepository({ store: sessions, renewals: new MemoryObjectStore() });
    sessions.requests.length = 0;
    const scanned = await scan.listSessions({ status: 'active', limit: 50 });
    const scanRequests = sessions.requests.length;
    // The scan stops at its budget and hands back a cursor: walk it to the end.
    let cursor = scanned.nextCursor;
    const found = scanned.sessions.map((session) => session.id);
    while (cursor !== null) {
      const page = await scan.listSessions({ status: 'active', limit: 50, cursor });
      found.push(...page.sessions.map((session) => session.id));
      cursor = page.nextCursor;
    }
    const scanTotal = sessions.requests.length;

    sessions.requests.length = 0;
    index.requests.length = 0;
    const page = await repository.listSessions({ status: 'active', limit: 50 });

    expect(page.sessions.map((session) => session.id)).toEqual(active);
    expect(found).toEqual(active);
    expect(page.nextCursor).toBeNull();
    expect(index.requests).toEqual([`LIST ${statusIndexPrefix('active')}`]);
    expect(sessions.requests).toHaveLength(10);
    expect(scanRequests + scanTotal).toBeGreaterThan(2_000);
  });

  it('pages through the index by cursor, newest first, each session once', async () => {
    const { repository, active } = await fleet(120, 30);
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await repository.listSessions({ status: 'active', limit: 50, ...(cursor ? { cursor } : {}) });
      seen.push(...page.sessions.map((session) => session.id));
      sizes.push(page.sessions.length);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);

    expect(sizes).toEqual([50, 50, 20]);
    expect(seen).toEqual(active);
    expect([...seen].sort().reverse()).toEqual(seen.slice().sort().reverse());
  });

  it('skips an entry whose session is in another status or does not exist', async () => {
    const { repository, index, active } = await fleet(3, 3);
    const completed = (await repository.listSessions({ status: 'completed' })).sessions[0]!;
    await index.put(statusIndexKey('active', completed.id), '{}', { ifNoneMatch: '*' });
    await index.put(statusIndexKey('active', newestFirstId(T0 + 20_000_000)), '{}', { ifNoneMatch: '*' });

    const page = await repository.listSessions({ status: 'active' });

    expect(page.sessions.map((session) => session.id)).toEqual(active);
  });

  it('scans, as before, until the backfill marked the index complete; the backfill resumes where it stopped', async () => {
    const { repository, index, sessions } = setup();
    const created = [];
    for (let n = 0; n < 25; n++) created.push((await repository.createSession()).session.id);
    // A store written before the index existed: no entries, no marker.
    for (const id of created) await index.delete(statusIndexKey('active', id));
    const pausedBefore = created.slice(0, 5);
    for (const id of pausedBefore) await repository.setStatus(id, 'paused');

    expect((await repository.listSessions({ status: 'active' })).sessions).toHaveLength(20);
    index.requests.length = 0;
    await repository.listSessions({ status: 'active' });
    expect(index.count(/^LIST status\//)).toBe(0);

    const first = await repository.backfillStatusIndex({ limit: 10 });
    expect(first).toEqual({ indexed: 10, complete: false });
    expect(JSON.parse((await index.get(STATUS_INDEXED_KEY))!.body)).toMatchObject({ complete: false, after: created[9] });
    expect((await repository.listSessions({ status: 'active' })).sessions).toHaveLength(20);
    // Another instance picks up where it stopped.
    const other = new SessionRepository({ store: sessions, renewals: index });
    expect(await other.backfillStatusIndex()).toEqual({ indexed: 15, complete: true });
    expect(await repository.backfillStatusIndex()).toEqual({ indexed: 0, complete: true });

    index.requests.length = 0;
    const active = await repository.listSessions({ status: 'active' });
    const paused = await repository.listSessions({ status: 'paused' });
    expect(active.sessions.map((session) => session.id)).toEqual(created.slice(5));
    expect(paused.sessions.map((session) => session.id)).toEqual(pausedBefore);
    expect(index.count(/^LIST status\//)).toBe(2);
  });
});
