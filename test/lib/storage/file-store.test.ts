import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, open, readdir, readFile, realpath, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DataDirectoryMismatch,
  FileObjectStore,
  InvalidKey,
  LegacyDataDirectory,
  UnversionedFileObjectStore,
} from '#lib/storage/file/index.ts';
import { ConditionNotMet, keepsVersions, StoreFault, UnknownVersion } from '#lib/storage/port.ts';
import {
  describeObjectStoreConformance,
  describePrunableStoreConformance,
  describeVersionedStoreConformance,
  inBatches,
  listAll,
  md5Etag,
} from './conformance.ts';

// Pass-through spies, so a test can tell whether an operation opened object files at all.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, readFile: vi.fn(actual.readFile), open: vi.fn(actual.open) };
});

const STORE_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../../lib/store/file/index.ts')).href;

describeObjectStoreConformance('FileObjectStore on a temporary directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
  const store = new FileObjectStore(root);
  return { store, cleanup: () => closeAndRemove(store, root) };
});

describeVersionedStoreConformance(
  'FileObjectStore on a temporary directory',
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
    const store = new FileObjectStore(root);
    return { store, cleanup: () => closeAndRemove(store, root) };
  },
  { conditionalWrites: true },
);

describePrunableStoreConformance('FileObjectStore on a temporary directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
  const store = new FileObjectStore(root);
  return { store, cleanup: () => closeAndRemove(store, root) };
});

describeObjectStoreConformance('UnversionedFileObjectStore on a temporary directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
  const store = new UnversionedFileObjectStore(root);
  return { store, cleanup: () => closeAndRemove(store, root) };
});

describePrunableStoreConformance('UnversionedFileObjectStore on a temporary directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'file-store-'));
  const store = new UnversionedFileObjectStore(root);
  return { store, cleanup: () => closeAndRemove(store, root) };
});

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
    await store.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('creates the data directory when it is missing', async () => {
    const nested = path.join(scratch, 'a', 'b', 'data');

    const created = new FileObjectStore(nested);

    await created.opened;
    expect((await readdir(nested)).sort()).toEqual(['log', 'store.json']);
    expect(created.root).toBe(path.join(await realpath(scratch), 'a', 'b', 'data'));
    await created.close();
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
      await store.opened;
      expect((await stat(path.join(root, 'log'))).size).toBe(0);
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
    it('leaves no temporary or lock files behind after a burst of writes, won and lost', async () => {
      const keys = Array.from({ length: 40 }, (_, n) => `sessions/burst-${n}.json`);
      await inBatches(keys, 8, (key) => store.put(key, '[]', { ifNoneMatch: '*' }));
      await Promise.allSettled(keys.map((key) => store.put(key, 'again', { ifNoneMatch: '*' })));
      await Promise.allSettled(keys.map((key) => store.put(key, 'stale', { ifMatch: md5Etag('nope') })));
      await Promise.allSettled(keys.map((key) => store.put(`${key}.missing`, 'x', { ifMatch: md5Etag('[]') })));
      const contested = await Promise.allSettled(
        Array.from({ length: 24 }, (_, n) => store.put('sessions/burst-0.json', `[${n}]`, { ifMatch: md5Etag('[]') })),
      );

      expect(contested.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      expect((await readdir(root)).sort()).toEqual(['log', 'store.json']);
      expect((await listAll(store, '', 1000)).flatMap((page) => page.keys)).toHaveLength(keys.length);
      expect((await store.listVersions('sessions/burst-0.json', { limit: 10 })).versions).toHaveLength(2);
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
      const other = new FileObjectStore(root);
      const torn: string[] = [];
      let reads = 0;
      const readers = [store, other].map(async (reader) => {
        while (writing) {
          const got = await reader.get(key);
          reads++;
          if (got === undefined || got.body.length !== size || got.body !== got.body[0]!.repeat(size))
            torn.push(`${got?.body.length} bytes`);
        }
      });
      await Promise.all([writer, ...readers]);
      await other.close();

      expect(reads).toBeGreaterThan(10);
      expect(torn).toEqual([]);
    });

    it('lists without opening or reading a single file', async () => {
      for (const name of ['a', 'b', 'c']) await store.put(`sessions/${name}.json`, '{}', { ifNoneMatch: '*' });
      vi.mocked(readFile).mockClear();
      vi.mocked(open).mockClear();

      const page = await store.list('sessions/', { limit: 2 });

      expect(page).toEqual({ keys: ['sessions/a.json', 'sessions/b.json'], truncated: true });
      expect(vi.mocked(readFile)).not.toHaveBeenCalled();
      expect(vi.mocked(open)).not.toHaveBeenCalled();
    });

    it('stores an append as a delta: the log after 2,000 appends to one key is about 10 times that after 200, not 100', async () => {
      const sizeAfter = async (appends: number): Promise<number> => {
        const dir = await mkdtemp(path.join(scratch, 'linear-'));
        const linear = new FileObjectStore(dir);
        const jobs: string[] = [];
        let etag = await linear.put('sessions/s.json', JSON.stringify({ status: 'open', job_ids: jobs }), { ifNoneMatch: '*' });
        for (let n = 0; n < appends; n++) {
          jobs.push(createHash('sha256').update(String(n)).digest('hex'));
          etag = await linear.put('sessions/s.json', JSON.stringify({ status: 'open', job_ids: jobs }), { ifMatch: etag });
        }
        expect(JSON.parse((await new FileObjectStore(dir).get('sessions/s.json'))!.body).job_ids).toEqual(jobs);
        await linear.close();
        return (await stat(path.join(dir, 'log'))).size;
      };

      const small = await sizeAfter(200);
      const large = await sizeAfter(2_000);

      // Full copies would store 2000·2001/2 job IDs (over 130 MB); deltas and geometric checkpoints about 10× the small log.
      expect(large / small).toBeLessThan(15);
      expect(large).toBeLessThan(2_000 * 300 + 4 * 2_000 * 67);
    }, 60_000);

    it('reconstructs every version of a long chain of deltas and checkpoints, from a freshly opened store', async () => {
      const key = 'sessions/chain.json';
      const bodies: string[] = [];
      const ids: string[] = [];
      let etag: string | undefined;
      for (let n = 0; n < 300; n++) {
        const body = JSON.stringify({ status: n % 50 === 0 ? `s${n}` : 'open', jobs: Array.from({ length: n }, (_, j) => `job-${j}`) });
        const written = await store.putVersion(key, body, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
        etag = written.etag;
        bodies.push(body);
        ids.push(written.versionId!);
      }
      const fresh = new FileObjectStore(root);

      for (const n of [0, 1, 2, 49, 50, 51, 150, 298, 299]) expect((await fresh.getVersion(key, ids[n]!))?.body).toBe(bodies[n]);
      expect((await fresh.get(key))?.body).toBe(bodies[299]);
      await fresh.close();
    });

    it('never misreads a torn last record: a fresh store reads the write before it and cuts it off', async () => {
      const key = 'sessions/torn.json';
      const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      const log = path.join(root, 'log');
      const whole = (await stat(log)).size;
      await store.put(key, 'v2-longer-body', { ifMatch: etag });
      const bytes = await readFile(log);
      await writeFile(log, bytes.subarray(0, whole + Math.floor((bytes.length - whole) / 2)));

      const fresh = new FileObjectStore(root);

      expect(await fresh.get(key)).toEqual({ body: 'v1', etag: md5Etag('v1') });
      expect((await stat(log)).size).toBe(whole);
      await expect(fresh.put(key, 'v3', { ifMatch: etag })).resolves.toBe(md5Etag('v3'));
      expect((await fresh.listVersions(key, { limit: 10 })).versions.map((version) => version.etag)).toEqual([
        md5Etag('v3'),
        md5Etag('v1'),
      ]);
      await fresh.close();
    });

    it('never misreads a last record whose checksum fails', async () => {
      const key = 'sessions/flipped.json';
      const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
      await store.put(key, 'v2', { ifMatch: etag });
      const log = path.join(root, 'log');
      const bytes = await readFile(log);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      await writeFile(log, bytes);

      const fresh = new FileObjectStore(root);

      expect(await fresh.get(key)).toEqual({ body: 'v1', etag: md5Etag('v1') });
      await fresh.close();
    });

    it('refuses a data directory of the file-per-object layout with a typed error naming the migration command', async () => {
      const legacy = path.join(scratch, 'legacy');
      const versions = path.join(legacy, 'objects', 'sessions%2F', 'a.json~versions');
      await mkdir(versions, { recursive: true });
      const id = `000000000001-${String(Date.now()).padStart(13, '0')}-${md5Etag('old').slice(1, -1)}`;
      await writeFile(path.join(versions, id), 'old');
      await link(path.join(versions, id), path.join(legacy, 'objects', 'sessions%2F', 'a.json'));

      expect(() => new FileObjectStore(legacy)).toThrow(LegacyDataDirectory);
      expect(() => new FileObjectStore(legacy)).toThrow(`npm run migrate-data -- ${legacy}`);
      expect(() => new UnversionedFileObjectStore(legacy)).toThrow(LegacyDataDirectory);
      expect(await readdir(legacy)).toEqual(['objects']);
    });

    it('keeps no versions when opened unversioned, and never opens a directory of the other kind', async () => {
      const dir = path.join(scratch, 'leases');
      const leases = new UnversionedFileObjectStore(dir);
      let etag = await leases.put('leases/a.json', '{"n":0}', { ifNoneMatch: '*' });
      for (let n = 1; n < 5; n++) etag = await leases.put('leases/a.json', `{"n":${n}}`, { ifMatch: etag });

      expect(keepsVersions(leases)).toBe(false);
      expect(keepsVersions(store)).toBe(true);
      expect((await leases.get('leases/a.json'))?.body).toBe('{"n":4}');
      expect(() => new FileObjectStore(dir)).toThrow(DataDirectoryMismatch);
      await store.opened;
      expect(() => new UnversionedFileObjectStore(root)).toThrow(DataDirectoryMismatch);
      await leases.close();
    });
  });

  describe('versions', () => {
    const key = 'sessions/v.json';

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
      await clocked.close();
    });

    it('keeps the versions of a deleted key listed, none latest, and numbers on after it is created again', async () => {
      const first = await store.putVersion(key, 'v1', { ifNoneMatch: '*' });
      await store.delete(key);
      const again = await store.putVersion(key, 'v2', { ifNoneMatch: '*' });
      await store.delete(key);

      const listed = (await store.listVersions(key, { limit: 10 })).versions;

      expect(listed.map((version) => [version.versionId, version.isLatest])).toEqual([
        [again.versionId, false],
        [first.versionId, false],
      ]);
      expect((await store.getVersion(key, first.versionId!))?.body).toBe('v1');
    });

    it.each([
      '../../../etc/passwd',
      '000000000001-0000000000000-../x',
      `000000000001-0000000000000-${'0'.repeat(32)}/../../v.json`,
      'null/..',
    ])('reads no version and lists after no cursor %j', async (id) => {
      await store.put(key, 'v1', { ifNoneMatch: '*' });

      await expect(store.getVersion(key, id)).resolves.toBeUndefined();
      await expect(store.listVersions(key, { limit: 5, cursor: id })).rejects.toBeInstanceOf(UnknownVersion);
    });

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
    const lockOf = (s: FileObjectStore) => s.lockPath;

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
      expect((await readdir(root)).filter((name) => !name.startsWith('~lock~new-')).sort()).toEqual(['log', 'store.json', 'store~lock']);
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
    it('lets exactly one process create each key, and loses no compare-and-swap append', async () => {
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
        for (const n of JSON.parse(results[index]!.stdout) as number[])
          expect((await store.get(`sessions/created-${n}.json`))?.body).toBe(worker);
      }
      const entries = JSON.parse((await store.get('sessions/shared.json'))!.body) as string[];
      expect(entries).toHaveLength(100);
      expect(new Set(entries).size).toBe(100);
    }, 60_000);

    it('keeps only whole objects when a writer is killed with SIGKILL mid-burst, and its lock does not block the next writer', async () => {
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
    }, 60_000);

    it('after SIGKILLs mid-burst, a freshly opened store has no leftovers and every acknowledged append exactly once', async () => {
      const script = `
          const { FileObjectStore } = await import(process.env.STORE_MODULE);
          const store = new FileObjectStore(process.env.ROOT);
          const round = process.env.ROUND;
          process.stdout.write('ready\\n');
          await Promise.all(Array.from({ length: 4 }, async (_, lane) => {
            const key = 'sessions/lane-' + lane + '.json';
            for (let n = 0; ; n++) {
              const entry = round + '-' + n;
              for (;;) {
                const current = await store.get(key);
                const condition = current === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag };
                const entries = current === undefined ? [] : JSON.parse(current.body);
                try { await store.put(key, JSON.stringify([...entries, entry]), condition); break; }
                catch (error) { if (error.name !== 'ConditionNotMet') throw error; }
              }
              process.stdout.write('ack ' + key + ' ' + entry + '\\n');
            }
          }));
        `;
      const acknowledged = new Map<string, string[]>();

      for (let round = 0; round < 12; round++) {
        let out = '';
        await killMidway(script, { STORE_MODULE, ROOT: root, ROUND: String(round) }, 30 + Math.random() * 120, (text) => {
          out = text;
        });
        for (const [, key, entry] of out.matchAll(/^ack (\S+) (\S+)$/gm))
          acknowledged.set(key!, [...(acknowledged.get(key!) ?? []), entry!]);
      }
      const fresh = new FileObjectStore(root);
      await fresh.opened;

      expect((await readdir(root)).sort(), String(await readdir(root))).toEqual(['log', 'store.json']);
      expect(acknowledged.size).toBeGreaterThan(0);
      for (const [key, entries] of acknowledged) {
        const stored = JSON.parse((await fresh.get(key))!.body) as string[];
        expect(new Set(stored).size).toBe(stored.length);
        expect(stored.filter((entry) => entries.includes(entry))).toEqual(entries);
      }
      await fresh.close();
    }, 120_000);

    it('lists exactly the changes made, each whole, when a writer is killed with SIGKILL mid-burst', async () => {
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
      expect((await readdir(root)).sort()).toEqual(['log', 'store.json']);
    }, 60_000);
  });
});

async function closeAndRemove(store: { close(): Promise<void> }, root: string): Promise<void> {
  await store.close();
  await rm(root, { recursive: true, force: true });
}

function _partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

/** Every file name under `dir`, recursively, relative to it. */
async function _filesUnder(dir: string): Promise<string[]> {
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
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

/** Starts `script`, and SIGKILLs it `delayMs` after it prints "ready"; `onStdout` sees all it printed. */
async function killMidway(script: string, env: Record<string, string>, delayMs: number, onStdout?: (text: string) => void): Promise<void> {
  let armed = false;
  const run = await runNode(script, env, (text, kill) => {
    onStdout?.(text);
    if (armed || !text.includes('ready')) return;
    armed = true;
    setTimeout(kill, delayMs);
  });
  expect(run.signal, run.stderr).toBe('SIGKILL');
}
