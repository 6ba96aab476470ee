import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SessionsClient } from '#lib/client/client.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { STATUS_INDEXED_KEY, statusIndexKey } from '#lib/sessions/status-index.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake, s3Error } from '../../helpers/s3-fake.ts';
import {
  cli,
  createVariety,
  exportFrom,
  linesFile,
  type Served,
  serve,
  serveDataDir,
  tempDir,
  type Variety,
} from './export-import-helpers.ts';

/** A field this version does not know, kept by every reader and writer. */
const UNKNOWN = { x_origin: { system: 'rust', build: 7 }, x_tags: ['a', 'b'] };

describe('runner-sessions export and import: the round trip through a fresh store', () => {
  let source: Served;
  let sourceStore: MemoryObjectStore;
  let variety: Variety;
  let exported: string[];
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let file: string;

  beforeAll(async () => {
    sourceStore = new MemoryObjectStore();
    source = await serve(sourceStore, new MemoryObjectStore());
    variety = await createVariety(source.url);
    // Fields of a newer (or older) writer, on the session and inside its lease, as another version would have stored them.
    for (const [id, patch] of [
      [variety.unicode, (session: Record<string, unknown>) => Object.assign(session, UNKNOWN)],
      [variety.takenOver, (session: Record<string, any>) => ({ ...session, lease: { ...session.lease, x_note: 'kept' } })],
    ] as const) {
      const stored = (await sourceStore.get(sessionKey(id)))!;
      await sourceStore.put(sessionKey(id), JSON.stringify(patch(JSON.parse(stored.body))), { ifMatch: stored.etag });
    }
    dir = await tempDir('export-import');
    const run = await exportFrom(source.url);
    expect(run.code).toBe(0);
    exported = run.lines;
    file = await linesFile(dir.dir, 'sessions.jsonl', exported);
  });

  afterAll(async () => {
    await source?.close();
    await dir?.remove();
  });

  let fake: S3Fake;
  beforeEach(() => {
    fake = new S3Fake();
  });
  afterEach(() => fake.restore());

  it('exports every session once, newest first, each line exactly what GET /sessions/{id} answers', async () => {
    const client = new SessionsClient({ baseUrl: source.url, sign: false });
    const ids = exported.map((line) => JSON.parse(line).id as string);

    // Newest first is ascending ID order (sessions created within one millisecond are in random order).
    expect(ids).toEqual(Object.values(variety).toSorted());
    for (const line of exported) expect(line).toBe(JSON.stringify((await client.getSession(JSON.parse(line).id)).session));
    const byId = new Map(exported.map((line) => [JSON.parse(line).id as string, JSON.parse(line)]));
    expect(byId.get(variety.unicode)).toMatchObject({ name: 'sessión ✓ 日本', ...UNKNOWN });
    expect(byId.get(variety.takenOver).lease).toMatchObject({ holder: 'runner-4', epoch: 2, taken_over: true, x_note: 'kept' });
    expect(byId.get(variety.released).lease).toMatchObject({ ended: 'released' });
    const held = byId.get(variety.held);
    // The heartbeat extended the lease beyond what the session itself records: the export shows it extended.
    expect(held.lease.expires_at).toBeGreaterThanOrEqual(held.created_at + 3600);
  });

  it('imports into a fresh bucket, and that store served gives an export with identical lines', async () => {
    // A store whose status index is in use (backfilled), as a deployed one: listings by status read the entries import writes.
    fake.seed(STATUS_INDEXED_KEY, JSON.stringify({ complete: true, at: 0 }));

    const imported = await cli(['import', file, '--bucket', 'target']);

    expect(imported).toMatchObject({ code: 0, err: '' });
    expect(imported.out).toBe(`imported ${exported.length}, already there 0, skipped 0 (0 there with other content, 0 not sessions)\n`);
    const target = await serve(new S3ObjectStore({ bucket: 'target' }), new S3ObjectStore({ bucket: 'target' }));
    try {
      const again = await exportFrom(target.url);
      expect(again.code).toBe(0);
      expect(again.lines).toEqual(exported);

      const client = new SessionsClient({ baseUrl: target.url, sign: false });
      const ids = async (filter: Parameters<SessionsClient['listSessions']>[0]) =>
        (await client.listSessions(filter)).sessions.map((session) => session.id);
      expect(await ids({ name: 'alpha' })).toEqual([variety.alphaPaused, variety.alphaActive]);
      expect(await ids({ name: 'sessión ✓ 日本' })).toEqual([variety.unicode]);
      expect(await ids({ status: 'active' })).toEqual([variety.unicode, variety.takenOver, variety.held, variety.alphaActive]);
      expect(await ids({ status: 'paused' })).toEqual([variety.released, variety.alphaPaused]);
      expect(await ids({ status: 'completed' })).toEqual([variety.betaCompleted]);
      expect(await ids({ status: 'terminated' })).toEqual([variety.unnamedTerminated]);
      // The held lease goes on: its holder's heartbeat lands, and a change without its epoch is refused.
      await expect(client.heartbeat(variety.held, 1)).resolves.toMatchObject({ holder: 'runner-1', epoch: 1 });
      await expect(client.addJob(variety.held, 'job-9')).rejects.toMatchObject({ code: 'lease_required' });
    } finally {
      await target.close();
    }
  });

  it('writes the name and status entries and the renewal record of an open lease, nothing of a closed one', async () => {
    await cli(['import', file, '--bucket', 'target']);

    expect(fake.body(nameIndexKey('alpha', variety.alphaActive))).toBeDefined();
    expect(fake.body(nameIndexKey('alpha', variety.alphaPaused))).toBeDefined();
    expect(fake.body(statusIndexKey('paused', variety.alphaPaused))).toBeDefined();
    expect(fake.body(statusIndexKey('active', variety.alphaPaused))).toBeUndefined();
    expect(fake.body(`leases/${variety.held}/1-600.json`)).toBeDefined();
    expect(fake.body(`leases/${variety.takenOver}/2-900.json`)).toBeDefined();
    expect([...fake.objects.keys()].filter((key) => key.startsWith(`leases/${variety.released}/`))).toEqual([]);
    expect([...fake.objects.keys()].filter((key) => key.startsWith('names/')).length).toBe(7);
    expect(fake.puts.every((put) => put.IfNoneMatch === '*')).toBe(true);
  });

  it('imported again, changes nothing: every session already there, exit 0, not one write', async () => {
    await cli(['import', file, '--bucket', 'target']);
    const before = structuredClone([...fake.versions.entries()]);
    fake.resetCounts();

    const again = await cli(['import', file, '--bucket', 'target']);

    expect(again).toMatchObject({ code: 0, err: '' });
    expect(again.out).toBe(`imported 0, already there ${exported.length}, skipped 0 (0 there with other content, 0 not sessions)\n`);
    expect(fake.requests.PutObject).toBe(0);
    expect([...fake.versions.entries()]).toEqual(before);
  });

  it('skips, reports and never overwrites a session already there with other content (exit 6)', async () => {
    await cli(['import', file, '--bucket', 'target']);
    const index = exported.findIndex((line) => JSON.parse(line).id === variety.alphaActive);
    const changed = JSON.stringify({ ...JSON.parse(exported[index]!), status: 'terminated', job_ids: ['other'] });
    const conflicting = await linesFile(dir.dir, 'conflicting.jsonl', exported.with(index, changed));
    const before = fake.body(sessionKey(variety.alphaActive));
    fake.resetCounts();

    const run = await cli(['import', conflicting, '--bucket', 'target', '--json']);

    expect(run.code).toBe(6);
    expect(run.err).toBe(
      `runner-sessions import: line ${index + 1}: session ${variety.alphaActive} is already there with other content; skipped, not overwritten\n`,
    );
    expect(JSON.parse(run.out)).toEqual({ imported: 0, identical: exported.length - 1, conflicts: 1, bad: 0 });
    expect(fake.body(sessionKey(variety.alphaActive))).toBe(before);
    // Read first: the conflicting content got no index entry either.
    expect(fake.body(statusIndexKey('terminated', variety.alphaActive))).toBeUndefined();
    expect(fake.requests.PutObject).toBe(0);
  });

  it('reports bad lines by number and skips them, importing the rest (exit 6)', async () => {
    const session = JSON.parse(exported[0]!);
    const lines = [
      exported[0]!,
      'not json',
      JSON.stringify({ ...session, id: 'xyz' }),
      '',
      JSON.stringify({ ...session, job_ids: ['ok', 'bad\u0007'] }),
      JSON.stringify({ ...session, status: 'gone' }),
      exported[1]!,
    ];
    const bad = await linesFile(dir.dir, 'bad.jsonl', lines);

    const run = await cli(['import', bad, '--bucket', 'target']);

    expect(run.code).toBe(6);
    const reported = run.err.trimEnd().split('\n');
    expect(reported.map((line) => /line (\d+):/.exec(line)?.[1])).toEqual(['2', '3', '5', '6']);
    expect(reported[0]).toMatch(/^runner-sessions import: line 2: not JSON \(.+\); skipped$/);
    expect(reported[1]).toMatch(/line 3: not a session: id .+; skipped$/);
    expect(reported[2]).toMatch(/line 5: not a session: job_ids\.1 must not contain control characters; skipped$/);
    expect(run.out).toBe('imported 2, already there 0, skipped 4 (0 there with other content, 4 not sessions)\n');
    expect([...fake.objects.keys()].filter((key) => key.startsWith('sessions/')).length).toBe(2);
  });

  it('stops with exit 5 when the store is unavailable, and a second run finishes the job', async () => {
    // Three session writes fail (the fake answers without the SDK's retries); the other five land.
    fake.fail('PutObject', s3Error('ServiceUnavailable', 503), { times: 3, when: (input) => String(input.Key).startsWith('sessions/') });

    const failed = await cli(['import', file, '--bucket', 'target']);
    const resumed = await cli(['import', file, '--bucket', 'target']);

    expect(failed.code).toBe(5);
    expect(failed.err).toMatch(
      /the store is unavailable \(.*ServiceUnavailable\); stopped after imported 5, .*Running the same import again carries on/,
    );
    expect(resumed).toMatchObject({ code: 0, err: '' });
    expect(resumed.out).toMatch(/^imported 3, already there 5, skipped 0 /);
    expect([...fake.objects.keys()].filter((key) => key.startsWith('sessions/')).length).toBe(exported.length);
  });

  describe('--data-dir: the embedded store of npm start', () => {
    it('imports into a fresh data directory that npm start then serves with identical lines, and again changes nothing', async () => {
      const dataDir = `${dir.dir}/data-${Date.now()}`;

      const imported = await cli(['import', file, '--data-dir', dataDir]);
      const again = await cli(['import', file, '--data-dir', dataDir]);
      const target = await serveDataDir(dataDir);
      try {
        const exportedAgain = await exportFrom(target.url);
        const client = new SessionsClient({ baseUrl: target.url, sign: false });
        const named = await client.listSessions({ name: 'alpha' });
        const paused = await client.listSessions({ status: 'paused' });

        expect(imported).toMatchObject({ code: 0, err: '' });
        expect(imported.out).toMatch(new RegExp(`^imported ${exported.length}, already there 0, skipped 0 `));
        expect(again).toMatchObject({ code: 0, err: '' });
        expect(again.out).toMatch(new RegExp(`^imported 0, already there ${exported.length}, skipped 0 `));
        expect(exportedAgain.lines).toEqual(exported);
        expect(named.sessions.map((session) => session.id)).toEqual([variety.alphaPaused, variety.alphaActive]);
        expect(paused.sessions.map((session) => session.id)).toEqual([variety.released, variety.alphaPaused]);
      } finally {
        await target.close();
      }
    });
  });
});
