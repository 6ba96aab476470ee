import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileObjectStore, UnversionedFileObjectStore } from '#lib/storage/file/index.ts';
import { ConditionNotMet } from '#lib/storage/port.ts';

const STORE_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../../lib/store/file/index.ts')).href;

/** A lease renewal record as the heartbeat rewrites it. */
function renewal(n: number): string {
  return JSON.stringify({ holder: 'runner-7f3a', fence: 41, expires_at: new Date(1_800_000_000_000 + n * 10_000).toISOString(), n });
}

async function logBytes(root: string): Promise<number> {
  return (await stat(path.join(root, 'log'))).size;
}

describe('compaction of a file store that keeps no versions', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'file-store-compaction-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the log of a day of heartbeats (8,640 rewrites of one record) under 64 KiB', async () => {
    const store = new UnversionedFileObjectStore(root);
    let etag = await store.put('leases/runner-7f3a.json', renewal(0), { ifNoneMatch: '*' });
    for (let n = 1; n < 8640; n++) etag = await store.put('leases/runner-7f3a.json', renewal(n), { ifMatch: etag });

    expect(await logBytes(root)).toBeLessThan(64 * 1024);
    expect((await store.get('leases/runner-7f3a.json'))?.body).toBe(renewal(8639));
    await store.close();
    const fresh = new UnversionedFileObjectStore(root);
    expect(await fresh.get('leases/runner-7f3a.json')).toEqual({ body: renewal(8639), etag });
    expect((await readdir(root)).sort()).toEqual(['log', 'store.json']);
    await fresh.close();
  }, 180_000);

  it('frees the space of deleted keys, and keeps every other key whole', async () => {
    const store = new UnversionedFileObjectStore(root);
    const body = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(1000) });
    for (let n = 0; n < 300; n++) await store.put(`leases/${String(n).padStart(3, '0')}.json`, body(n), { ifNoneMatch: '*' });
    const full = await logBytes(root);
    for (let n = 0; n < 300; n++) if (n % 10 !== 0) await store.delete(`leases/${String(n).padStart(3, '0')}.json`);

    expect(full).toBeGreaterThan(300 * 1000);
    expect(await logBytes(root)).toBeLessThan(full / 3);
    const fresh = new UnversionedFileObjectStore(root);
    const { keys } = await fresh.list('leases/', { limit: 1000 });
    expect(keys).toEqual(Array.from({ length: 30 }, (_, n) => `leases/${String(n * 10).padStart(3, '0')}.json`));
    for (const key of keys) expect((await fresh.get(key))?.body).toBe(body(Number(key.slice(7, 10))));
    await store.close();
    await fresh.close();
  });

  it('lets another store on the directory read and write throughout while one compacts, reloading the replaced log', async () => {
    const heartbeat = new UnversionedFileObjectStore(root);
    const other = new UnversionedFileObjectStore(root);
    let compactions = 0;
    let lastIno = (await heartbeatSetup(heartbeat)).ino;
    let beat = 0;
    let etag = (await heartbeat.get('leases/a.json'))!.etag;
    const beats = (async () => {
      for (beat = 1; beat <= 3000; beat++) {
        etag = await heartbeat.put('leases/a.json', renewal(beat), { ifMatch: etag });
        const ino = (await stat(path.join(root, 'log'))).ino;
        if (ino !== lastIno) compactions++;
        lastIno = ino;
      }
    })();
    const others = (async () => {
      let own = await other.put('leases/b.json', '0', { ifNoneMatch: '*' });
      for (let n = 1; beat <= 3000; n++) {
        const floor = beat - 1;
        const seen = await other.get('leases/a.json');
        // Whatever it reads is a whole renewal no older than the last one acknowledged before the read began.
        expect(JSON.parse(seen!.body).n).toBeGreaterThanOrEqual(floor);
        for (;;) {
          try {
            own = await other.put('leases/b.json', String(n), { ifMatch: own });
            break;
          } catch (error) {
            if (!(error instanceof ConditionNotMet)) throw error;
          }
        }
        expect((await heartbeat.get('leases/b.json'))?.body).toBe(String(n));
      }
    })();
    await Promise.all([beats, others]);

    expect(compactions).toBeGreaterThan(2);
    expect((await other.get('leases/a.json'))?.body).toBe(renewal(3000));
    expect(await logBytes(root)).toBeLessThan(64 * 1024);
    await heartbeat.close();
    await other.close();
  }, 60_000);

  it('after SIGKILLs at random points of a burst of compactions, the log is the old or the new one and no acknowledged write is lost', async () => {
    const script = `
        const { UnversionedFileObjectStore } = await import(process.env.STORE_MODULE);
        const store = new UnversionedFileObjectStore(process.env.ROOT);
        process.stdout.write('ready\\n');
        await Promise.all(Array.from({ length: 3 }, async (_, lane) => {
          const key = 'leases/lane-' + lane + '.json';
          let current = await store.get(key);
          let n = current === undefined ? 0 : JSON.parse(current.body).n;
          let etag = current?.etag ?? (await store.put(key, JSON.stringify({ n, pad: 'p'.repeat(2000) }), { ifNoneMatch: '*' }));
          for (;;) {
            etag = await store.put(key, JSON.stringify({ n: ++n, pad: 'p'.repeat(2000) }), { ifMatch: etag });
            process.stdout.write('ack ' + key + ' ' + n + '\\n');
          }
        }));
      `;
    const acknowledged = new Map<string, number>();
    for (let round = 0; round < 10; round++) {
      let out = '';
      await killMidway(script, { STORE_MODULE, ROOT: root }, 40 + Math.random() * 200, (text) => {
        out = text;
      });
      for (const [, key, n] of out.matchAll(/^ack (\S+) (\d+)$/gm))
        acknowledged.set(key!, Math.max(acknowledged.get(key!) ?? 0, Number(n)));

      const fresh = new UnversionedFileObjectStore(root);
      for (const [key, n] of acknowledged) expect(JSON.parse((await fresh.get(key))!.body).n).toBeGreaterThanOrEqual(n);
      await fresh.close();
    }
    expect(acknowledged.size).toBe(3);
    // Stale at once: a compaction killed midway may have left its temporary file moments ago.
    const fresh = new UnversionedFileObjectStore(root, { lockStaleMs: 0 });
    const last = (await fresh.get('leases/lane-0.json'))!;
    await fresh.put('leases/lane-0.json', last.body, { ifMatch: last.etag });
    expect((await readdir(root)).sort()).toEqual(['log', 'store.json']);
    expect(await logBytes(root)).toBeLessThan(64 * 1024);
    await fresh.close();
  }, 120_000);
});

describe('a file store that keeps versions', () => {
  it('never compacts: every record is a version, and the versions of a deleted key stay', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'file-store-compaction-'));
    const store = new FileObjectStore(root);
    let etag = await store.put('sessions/a.json', renewal(0), { ifNoneMatch: '*' });
    for (let n = 1; n < 2000; n++) etag = await store.put('sessions/a.json', renewal(n), { ifMatch: etag });
    await store.delete('sessions/a.json');
    const { ino } = await stat(path.join(root, 'log'));

    const fresh = new FileObjectStore(root);
    const { versions } = await fresh.listVersions('sessions/a.json', { limit: 1000 });
    expect(versions).toHaveLength(1000);
    expect((await fresh.getVersion('sessions/a.json', versions.at(-1)!.versionId))?.body).toBe(renewal(1000));
    expect((await stat(path.join(root, 'log'))).ino).toBe(ino);
    await store.close();
    await fresh.close();
    await rm(root, { recursive: true, force: true });
  });
});

async function heartbeatSetup(store: UnversionedFileObjectStore): Promise<{ ino: number }> {
  await store.put('leases/a.json', renewal(0), { ifNoneMatch: '*' });
  return { ino: (await stat(path.join(store.root, 'log'))).ino };
}

/** Starts `script` in a fresh Node process, and SIGKILLs it `delayMs` after it prints "ready"; `onStdout` sees all it printed. */
function killMidway(script: string, env: Record<string, string>, delayMs: number, onStdout: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let armed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf-8');
      onStdout(stdout);
      if (armed || !stdout.includes('ready')) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf-8');
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the writer exited by itself: ${stderr}`));
    });
  });
}
