import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConditionNotMet, keepsVersions, StoreFault, UnknownVersion } from '#lib/storage/port.ts';
import {
  DATABASE_NAME,
  EarlierDataDirectory,
  InvalidKey,
  isStorageFault,
  openSqliteStores,
  SqliteObjectStore,
  type SqliteStores,
} from '#lib/storage/sqlite/index.ts';
import {
  describeObjectStoreConformance,
  describePrunableStoreConformance,
  describePurgingStoreConformance,
  describeVersionedStoreConformance,
  md5Etag,
} from './conformance.ts';

const STORE_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../../lib/storage/sqlite/index.ts')).href;

async function scratchStores(): Promise<SqliteStores & { cleanup: () => Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'sqlite-store-'));
  const stores = openSqliteStores(root);
  return {
    ...stores,
    cleanup: async () => {
      await stores.sessions.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

describeObjectStoreConformance('SqliteObjectStore', async () => {
  const { sessions, cleanup } = await scratchStores();
  return { store: sessions, cleanup };
});
describeVersionedStoreConformance(
  'SqliteObjectStore',
  async () => {
    const { sessions, cleanup } = await scratchStores();
    return { store: sessions, cleanup };
  },
  { conditionalWrites: true },
);
describePrunableStoreConformance('SqliteObjectStore', async () => {
  const { sessions, cleanup } = await scratchStores();
  return { store: sessions, cleanup };
});
describePurgingStoreConformance('SqliteObjectStore', async () => {
  const { sessions, cleanup } = await scratchStores();
  return { store: sessions, cleanup };
});
describeObjectStoreConformance('UnversionedSqliteObjectStore', async () => {
  const { state, cleanup } = await scratchStores();
  return { store: state, cleanup };
});
describePrunableStoreConformance('UnversionedSqliteObjectStore', async () => {
  const { state, cleanup } = await scratchStores();
  return { store: state, cleanup };
});

describe('SqliteObjectStore', () => {
  let scratch: string;
  let root: string;
  let stores: SqliteStores;
  let store: SqliteObjectStore;

  beforeEach(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'sqlite-store-'));
    root = path.join(scratch, 'data');
    stores = openSqliteStores(root);
    store = stores.sessions;
  });

  afterEach(async () => {
    await store.close();
    await rm(scratch, { recursive: true, force: true });
  });

  /** Bytes the versions of `key` keep in the database. */
  function storedBytes(key: string): number {
    const row = store.database.db
      .prepare('SELECT sum(length(data)) AS bytes FROM versions WHERE key_id = (SELECT id FROM keys WHERE key = ?)')
      .get(key) as { bytes: number };
    return row.bytes;
  }

  it('makes the data directory when it is missing, with one database file and the soft state beside the sessions', async () => {
    const nested = path.join(scratch, 'a', 'b', 'data');

    const opened = openSqliteStores(nested);
    await opened.state.put('leases/x/1-30.json', '{}', { ifNoneMatch: '*' });

    expect((await readdir(nested)).filter((name) => name === DATABASE_NAME)).toEqual([DATABASE_NAME]);
    expect([keepsVersions(opened.sessions), keepsVersions(opened.state)]).toEqual([true, false]);
    expect(await opened.sessions.get('leases/x/1-30.json')).toBeUndefined();
    await opened.sessions.close();
  });

  it('lists keys in UTF-8 byte order, which is not UTF-16 order: U+FFFD before U+1F600', async () => {
    const keys = ['k/\u{1F600}', 'k/\uFFFD', 'k/é', 'k/z', 'k/Z'];
    for (const key of keys) await store.put(key, key, { ifNoneMatch: '*' });

    const listed = (await store.list('k/', { limit: 10 })).keys;
    const soft = keys.map((key) => stores.state.put(key, key, { ifNoneMatch: '*' }));
    await Promise.all(soft);

    expect(listed).toEqual(['k/Z', 'k/z', 'k/é', 'k/\uFFFD', 'k/\u{1F600}']);
    expect((await stores.state.list('k/', { limit: 10 })).keys).toEqual(listed);
    expect([...keys].sort()).not.toEqual(listed);
  });

  it('refuses a key that is empty, not well-formed or over 1,024 bytes, before any write', async () => {
    for (const key of ['', 'a\uD800b', 'é'.repeat(513)])
      await expect(async () => store.put(key, 'x', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(InvalidKey);
    await expect(async () => store.put('a', 'x', {} as never)).rejects.toThrow('a write needs a condition');
  });

  it('keeps an append as a delta: what one append adds does not grow with the entries already there', async () => {
    const key = 'sessions/grow.json';
    const bodyOf = (n: number) => JSON.stringify({ id: 'x', job_ids: Array.from({ length: n }, (_, i) => `job-${i}`), updated_at: n });
    let etag = await store.put(key, bodyOf(0), { ifNoneMatch: '*' });
    const bytesAt = new Map<number, number>();
    for (let n = 1; n <= 4000; n++) {
      etag = await store.put(key, bodyOf(n), { ifMatch: etag });
      if (n === 200 || n === 400 || n === 3800 || n === 4000) bytesAt.set(n, storedBytes(key));
    }
    const early = (bytesAt.get(400)! - bytesAt.get(200)!) / 200;
    const late = (bytesAt.get(4000)! - bytesAt.get(3800)!) / 200;

    // Whole bodies would keep ~20 times more per append at 4,000 entries than at 400.
    expect(late).toBeLessThan(3 * early);
    expect(storedBytes(key)).toBeLessThan(4000 * 3 * 20);
    expect((await store.get(key))?.body).toBe(bodyOf(4000));
  }, 60_000);

  it('reads back every version of a long chain of deltas and full bodies, from a store opened afresh', async () => {
    const key = 'sessions/chain.json';
    const bodies = Array.from(
      { length: 300 },
      (_, n) => `{"n":[${Array.from({ length: n }, (_, i) => i).join(',')}],"t":"${'é'.repeat(n % 17)}"}`,
    );
    const ids: string[] = [];
    let etag: string | undefined;
    for (const body of bodies) {
      const written = await store.putVersion(key, body, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
      etag = written.etag;
      ids.push(written.versionId!);
    }
    const fresh = new SqliteObjectStore(root);

    for (const [index, id] of ids.entries()) expect((await fresh.getVersion(key, id))?.body).toBe(bodies[index]);
    expect((await fresh.get(key))?.body).toBe(bodies.at(-1));
    const kinds = store.database.db.prepare('SELECT count(*) AS full FROM versions WHERE keep_prefix IS NULL').get() as { full: number };
    expect(kinds.full).toBeGreaterThan(1);
    expect(kinds.full).toBeLessThan(bodies.length / 2);
    await fresh.close();
  });

  it('reads the versions it has just written without reading their chains, and the others from the database', async () => {
    const key = 'sessions/recent.json';
    const written: { versionId: string; body: string }[] = [];
    let etag: string | undefined;
    for (let n = 0; n < 50; n++) {
      const body = JSON.stringify({ job_ids: Array.from({ length: n }, (_, i) => `job-${i}`) });
      const result = await store.putVersion(key, body, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
      etag = result.etag;
      written.push({ versionId: result.versionId!, body });
    }
    const all = vi.spyOn(store.database, 'read');
    const other = new SqliteObjectStore(root);

    for (const { versionId, body } of written.slice(-5)) expect((await store.getVersion(key, versionId))?.body).toBe(body);
    expect(all).not.toHaveBeenCalled();
    for (const { versionId, body } of written) expect((await other.getVersion(key, versionId))?.body).toBe(body);
    all.mockRestore();
    await other.close();
  });

  it('sees at once what another connection wrote, though it holds the body in memory', async () => {
    const key = 'sessions/shared.json';
    const other = new SqliteObjectStore(root);
    const etag = await store.put(key, 'v1', { ifNoneMatch: '*' });
    expect((await store.get(key))?.body).toBe('v1');

    await other.put(key, 'v2', { ifMatch: etag });

    expect(await store.get(key)).toEqual({ body: 'v2', etag: md5Etag('v2') });
    await expect(store.put(key, 'v3', { ifMatch: etag })).rejects.toBeInstanceOf(ConditionNotMet);
    await other.close();
  });

  it('commits the writes asked for at one moment in one transaction, each with its own condition result', async () => {
    const key = 'sessions/batch.json';
    const etag = await store.put(key, 'v0', { ifNoneMatch: '*' });
    const exec = vi.spyOn(store.database.db, 'exec');

    const results = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, n) => store.put(`sessions/new-${n}.json`, `n${n}`, { ifNoneMatch: '*' })),
      ...Array.from({ length: 5 }, (_, n) => store.put(key, `v${n + 1}`, { ifMatch: etag })),
      store.put('sessions/new-0.json', 'again', { ifNoneMatch: '*' }),
    ]);

    expect(exec.mock.calls.filter(([sql]) => sql === 'COMMIT')).toHaveLength(1);
    exec.mockRestore();
    expect(results.slice(0, 10).every((result) => result.status === 'fulfilled')).toBe(true);
    expect(results.slice(10, 15).map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected']);
    expect((results[15] as PromiseRejectedResult).reason).toBeInstanceOf(ConditionNotMet);
    expect((await store.get(key))?.body).toBe('v1');
    expect((await store.get('sessions/new-0.json'))?.body).toBe('n0');
    expect((await store.listVersions(key, { limit: 10 })).versions).toHaveLength(2);
  });

  it('keeps the versions of a deleted key listed, none latest, and numbers on after it is created again', async () => {
    const key = 'sessions/v.json';
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
    expect(await store.get(key)).toBeUndefined();
  });

  it('never lets a version time go backwards along a key, even when the clock does', async () => {
    const clock = { ms: 5_000_000, now: () => clock.ms };
    const clocked = new SqliteObjectStore(root, { clock });
    let etag: string | undefined;
    for (const ms of [5_000_000, 4_000_000, 6_000_000]) {
      clock.ms = ms;
      etag = await clocked.put('sessions/t.json', String(ms), etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
    }

    const listed = (await clocked.listVersions('sessions/t.json', { limit: 10 })).versions;

    expect(listed.map((version) => version.lastModified.getTime())).toEqual([6_000_000, 5_000_000, 5_000_000]);
    await clocked.close();
  });

  it.each(['../../../etc/passwd', `000000000001-0000000000000-${'0'.repeat(32)}`, 'null'])(
    'reads no version and lists after no cursor %j',
    async (id) => {
      await store.put('sessions/v.json', 'v1', { ifNoneMatch: '*' });

      await expect(store.getVersion('sessions/v.json', id)).resolves.toBeUndefined();
      await expect(store.listVersions('sessions/v.json', { limit: 5, cursor: id })).rejects.toBeInstanceOf(UnknownVersion);
    },
  );

  it.each([
    ['SQLITE_FULL', { errcode: 13 }],
    ['SQLITE_IOERR_WRITE', { errcode: 778 }],
    ['SQLITE_READONLY', { errcode: 8 }],
    ['SQLITE_BUSY', { errcode: 5 }],
    ['EROFS', { code: 'EROFS' }],
    ['EIO', { code: 'EIO' }],
    ['ENOSPC', { code: 'ENOSPC' }],
  ])('counts %s as a storage fault', (_, shape) => {
    expect(isStorageFault(Object.assign(new Error('fault'), shape))).toBe(true);
  });

  it.each([
    ['SQLITE_CONSTRAINT', { errcode: 19 }],
    ['EACCES', { code: 'EACCES' }],
    ['a TypeError', {}],
  ])('does not count %s as a storage fault', (_, shape) => {
    expect(isStorageFault(Object.assign(new TypeError('bug'), shape))).toBe(false);
  });

  it('fails a write with StoreFault when the database is full (SQLITE_FULL), keeps every acknowledged one, and writes once there is room', async () => {
    const key = 'sessions/full.json';
    const db = store.database.db;
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    db.exec(`PRAGMA max_page_count = ${pages + 8}`);
    const acknowledged: string[] = [];
    let etag = await store.put(key, '[]', { ifNoneMatch: '*' });
    let fault: unknown;
    for (let n = 0; n < 200 && fault === undefined; n++) {
      const next = JSON.stringify([...acknowledged, `${n}-${'x'.repeat(2000)}-${Math.random()}`]);
      try {
        etag = await store.put(key, next, { ifMatch: etag });
        acknowledged.push(JSON.parse(next).at(-1));
      } catch (error) {
        fault = error;
      }
    }

    expect(fault).toBeInstanceOf(StoreFault);
    expect(String((fault as Error).message)).toMatch(/full/);
    const fresh = new SqliteObjectStore(root);
    expect(JSON.parse((await fresh.get(key))!.body)).toEqual(acknowledged);
    db.exec('PRAGMA max_page_count = 1073741823');
    await expect(store.put(key, '[]', { ifMatch: etag })).resolves.toBe(md5Etag('[]'));
    await fresh.close();
  });

  it('waits in timers, not by blocking, for a write lock another process holds, and fails with StoreFault past its timeout', async () => {
    const impatient = new SqliteObjectStore(root, { busyTimeoutMs: 300 });
    const etag = await impatient.put('sessions/l.json', 'v1', { ifNoneMatch: '*' });
    const holder = await holdWriteLock(path.join(root, DATABASE_NAME));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);

    const started = Date.now();
    await expect(impatient.put('sessions/l.json', 'v2', { ifMatch: etag })).rejects.toBeInstanceOf(StoreFault);
    const waited = Date.now() - started;
    clearInterval(ticker);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.on('exit', resolve));

    expect(waited).toBeGreaterThanOrEqual(250);
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect((await impatient.get('sessions/l.json'))?.body).toBe('v1');
    await expect(impatient.put('sessions/l.json', 'v2', { ifMatch: etag })).resolves.toBe(md5Etag('v2'));
    await impatient.close();
  });
});

describe('a data directory of an earlier version', () => {
  let scratch: string;
  beforeEach(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'sqlite-earlier-'));
  });
  afterEach(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it.each(EARLIER_LAYOUTS)('is refused with what was found and what to run, and left unchanged: %s', async (_, make, found) => {
    await make(scratch);
    const before = await snapshot(scratch);

    let refused: unknown;
    try {
      openSqliteStores(scratch);
    } catch (error) {
      refused = error;
    }

    expect(refused).toBeInstanceOf(EarlierDataDirectory);
    expect((refused as Error).message).toContain(found);
    expect((refused as Error).message).toMatch(/runner-sessions export .*runner-sessions import sessions\.jsonl --data-dir/);
    expect((refused as Error).message).not.toContain('\n');
    expect(await snapshot(scratch)).toEqual(before);
  });
});

describe('several processes on one data directory', () => {
  let root: string;
  let store: SqliteObjectStore;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'sqlite-processes-'));
    store = new SqliteObjectStore(root);
  });
  afterEach(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lets exactly one process create each key, and loses no compare-and-swap append', async () => {
    await store.put('sessions/shared.json', '[]', { ifNoneMatch: '*' });
    const script = `
        const { SqliteObjectStore } = await import(process.env.STORE_MODULE);
        const store = new SqliteObjectStore(process.env.ROOT);
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

  it('after SIGKILLs mid-burst, every acknowledged append is there exactly once, and the next writer is not blocked', async () => {
    const script = `
        const { SqliteObjectStore } = await import(process.env.STORE_MODULE);
        const store = new SqliteObjectStore(process.env.ROOT);
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
      for (const [, key, entry] of out.matchAll(/^ack (\S+) (\S+)$/gm)) acknowledged.set(key!, [...(acknowledged.get(key!) ?? []), entry!]);
    }
    const fresh = new SqliteObjectStore(root);

    expect(acknowledged.size).toBeGreaterThan(0);
    for (const [key, entries] of acknowledged) {
      const current = (await fresh.get(key))!;
      const stored = JSON.parse(current.body) as string[];
      expect(new Set(stored).size).toBe(stored.length);
      expect(stored.filter((entry) => entries.includes(entry))).toEqual(entries);
      const started = Date.now();
      await fresh.put(key, current.body, { ifMatch: current.etag });
      expect(Date.now() - started).toBeLessThan(1000);
    }
    const integrity = fresh.database.db.prepare('PRAGMA integrity_check').get() as { integrity_check: string };
    expect(integrity.integrity_check).toBe('ok');
    await fresh.close();
  }, 120_000);

  it('lists exactly the versions written, each whole, when a writer is killed with SIGKILL mid-burst', async () => {
    const script = `
        const { SqliteObjectStore } = await import(process.env.STORE_MODULE);
        const store = new SqliteObjectStore(process.env.ROOT);
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
      expect(versions).toEqual(Array.from({ length: current.n + 1 }, (_, index) => current.n - index));
    }
  }, 60_000);
});

type Layout = [string, (root: string) => Promise<void>, string];

/** Data directories as the earlier stores left them (lib/storage/file/layout.ts and legacy.ts before their removal). */
const EARLIER_LAYOUTS: Layout[] = [
  [
    'the log store (store.json and log, with its soft state beside)',
    async (root) => {
      await writeFile(path.join(root, 'store.json'), '{"format":2,"versions":true}\n');
      await writeFile(path.join(root, 'log'), Buffer.from([0, 0, 0, 12, 1, 2, 3, 4]));
      await mkdir(path.join(root, 'leases'));
      await writeFile(path.join(root, 'leases', 'store.json'), '{"format":2,"versions":false}\n');
      await writeFile(path.join(root, 'events.jsonl'), '');
    },
    'log store',
  ],
  [
    'the file-per-object layout (objects/ with a versions directory per key)',
    async (root) => {
      const dir = path.join(root, 'objects', 'sessions%2F');
      await mkdir(path.join(dir, 'abc.json~versions'), { recursive: true });
      await writeFile(path.join(dir, 'abc.json'), '{"id":"abc"}');
      await writeFile(path.join(dir, 'abc.json~versions', `000000000001-1700000000000-${'0'.repeat(32)}`), '{"id":"abc"}');
    },
    'file-per-object store',
  ],
  [
    'only the soft state of the log store (leases/store.json)',
    async (root) => {
      await mkdir(path.join(root, 'leases'));
      await writeFile(path.join(root, 'leases', 'store.json'), '{"format":2,"versions":false}\n');
      await writeFile(path.join(root, 'leases', 'log'), '');
    },
    'leases/store.json',
  ],
];

/** Every entry under `root` with its size, mode, mtime and content. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const info = await stat(file);
    entries[path.relative(root, file)] =
      `${info.mode}:${info.mtimeMs}:${entry.isFile() ? (await import('node:fs/promises')).readFile(file, 'base64') : 'dir'}`;
  }
  for (const [name, value] of Object.entries(entries)) entries[name] = await value;
  return entries;
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

/** A process that takes the write lock of the database `file` and keeps it until killed. */
async function holdWriteLock(file: string) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '--eval',
      `const { DatabaseSync } = await import('node:sqlite');
       globalThis.db = new DatabaseSync(process.env.FILE);
       globalThis.db.exec('BEGIN IMMEDIATE');
       process.stdout.write('held\\n');
       setInterval(() => {}, 60_000);`,
    ],
    { env: { ...process.env, FILE: file }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return child;
}
