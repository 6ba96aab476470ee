import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { FileObjectStore, LegacyDataDirectory } from '#lib/storage/file/index.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { FileObjectStore as LegacyFileObjectStore } from '../../fixtures/legacy-file-store/index.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');
const SCRIPT = path.join(REPO, 'scripts/migrate-data.ts');
const MIGRATION_MODULE = pathToFileURL(path.join(REPO, 'lib/storage/file/migration.ts')).href;
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

/** Every version of a key as a store lists them, oldest first, with its body, ETag and time. */
interface SeenVersion {
  body: string;
  etag: string;
  ms: number;
}

interface Expected {
  keys: Map<string, { current: string | undefined; versions: SeenVersion[] }>;
  histories: Map<string, unknown[]>;
}

type VersionReader = Pick<FileObjectStore, 'listVersions' | 'getVersion' | 'get'>;

async function versionsOf(store: VersionReader, key: string): Promise<SeenVersion[]> {
  const seen: SeenVersion[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listVersions(key, { limit: 7, ...(cursor === undefined ? {} : { cursor }) });
    for (const version of page.versions) {
      const stored = await store.getVersion(key, version.versionId);
      seen.push({ body: stored!.body, etag: version.etag, ms: version.lastModified.getTime() });
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return seen.reverse();
}

async function historyOf(repository: SessionRepository, id: string): Promise<unknown[]> {
  const entries: unknown[] = [];
  let cursor: string | null = null;
  do {
    const page = await repository.sessionHistory(id, { limit: 3, ...(cursor === null ? {} : { cursor }) });
    // Version IDs are renumbered by the migration; everything else must be as it was.
    for (const { version_id: _id, ...entry } of page.versions) entries.push(entry);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return entries;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const versionId = (seq: number, ms: number, body: string) =>
  `${String(seq).padStart(12, '0')}-${String(ms).padStart(13, '0')}-${md5(body)}`;

/**
 * An old-layout data directory written by the earlier store: sessions with
 * their histories, plus the states a crash or an older release left there.
 */
async function buildLegacy(root: string): Promise<{ sessionIds: string[]; keys: string[] }> {
  let tick = T0;
  const legacy = new LegacyFileObjectStore(root, { clock: { now: () => (tick += 1000) } });
  const repository = new SessionRepository({
    renewals: new MemoryObjectStore(),
    store: legacy,
    clock: () => tick,
    config: { casBaseDelayMs: 0, casMaxDelayMs: 0 },
  });
  const sessionIds: string[] = [];
  for (let s = 0; s < 4; s++) {
    const { session } = await repository.createSession({ name: `build-${s}`, actor: 'ci' });
    for (let j = 0; j < 3 + s; j++) await repository.addJob(session.id, `job-${s}-${j}`, { actor: `runner-${j}` });
    if (s % 2 === 0) await repository.setStatus(session.id, 'completed', { actor: 'ci' });
    sessionIds.push(session.id);
  }
  let etag = await legacy.put('misc/plain.txt', 'one', { ifNoneMatch: '*' });
  etag = await legacy.put('misc/plain.txt', 'two', { ifMatch: etag });
  await legacy.put('misc/plain.txt', 'three', { ifMatch: etag });
  await legacy.put('misc/ünïcode key.json', '{"ok":true}', { ifNoneMatch: '*' });

  const objects = path.join(root, 'objects');
  // Written before versions were kept: no versions directory, its version is `null`.
  await mkdir(path.join(objects, 'old%2F'), { recursive: true });
  await writeFile(path.join(objects, 'old%2F', 'before-versions.json'), '{"v":0}');
  await utimes(path.join(objects, 'old%2F', 'before-versions.json'), new Date(T0 - 60_000), new Date(T0 - 60_000));
  // Replaced in place (by an older release) after its versions: its new body is the `null` version, latest.
  const replacedFile = path.join(objects, 'misc%2F', 'replaced.txt');
  etag = await legacy.put('misc/replaced.txt', 'recorded', { ifNoneMatch: '*' });
  await writeFile(`${replacedFile}~tmp-hand`, 'by hand');
  await rename(`${replacedFile}~tmp-hand`, replacedFile);
  // A write that crashed before its commit: an orphan `~new` record, not the object's inode, never a version.
  const crashedVersions = path.join(objects, 'misc%2F', 'plain.txt~versions');
  await writeFile(path.join(crashedVersions, `${versionId(4, tick + 5000, 'never')}~new`), 'never');
  // A write that crashed after its commit, before its record was renamed: the `~new` record is the object, a version.
  const pendingKey = 'misc/pending.txt';
  etag = await legacy.put(pendingKey, 'first', { ifNoneMatch: '*' });
  const written = await legacy.putVersion(pendingKey, 'second', { ifMatch: etag });
  const pendingVersions = path.join(objects, 'misc%2F', 'pending.txt~versions');
  await rename(path.join(pendingVersions, written.versionId!), path.join(pendingVersions, `${written.versionId}~new`));
  // Leftovers of crashed writes: a temporary body, and a lock draft of a process long gone.
  await writeFile(path.join(objects, 'misc%2F', 'plain.txt~tmp-0123456789abcdef'), 'half a bo');
  await writeFile(path.join(objects, 'misc%2F', '~lock~new-1-dead'), JSON.stringify({ pid: 999_999_999, host: hostname(), token: 'x' }));
  // Only versions left (the object removed by hand): S3 keeps the versions of a deleted key.
  await legacy.put('misc/removed.txt', 'gone', { ifNoneMatch: '*' });
  await rm(path.join(objects, 'misc%2F', 'removed.txt'));

  // Every key the earlier store lists (sessions, their name index and idempotency records, the rest), and the one it cannot.
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await legacy.list('', { limit: 5, ...(startAfter === undefined ? {} : { startAfter }) });
    keys.push(...page.keys);
    if (!page.truncated) break;
    startAfter = page.keys.at(-1);
  }
  const listed = [...sessionIds.map((id) => `sessions/${id}.json`), 'misc/plain.txt', 'misc/ünïcode key.json', 'old/before-versions.json'];
  expect(keys).toEqual(expect.arrayContaining([...listed, 'misc/replaced.txt', pendingKey]));
  keys.push('misc/removed.txt');
  return { sessionIds, keys };
}

/** What the earlier store itself reads from `root`: the oracle the migrated store is checked against. */
async function expectedOf(root: string, keys: string[], sessionIds: string[]): Promise<Expected> {
  const legacy = new LegacyFileObjectStore(root);
  const expected: Expected = { keys: new Map(), histories: new Map() };
  for (const key of keys) expected.keys.set(key, { current: (await legacy.get(key))?.body, versions: await versionsOf(legacy, key) });
  const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store: legacy });
  for (const id of sessionIds) expected.histories.set(id, await historyOf(repository, id));
  return expected;
}

async function expectMigrated(root: string, expected: Expected): Promise<void> {
  const store = new FileObjectStore(root);
  for (const [key, { current, versions }] of expected.keys) {
    expect((await store.get(key))?.body, key).toBe(current);
    expect(await versionsOf(store, key), key).toEqual(versions);
  }
  const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store });
  for (const [id, history] of expected.histories) expect(await historyOf(repository, id)).toEqual(history);
  const names = await readdir(root);
  expect(names.filter((name) => !name.startsWith('objects~migrated-')).sort()).toEqual(['log', 'store.json']);
  expect(names.filter((name) => name.startsWith('objects~migrated-'))).toHaveLength(1);
  await store.close();
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runNode(args: string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf-8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf-8')));
    if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const migrate = (dir: string) => runNode([SCRIPT, dir]);

describe('npm run migrate-data', () => {
  let scratch: string;
  let template: string;
  let built: { sessionIds: string[]; keys: string[] };
  let expected: Expected;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'migrate-data-'));
    template = path.join(scratch, 'template');
    built = await buildLegacy(template);
    expected = await expectedOf(template, built.keys, built.sessionIds);
  }, 60_000);

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  /** A fresh copy of the old-layout directory (hard links, times and all). */
  function copyOfTemplate(name: string): string {
    const dir = path.join(scratch, name);
    execFileSync('cp', ['-a', template, dir]);
    return dir;
  }

  it('is the package script the refusal names', async () => {
    const { readFile } = await import('node:fs/promises');
    const scripts = (JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf-8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['migrate-data']).toBe('node scripts/require-node.cjs && node scripts/migrate-data.ts');
  });

  it('builds an old directory the earlier store reads as expected (the oracle is sound)', () => {
    const plain = expected.keys.get('misc/plain.txt')!;
    expect(plain.versions.map((version) => version.body)).toEqual(['one', 'two', 'three']);
    expect(expected.keys.get('old/before-versions.json')!.versions).toEqual([
      { body: '{"v":0}', etag: `"${md5('{"v":0}')}"`, ms: T0 - 60_000 },
    ]);
    expect(expected.keys.get('misc/replaced.txt')!.versions.map((version) => version.body)).toEqual(['recorded', 'by hand']);
    expect(expected.keys.get('misc/pending.txt')!.versions.map((version) => version.body)).toEqual(['first', 'second']);
    expect(expected.keys.get('misc/removed.txt')).toEqual({ current: undefined, versions: [expect.objectContaining({ body: 'gone' })] });
    for (const history of expected.histories.values()) expect(history.length).toBeGreaterThan(3);
  });

  it('moves every key, version, body, time and history into the new layout, says what it did, and does nothing when run again', async () => {
    const dir = copyOfTemplate('once');
    expect(() => new FileObjectStore(dir)).toThrow(LegacyDataDirectory);

    const run = await migrate(dir);
    expect(run.code, run.stderr).toBe(0);
    const versionCount = [...expected.keys.values()].reduce((sum, key) => sum + key.versions.length, 0);
    expect(run.stdout).toContain(
      `migrated ${expected.keys.size} keys, ${versionCount} versions (1 keys with only versions left were kept deleted)`,
    );
    expect(run.stdout).toMatch(/version IDs were renumbered: [1-9]\d* of \d+ changed/);
    expect(run.stdout).toMatch(/bytes before: [\d,]+ B under objects\/; after: [\d,]+ B/);
    await expectMigrated(dir, expected);

    const again = await migrate(dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to migrate');
    await expectMigrated(dir, expected);
  }, 60_000);

  it('refuses a directory whose lock a running process holds, and changes nothing', async () => {
    const dir = copyOfTemplate('locked');
    await writeFile(path.join(dir, 'store~lock'), JSON.stringify({ pid: process.pid, host: hostname(), token: 'server' }));

    const run = await migrate(dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is in use');
    expect((await readdir(dir)).sort()).toEqual(['objects', 'store~lock']);
    expect(() => new FileObjectStore(dir)).toThrow(LegacyDataDirectory);
  }, 30_000);

  it.each(['written', 'format-in-place', 'log-in-place', 'objects-aside'])(
    'after a crash right after the step "%s", the old layout is intact or the new one complete, and a second run finishes',
    async (step) => {
      const dir = copyOfTemplate(`crash-${step}`);
      const script = `
        const { migrateDataDirectory } = await import(${JSON.stringify(MIGRATION_MODULE)});
        const afterStep = (step) => { if (step === ${JSON.stringify(step)}) process.kill(process.pid, 'SIGKILL'); };
        await migrateDataDirectory(${JSON.stringify(dir)}, { afterStep });
      `;
      const crashed = await runNode(['--input-type=module', '--eval', script]);
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      await expectOldOrNew(dir, expected);

      const run = await migrate(dir);
      expect(run.code, run.stderr).toBe(0);
      await expectMigrated(dir, expected);
    },
    60_000,
  );

  it('after SIGKILLs at random points, the old layout is intact or the new one complete, and a last run finishes', async () => {
    for (let round = 0; round < 6; round++) {
      const dir = copyOfTemplate(`killed-${round}`);
      for (let attempt = 0; attempt < 3; attempt++) {
        const killed = await runNode([SCRIPT, dir], 50 + Math.random() * 600);
        if (killed.signal !== 'SIGKILL') expect(killed.code, killed.stderr).toBe(0);
        await expectOldOrNew(dir, expected);
      }
      const run = await migrate(dir);
      expect(run.code, run.stderr).toBe(0);
      await expectMigrated(dir, expected);
    }
  }, 180_000);
});

/** Either the earlier store still reads everything as before and the new one refuses the directory, or the new store reads it all. */
async function expectOldOrNew(dir: string, expected: Expected): Promise<void> {
  let legacyStill = false;
  try {
    await new FileObjectStore(dir).close();
  } catch (error) {
    expect(error).toBeInstanceOf(LegacyDataDirectory);
    legacyStill = true;
  }
  if (!legacyStill) {
    const store = new FileObjectStore(dir);
    for (const [key, { current, versions }] of expected.keys) {
      expect((await store.get(key))?.body, key).toBe(current);
      expect(await versionsOf(store, key), key).toEqual(versions);
    }
    await store.close();
    return;
  }
  const legacy = new LegacyFileObjectStore(dir);
  for (const [key, { current, versions }] of expected.keys) {
    expect((await legacy.get(key))?.body, key).toBe(current);
    expect(await versionsOf(legacy, key), key).toEqual(versions);
  }
}
