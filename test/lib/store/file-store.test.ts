import { spawn } from 'node:child_process';
import { link, mkdir, mkdtemp, open, readdir, readFile, realpath, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileObjectStore, InvalidKey } from '#lib/store/file/index.ts';
import { ConditionNotMet, StoreFault, UnknownVersion } from '#lib/store/port.ts';
import { describeObjectStoreConformance, describeVersionedStoreConformance, inBatches, listAll, md5Etag } from './conformance.ts';

// Pass-through spies, so a test can tell whether an operation opened object files at all.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, readFile: vi.fn(actual.readFile), open: vi.fn(actual.open) };
});

const STORE_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../../lib/store/file/index.ts')).href;

describeObjectStoreConformance('FileObjectStore on a temporary directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
  return { store: new FileObjectStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describeVersionedStoreConformance(
  'FileObjectStore on a temporary directory',
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
    return { store: new FileObjectStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
  },
  { conditionalWrites: true },
);

describe('FileObjectStore', () => {
  let scratch: string;
  let root: string;
  let store: FileObjectStore;

  beforeEach(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'file-store-'));
    root = path.join(scratch, 'data');
    store = new FileObjectStore(root);
  });

  afterEach(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('creates the data directory when it is missing', async () => {
    const nested = path.join(scratch, 'a', 'b', 'data');

    const created = new FileObjectStore(nested);

    expect((await stat(path.join(nested, 'objects'))).isDirectory()).toBe(true);
    expect(created.root).toBe(path.join(await realpath(scratch), 'a', 'b', 'data'));
  });

  describe('keys that could escape the data directory or are not storable', () => {
    it.each([
      ['a parent segment', '../outside.json'],
      ['a parent segment further in', 'sessions/../../outside.json'],
      ['a current-directory segment', 'sessions/./a.json'],
      ['only a parent segment', '..'],
      ['an absolute path', '/etc/passwd'],
      ['an empty key', ''],
      ['an empty segment', 'sessions//a.json'],
      ['a trailing slash', 'sessions/'],
      ['a backslash', 'sessions\\..\\..\\outside.json'],
      ['a NUL character', 'sessions/a.json\0.txt'],
      ['a lone surrogate', 'sessions/\uD800.json'],
      ['more than 1024 UTF-8 bytes', `sessions/${'é'.repeat(600)}`],
      ['a segment too long for a file name', `sessions/${'x'.repeat(201)}`],
    ])('refuses %s with InvalidKey, for get and both writes, and writes nothing', async (_, key) => {
      await expect(store.get(key)).rejects.toThrow(InvalidKey);
      await expect(store.put(key, 'x', { ifNoneMatch: '*' })).rejects.toThrow(InvalidKey);
      await expect(store.put(key, 'x', { ifMatch: md5Etag('x') })).rejects.toThrow(InvalidKey);

      expect(await readdir(scratch)).toEqual(['data']);
      expect(await readdir(path.join(root, 'objects'))).toEqual([]);
    });

    it('says which rule a key breaks', async () => {
      await expect(store.get('sessions/../x')).rejects.toThrow('invalid object key "sessions/../x": has a ".." segment');
      await expect(store.get('/x')).rejects.toThrow('is absolute');
      await expect(store.get('a\\b')).rejects.toThrow('contains a backslash');
    });

    it.each(['../', '/sessions/', 'sessions//', 'a\\b/', 'sessions/\0'])('refuses to list under the prefix %j', async (prefix) => {
      await expect(store.list(prefix, { limit: 10 })).rejects.toThrow(InvalidKey);
    });

    it.each([0, 1001, 1.5])('refuses to list with limit %d', async (limit) => {
      await expect(store.list('sessions/', { limit })).rejects.toThrow(RangeError);
    });

    it('accepts a segment of 200 encoded characters and segments that only start with dots', async () => {
      const keys = [`sessions/${'x'.repeat(200)}`, 'sessions/...', 'sessions/..hidden', 'sessions/.json'];

      for (const key of keys) await store.put(key, key, { ifNoneMatch: '*' });

      for (const key of keys) expect((await store.get(key))?.body).toBe(key);
    });

    it('refuses a write without a condition', async () => {
      const unconditional = store.put('sessions/a.json', 'x', {} as never);

      await expect(unconditional).rejects.toThrow(TypeError);
      expect(await store.get('sessions/a.json')).toBeUndefined();
    });
  });

  describe('on disk', () => {
    it('keeps each object as a file holding exactly its body, in a directory per prefix', async () => {
      const body = '{"name":"ünï"}';

      await store.put('sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7.json', body, { ifNoneMatch: '*' });
      await store.put('names/Ünï cødé/x', 'x', { ifNoneMatch: '*' });

      const file = path.join(root, 'objects', 'sessions%2F', 'fffe6a1c2b3d4e5f60718293a4b5c6d7.json');
      expect((await readFile(file)).equals(Buffer.from(body, 'utf-8'))).toBe(true);
      expect(store.pathOf('sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7.json')).toBe(file);
      expect(await readdir(path.join(root, 'objects', 'names%2F'))).toEqual(['%C3%9Cn%C3%AF%20c%C3%B8d%C3%A9%2F']);
    });

    it('stores a key and a prefix of the same name side by side', async () => {
      await store.put('sessions/a', 'file', { ifNoneMatch: '*' });
      await store.put('sessions/a/b', 'nested', { ifNoneMatch: '*' });

      expect((await store.get('sessions/a'))?.body).toBe('file');
      expect((await store.get('sessions/a/b'))?.body).toBe('nested');
      expect((await store.list('sessions/', { limit: 10 })).keys).toEqual(['sessions/a', 'sessions/a/b']);
    });

    it('ignores files in the data directory that it did not make', async () => {
      await store.put('sessions/a.json', '{}', { ifNoneMatch: '*' });
      const dir = path.join(root, 'objects', 'sessions%2F');
      await writeFile(path.join(dir, '.DS_Store'), 'junk');
      await writeFile(path.join(dir, 'README'), 'junk');
      await writeFile(path.join(dir, 'b.json~tmp-0123456789abcdef'), 'partial');
      await writeFile(path.join(dir, 'bad%zz'), 'junk');
      await writeFile(path.join(dir, '%61'), 'not canonical');
      await writeFile(path.join(dir, 'c%2F'), 'a file named like a directory');
      await mkdir(path.join(dir, 'd.json'));

      const page = await store.list('', { limit: 100 });

      expect(page).toEqual({ keys: ['sessions/a.json'], truncated: false });
    });

    it('leaves no temporary or lock files behind after a burst of writes, won and lost', async () => {
      const keys = Array.from({ length: 40 }, (_, n) => `sessions/burst-${n}.json`);
      await inBatches(keys, 8, (key) => store.put(key, '[]', { ifNoneMatch: '*' }));
      await Promise.allSettled(keys.map((key) => store.put(key, 'again', { ifNoneMatch: '*' })));
      await Promise.allSettled(keys.map((key) => store.put(key, 'stale', { ifMatch: md5Etag('nope') })));
      await Promise.allSettled(keys.map((key) => store.put(`${key}.missing`, 'x', { ifMatch: md5Etag('[]') })));
      const contested = await Promise.allSettled(
        Array.from({ length: 24 }, (_, n) => store.put('sessions/burst-0.json', `[${n}]`, { ifMatch: md5Etag('[]') })),
      );

      const names = await filesUnder(path.join(root, 'objects'));

      expect(contested.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const [versions, others] = partition(names, (name) => name.includes('~versions/'));
      expect(others.filter((name) => name.includes('~'))).toEqual([]);
      expect(others).toHaveLength(keys.length);
      // One version per key for its create, and one more for the contested replace that won; no record left half-made.
      expect(versions.filter((name) => !/~versions\/\d{12}-\d{13}-[0-9a-f]{32}$/.test(name))).toEqual([]);
      expect(versions).toHaveLength(keys.length + 1);
    });

    it('checks If-Match against the file in place, not a remembered ETag, after another writer replaced it', async () => {
      const key = 'sessions/elsewhere.json';
      const first = await store.put(key, 'aaaa', { ifNoneMatch: '*' });
      // Another process replaces the object with a body of the same size, as this store would.
      const file = store.pathOf(key);
      await writeFile(`${file}~tmp-other`, 'bbbb');
      await rename(`${file}~tmp-other`, file);

      await expect(store.put(key, 'cccc', { ifMatch: first })).rejects.toBeInstanceOf(ConditionNotMet);
      await expect(store.put(key, 'cccc', { ifMatch: md5Etag('bbbb') })).resolves.toBe(md5Etag('cccc'));
      expect(await store.get(key)).toEqual({ body: 'cccc', etag: md5Etag('cccc') });
    });

    it('sees an object edited in place by hand, even at the same size', async () => {
      const key = 'sessions/edited.json';
      const first = await store.put(key, 'aaaa', { ifNoneMatch: '*' });
      const file = store.pathOf(key);
      const later = new Date(Date.now() + 5_000);
      await writeFile(file, 'dddd');
      await utimes(file, later, later);

      await expect(store.put(key, 'eeee', { ifMatch: first })).rejects.toBeInstanceOf(ConditionNotMet);
      await expect(store.put(key, 'eeee', { ifMatch: md5Etag('dddd') })).resolves.toBe(md5Etag('eeee'));
    });

    it('never lets a reader see a partly written object', async () => {
      const key = 'sessions/big.json';
      const size = 128 * 1024;
      const bodyOf = (n: number) => String.fromCharCode(0x61 + (n % 26)).repeat(size);
      let etag = await store.put(key, bodyOf(0), { ifNoneMatch: '*' });
      let writing = true;

      const writer = (async () => {
        for (let n = 1; n <= 30; n++) etag = await store.put(key, bodyOf(n), { ifMatch: etag });
        writing = false;
      })();
      const torn: string[] = [];
      let reads = 0;
      const readers = Array.from({ length: 2 }, async () => {
        while (writing) {
          const got = await store.get(key);
          reads++;
          if (got === undefined || got.body.length !== size || got.body !== got.body[0]!.repeat(size)) {
            torn.push(`${got?.body.length} bytes`);
          }
        }
      });
      await Promise.all([writer, ...readers]);

      expect(reads).toBeGreaterThan(10);
      expect(torn).toEqual([]);
    });

    it('lists without opening a single object file', async () => {
      for (const name of ['a', 'b', 'c']) await store.put(`sessions/${name}.json`, '{}', { ifNoneMatch: '*' });
      vi.mocked(readFile).mockClear();
      vi.mocked(open).mockClear();

      const page = await store.list('sessions/', { limit: 2 });

      expect(page).toEqual({ keys: ['sessions/a.json', 'sessions/b.json'], truncated: true });
      expect(vi.mocked(readFile)).not.toHaveBeenCalled();
      expect(vi.mocked(open)).not.toHaveBeenCalled();
    });
  });

  describe('versions on disk', () => {
    const key = 'sessions/v.json';
    const versionsOf = (s: FileObjectStore) => `${s.pathOf(key)}~versions`;
    const VERSION_NAME = /^\d{12}-\d{13}-[0-9a-f]{32}$/;

    async function listedIds(s: FileObjectStore = store): Promise<string[]> {
      return (await s.listVersions(key, { limit: 100 })).versions.map((version) => version.versionId);
    }

    it('keeps each version as its own file beside the object, the object being the current version’s very file', async () => {
      const first = await store.putVersion(key, 'v1', { ifNoneMatch: '*' });
      const second = await store.putVersion(key, 'v2', { ifMatch: first.etag });

      const names = (await readdir(versionsOf(store))).sort();

      expect(names).toEqual([first.versionId, second.versionId]);
      for (const name of names) expect(name).toMatch(VERSION_NAME);
      expect(await readFile(path.join(versionsOf(store), first.versionId!), 'utf-8')).toBe('v1');
      expect((await stat(store.pathOf(key))).ino).toBe((await stat(path.join(versionsOf(store), second.versionId!))).ino);
    });

    it('numbers versions in order and never lets their time go backwards, even when the clock does', async () => {
      const clock = vi.spyOn(Date, 'now');
      try {
        const times = [5_000_000, 4_000_000, 6_000_000];
        let etag: string | undefined;
        for (const [n, time] of times.entries()) {
          clock.mockReturnValue(time);
          etag = await store.put(key, `v${n}`, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
        }
      } finally {
        clock.mockRestore();
      }

      const listed = (await store.listVersions(key, { limit: 10 })).versions;

      expect(listed.map((version) => version.versionId.slice(0, 12))).toEqual(['000000000003', '000000000002', '000000000001']);
      expect(listed.map((version) => version.lastModified.getTime())).toEqual([6_000_000, 5_000_000, 5_000_000]);
    });

    it('dates versions by the clock it is given', async () => {
      const clock = { ms: 7_000_000, now: () => clock.ms };
      const clocked = new FileObjectStore(root, { clock });
      const etag = await clocked.put(key, 'v1', { ifNoneMatch: '*' });
      clock.ms = 8_000_000;
      await clocked.put(key, 'v2', { ifMatch: etag });

      const listed = (await clocked.listVersions(key, { limit: 10 })).versions;

      expect(listed.map((version) => version.lastModified.getTime())).toEqual([8_000_000, 7_000_000]);
    });

    it('ignores a record whose write never committed (a crash before the object was replaced), and the next write removes it', async () => {
      const first = await store.putVersion(key, 'v1', { ifNoneMatch: '*' });
      const ghost = `000000000002-${String(Date.now()).padStart(13, '0')}-${md5Etag('ghost').slice(1, -1)}`;
      await writeFile(path.join(versionsOf(store), `${ghost}~new`), 'ghost');

      const before = await listedIds();
      const ghostRead = await store.getVersion(key, ghost);
      const next = await store.putVersion(key, 'v2', { ifMatch: first.etag });

      expect(before).toEqual([first.versionId]);
      expect(ghostRead).toBeUndefined();
      expect(await listedIds()).toEqual([next.versionId, first.versionId]);
      expect(next.versionId!.slice(0, 12)).toBe('000000000003');
      expect((await readdir(versionsOf(store))).filter((name) => name.endsWith('~new'))).toEqual([]);
    });

    it('counts a record that committed but kept its ~new name (a crash before the rename), and the next write names it', async () => {
      const first = await store.putVersion(key, 'v1', { ifNoneMatch: '*' });
      const committed = `000000000002-${String(Date.now()).padStart(13, '0')}-${md5Etag('v2').slice(1, -1)}`;
      const pending = path.join(versionsOf(store), `${committed}~new`);
      await writeFile(pending, 'v2');
      await link(pending, `${store.pathOf(key)}~tmp-crash`);
      await rename(`${store.pathOf(key)}~tmp-crash`, store.pathOf(key));

      const listed = (await store.listVersions(key, { limit: 10 })).versions;
      const read = await store.getVersion(key, committed);
      const third = await store.putVersion(key, 'v3', { ifMatch: md5Etag('v2') });

      expect(listed.map((version) => [version.versionId, version.isLatest])).toEqual([
        [committed, true],
        [first.versionId, false],
      ]);
      expect(read?.body).toBe('v2');
      expect((await readdir(versionsOf(store))).sort()).toEqual([first.versionId, committed, third.versionId]);
      expect((await store.getVersion(key, committed))?.body).toBe('v2');
    });

    it('lists an object written before versions were kept as version "null" until its next write, which records it first', async () => {
      const file = store.pathOf(key);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, 'legacy');

      const before = (await store.listVersions(key, { limit: 10 })).versions;
      const legacy = await store.getVersion(key, 'null');
      const next = await store.putVersion(key, 'v2', { ifMatch: md5Etag('legacy') });
      const after = (await store.listVersions(key, { limit: 10 })).versions;

      expect(before).toEqual([{ versionId: 'null', etag: md5Etag('legacy'), lastModified: expect.any(Date), isLatest: true }]);
      expect(legacy).toEqual({ body: 'legacy', etag: md5Etag('legacy'), versionId: 'null' });
      expect(after.map((version) => version.versionId)).toEqual([next.versionId, expect.stringMatching(VERSION_NAME)]);
      expect((await store.getVersion(key, after[1]!.versionId))?.body).toBe('legacy');
      expect(await store.getVersion(key, 'null')).toBeUndefined();
    });

    it.each(['../../../etc/passwd', '000000000001-0000000000000-../x', `000000000001-0000000000000-${'0'.repeat(32)}/../../v.json`, 'null/..'])(
      'reads no version and lists after no cursor %j: only its own version IDs name files',
      async (id) => {
        await store.put(key, 'v1', { ifNoneMatch: '*' });

        await expect(store.getVersion(key, id)).resolves.toBeUndefined();
        await expect(store.listVersions(key, { limit: 5, cursor: id })).rejects.toBeInstanceOf(UnknownVersion);
      },
    );

    it('lists versions without reading a single body', async () => {
      let etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      etag = await store.put(key, 'v2', { ifMatch: etag });
      vi.mocked(readFile).mockClear();
      vi.mocked(open).mockClear();

      const page = await store.listVersions(key, { limit: 1 });

      expect(page.versions).toHaveLength(1);
      expect(page.cursor).toBeDefined();
      expect(vi.mocked(readFile)).not.toHaveBeenCalled();
      expect(vi.mocked(open)).not.toHaveBeenCalled();
    });
  });

  describe('locks', () => {
    const key = 'sessions/locked.json';
    const lockOf = (s: FileObjectStore) => `${s.pathOf(key)}~lock`;

    it('stays correct with two stores on one directory, one reached through a symlink', async () => {
      await symlink(root, path.join(scratch, 'link'));
      const other = new FileObjectStore(path.join(scratch, 'link'));
      await store.put(key, '[]', { ifNoneMatch: '*' });

      await Promise.all(
        Array.from({ length: 8 }, async (_, writer) => {
          for (let n = 0; n < 10; n++) await appendWithRetry(writer % 2 === 0 ? store : other, key, `w${writer}-${n}`);
        }),
      );

      expect(new Set(JSON.parse((await store.get(key))!.body) as string[]).size).toBe(80);
    });

    it('waits for a lock held by a live process and writes once it is released', async () => {
      const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      await writeFile(lockOf(store), JSON.stringify({ pid: process.pid, host: hostname(), token: 'held' }));
      const started = Date.now();
      setTimeout(() => void rm(lockOf(store)), 300);

      const written = await store.put(key, 'v2', { ifMatch: etag });

      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(written).toBe(md5Etag('v2'));
    });

    it('gives up with StoreFault when a live lock outlasts the lock timeout', async () => {
      const impatient = new FileObjectStore(root, { lockTimeoutMs: 200 });
      const etag = await impatient.put(key, 'v1', { ifNoneMatch: '*' });
      await writeFile(lockOf(impatient), JSON.stringify({ pid: process.pid, host: hostname(), token: 'held' }));

      const blocked = impatient.put(key, 'v2', { ifMatch: etag });

      await expect(blocked).rejects.toBeInstanceOf(StoreFault);
      expect((await impatient.get(key))?.body).toBe('v1');
      const files = await filesUnder(path.dirname(impatient.pathOf(key)));
      expect(files.filter((name) => !name.startsWith('locked.json~versions/'))).toEqual(['locked.json', 'locked.json~lock']);
      expect((await impatient.listVersions(key, { limit: 10 })).versions.map((version) => version.etag)).toEqual([md5Etag('v1')]);
    });

    it('breaks at once a lock whose process has exited', async () => {
      const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      const dead = await runNode('process.stdout.write(String(process.pid))', {});
      await writeFile(lockOf(store), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), token: 'dead' }));
      const started = Date.now();

      const written = await store.put(key, 'v2', { ifMatch: etag });

      expect(Date.now() - started).toBeLessThan(1000);
      expect(written).toBe(md5Etag('v2'));
      await expect(stat(lockOf(store))).rejects.toThrow('ENOENT');
    });

    it('breaks a lock older than lockStaleMs even when its process still runs', async () => {
      const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      await writeFile(lockOf(store), JSON.stringify({ pid: process.pid, host: hostname(), token: 'old' }));
      const minuteAgo = new Date(Date.now() - 60_000);
      await utimes(lockOf(store), minuteAgo, minuteAgo);

      const written = await store.put(key, 'v2', { ifMatch: etag });

      expect(written).toBe(md5Etag('v2'));
    });
  });

  describe('several processes on one data directory', () => {
    it(
      'lets exactly one process create each key, and loses no compare-and-swap append',
      async () => {
        await store.put('sessions/shared.json', '[]', { ifNoneMatch: '*' });
        const script = `
          const { FileObjectStore } = await import(process.env.STORE_MODULE);
          const store = new FileObjectStore(process.env.ROOT);
          const me = process.env.WORKER;
          const won = [];
          await Promise.all(Array.from({ length: 20 }, async (_, n) => {
            try { await store.put('sessions/created-' + n + '.json', me, { ifNoneMatch: '*' }); won.push(n); }
            catch (error) { if (error.name !== 'ConditionNotMet') throw error; }
          }));
          for (let n = 0; n < 25; n++) {
            for (let attempt = 0; ; attempt++) {
              if (attempt > 1000) throw new Error('gave up');
              const current = await store.get('sessions/shared.json');
              const entries = JSON.parse(current.body);
              try { await store.put('sessions/shared.json', JSON.stringify([...entries, me + '-' + n]), { ifMatch: current.etag }); break; }
              catch (error) { if (error.name !== 'ConditionNotMet') throw error; }
              await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
            }
          }
          process.stdout.write(JSON.stringify(won));
        `;
        const workers = ['p0', 'p1', 'p2', 'p3'];

        const results = await Promise.all(workers.map((worker) => runNode(script, { STORE_MODULE, ROOT: root, WORKER: worker })));

        for (const result of results) expect(result.code, result.stderr).toBe(0);
        const wins = results.flatMap((result) => JSON.parse(result.stdout) as number[]).sort((a, b) => a - b);
        expect(wins).toEqual(Array.from({ length: 20 }, (_, n) => n));
        for (const [index, worker] of workers.entries()) {
          for (const n of JSON.parse(results[index]!.stdout) as number[]) expect((await store.get(`sessions/created-${n}.json`))?.body).toBe(worker);
        }
        const entries = JSON.parse((await store.get('sessions/shared.json'))!.body) as string[];
        expect(entries).toHaveLength(100);
        expect(new Set(entries).size).toBe(100);
      },
      60_000,
    );

    it(
      'keeps only whole objects when a writer is killed with SIGKILL mid-burst, and its lock does not block the next writer',
      async () => {
        const script = `
          const { FileObjectStore } = await import(process.env.STORE_MODULE);
          const store = new FileObjectStore(process.env.ROOT);
          const body = (n) => JSON.stringify({ n, pad: 'x'.repeat(200_000 + (n % 7) * 1000) });
          let etag = (await store.get('sessions/counter.json'))?.etag;
          if (etag === undefined) etag = await store.put('sessions/counter.json', body(0), { ifNoneMatch: '*' });
          process.stdout.write('ready\\n');
          for (let n = 1; ; n++) {
            etag = await store.put('sessions/counter.json', body(n), { ifMatch: etag });
            await store.put('sessions/made-' + process.pid + '-' + n + '.json', body(n), { ifNoneMatch: '*' });
          }
        `;

        for (let round = 0; round < 3; round++) {
          await killMidway(script, { STORE_MODULE, ROOT: root }, 80 + Math.random() * 200);

          const keys = (await listAll(store, 'sessions/', 1000)).flatMap((page) => page.keys);
          expect(keys).toContain('sessions/counter.json');
          for (const listed of keys) {
            const got = await store.get(listed);
            const parsed = JSON.parse(got!.body) as { n: number; pad: string };
            expect(parsed.pad).toHaveLength(200_000 + (parsed.n % 7) * 1000);
            expect(got!.etag).toBe(md5Etag(got!.body));
          }
          const current = (await store.get('sessions/counter.json'))!;
          const started = Date.now();
          const next = await store.put('sessions/counter.json', current.body, { ifMatch: current.etag });
          expect(Date.now() - started).toBeLessThan(1000);
          expect(next).toBe(current.etag);
        }
      },
      60_000,
    );

    it(
      'lists exactly the changes made, each whole, when a writer is killed with SIGKILL mid-burst',
      async () => {
        const script = `
          const { FileObjectStore } = await import(process.env.STORE_MODULE);
          const store = new FileObjectStore(process.env.ROOT);
          const body = (n) => JSON.stringify({ n, pad: 'x'.repeat(100_000 + (n % 5) * 1000) });
          let current = await store.get('sessions/history.json');
          let n = current === undefined ? 0 : JSON.parse(current.body).n;
          let etag = current?.etag ?? (await store.put('sessions/history.json', body(0), { ifNoneMatch: '*' }));
          process.stdout.write('ready\\n');
          for (;;) etag = await store.put('sessions/history.json', body(++n), { ifMatch: etag });
        `;

        for (let round = 0; round < 3; round++) {
          await killMidway(script, { STORE_MODULE, ROOT: root }, 80 + Math.random() * 200);

          const versions: number[] = [];
          let cursor: string | undefined;
          do {
            const page = await store.listVersions('sessions/history.json', { limit: 50, ...(cursor === undefined ? {} : { cursor }) });
            for (const version of page.versions) {
              const body = (await store.getVersion('sessions/history.json', version.versionId))!.body;
              const parsed = JSON.parse(body) as { n: number; pad: string };
              expect(parsed.pad).toHaveLength(100_000 + (parsed.n % 5) * 1000);
              expect(md5Etag(body)).toBe(version.etag);
              versions.push(parsed.n);
            }
            cursor = page.cursor;
          } while (cursor !== undefined);
          const current = JSON.parse((await store.get('sessions/history.json'))!.body) as { n: number };
          // Newest first, every write from 0 to the current one, none twice, none that did not happen.
          expect(versions).toEqual(Array.from({ length: current.n + 1 }, (_, index) => current.n - index));
        }
        const last = (await store.get('sessions/history.json'))!;
        await store.put('sessions/history.json', last.body, { ifMatch: last.etag });
        const names = await readdir(`${store.pathOf('sessions/history.json')}~versions`);
        expect(names.filter((name) => name.includes('~'))).toEqual([]);
      },
      60_000,
    );
  });
});

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

/** Every file name under `dir`, recursively, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

async function appendWithRetry(store: FileObjectStore, key: string, entry: string): Promise<void> {
  for (;;) {
    const current = (await store.get(key))!;
    try {
      await store.put(key, JSON.stringify([...(JSON.parse(current.body) as string[]), entry]), { ifMatch: current.etag });
      return;
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
    }
  }
}

interface NodeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module `script` in a fresh Node process with extra environment variables. */
function runNode(script: string, env: Record<string, string>, onStdout?: (text: string, kill: () => void) => void): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf-8');
      onStdout?.(stdout, () => child.kill('SIGKILL'));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf-8');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Starts `script`, and SIGKILLs it `delayMs` after it prints "ready". */
async function killMidway(script: string, env: Record<string, string>, delayMs: number): Promise<void> {
  let armed = false;
  const run = await runNode(script, env, (text, kill) => {
    if (armed || !text.includes('ready')) return;
    armed = true;
    setTimeout(kill, delayMs);
  });
  expect(run.signal, run.stderr).toBe('SIGKILL');
}
