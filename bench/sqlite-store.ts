/**
 * The SQLite store's cost per append and per listing page, as a markdown
 * table: `node bench/sqlite-store.ts [--quick]`. Appends add one 64-character
 * job ID to one session's JSON body by compare-and-swap; "kept" is what the
 * database holds after a checkpoint (pages in use × page size), so row and
 * index overhead count. Concurrent appends to distinct sessions show how many
 * share one transaction (one fsync). Heartbeats rewrite one lease renewal
 * record in the soft-state table.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqliteStores, type SqliteObjectStore } from '../lib/storage/sqlite/index.ts';

const quick = process.argv.includes('--quick');

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Bytes of the pages the database uses once its WAL is checkpointed into it. */
function keptBytes(store: SqliteObjectStore): number {
  const db = store.database.db;
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const value = (pragma: string) => Object.values(db.prepare(`PRAGMA ${pragma}`).get()!)[0] as number;
  return (value('page_count') - value('freelist_count')) * value('page_size');
}

const jobId = (n: number) => createHash('sha256').update(String(n)).digest('hex');

async function appendRow(jobs: number): Promise<{ row: string; perJob: number; p50Last: number }> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-sqlite-store-'));
  const { sessions: store } = openSqliteStores(root);
  const ids: string[] = [];
  const body = () =>
    JSON.stringify({ id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7', status: 'open', job_ids: ids, updated_at: new Date().toISOString() });
  // Warm: the statements prepared and the database's first pages allocated on another key.
  let warm = await store.put('sessions/warm.json', '[]', { ifNoneMatch: '*' });
  for (let n = 0; n < 200; n++) warm = await store.put('sessions/warm.json', JSON.stringify([n]), { ifMatch: warm });
  let etag = await store.put('sessions/s.json', body(), { ifNoneMatch: '*' });
  const empty = keptBytes(store);
  const times: number[] = [];
  for (let n = 0; n < jobs; n++) {
    ids.push(jobId(n));
    const next = body();
    const started = performance.now();
    etag = await store.put('sessions/s.json', next, { ifMatch: etag });
    times.push(performance.now() - started);
  }
  const kept = keptBytes(store) - empty;
  await store.close();
  await rm(root, { recursive: true, force: true });
  // The p50 of the last 10 % of the appends, and of at least the last 10 of them.
  const last = Math.max(10, Math.floor(jobs / 10));
  const fmt = (ms: number) => ms.toFixed(2);
  const perJob = kept / jobs;
  return {
    row: `| append, ${jobs.toLocaleString('en')} jobs | ${fmt(p50(times.slice(0, last)))} ms | ${fmt(p50(times.slice(-last)))} ms | ${kept.toLocaleString('en')} B | ${perJob.toFixed(0)} B |`,
    perJob,
    p50Last: p50(times.slice(-last)),
  };
}

async function concurrentRow(writers: number, appendsEach: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-sqlite-store-'));
  const { sessions: store } = openSqliteStores(root);
  let commits = 0;
  const exec = store.database.db.exec.bind(store.database.db);
  store.database.db.exec = (sql: string) => {
    if (sql === 'COMMIT') commits++;
    return exec(sql);
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const key = `sessions/w${writer}.json`;
      const ids: string[] = [];
      let etag = await store.put(key, JSON.stringify({ job_ids: ids }), { ifNoneMatch: '*' });
      for (let n = 0; n < appendsEach; n++) {
        ids.push(jobId(n));
        etag = await store.put(key, JSON.stringify({ job_ids: ids }), { ifMatch: etag });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const writes = writers * (appendsEach + 1);
  await store.close();
  await rm(root, { recursive: true, force: true });
  return `| ${writers} writers on distinct sessions, ${appendsEach} appends each | ${Math.round(writes / seconds).toLocaleString('en')} writes/s | ${(writes / commits).toFixed(1)} writes per commit | | |`;
}

async function listRow(keys: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-sqlite-store-'));
  const { sessions: store } = openSqliteStores(root);
  const names = Array.from({ length: keys }, (_, n) => `sessions/${createHash('md5').update(String(n)).digest('hex')}.json`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < names.length) await store.put(names[next++]!, '{}', { ifNoneMatch: '*' });
    }),
  );
  const time = async (startAfter?: string) => {
    const samples: number[] = [];
    for (let n = 0; n < 50; n++) {
      const started = performance.now();
      await store.list('sessions/', { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) });
      samples.push(performance.now() - started);
    }
    return p50(samples).toFixed(2);
  };
  const sorted = [...names].sort();
  const row = `| list, ${keys.toLocaleString('en')} keys | first page ${await time()} ms | deep page ${await time(sorted[Math.floor(keys * 0.9)])} ms | | |`;
  await store.close();
  await rm(root, { recursive: true, force: true });
  return row;
}

async function heartbeatRow(rewrites: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-sqlite-store-'));
  const { sessions, state: store } = openSqliteStores(root);
  const renewal = (n: number) => JSON.stringify({ holder: 'runner-7f3a', epoch: 3, expires_at: 1_800_000_000 + n * 10, n });
  let etag = await store.put('leases/s.json', renewal(0), { ifNoneMatch: '*' });
  const times: number[] = [];
  for (let n = 1; n <= rewrites; n++) {
    const started = performance.now();
    etag = await store.put('leases/s.json', renewal(n), { ifMatch: etag });
    times.push(performance.now() - started);
  }
  const kept = keptBytes(sessions);
  await store.close();
  await rm(root, { recursive: true, force: true });
  const last = Math.max(1, Math.floor(rewrites / 10));
  const name = `heartbeat rewrites, ${rewrites.toLocaleString('en')} of one renewal record`;
  return `| ${name} | ${p50(times).toFixed(2)} ms (all) | ${p50(times.slice(-last)).toFixed(2)} ms | ${kept.toLocaleString('en')} B (whole database) | |`;
}

const rows = ['| case | p50 (first 10%) | p50 (last 10%, at least 10) | bytes kept | bytes kept per job |', '|---|---|---|---|---|'];
const appends = [];
for (const jobs of quick ? [10, 100, 1_000] : [10, 100, 1_000, 10_000]) {
  const result = await appendRow(jobs);
  appends.push(result);
  rows.push(result.row);
}
for (const writers of [1, 16, 64]) rows.push(await concurrentRow(writers, quick ? 20 : 50));
for (const keys of quick ? [1_000, 10_000] : [1_000, 100_000]) rows.push(await listRow(keys));
rows.push(await heartbeatRow(quick ? 1_000 : 10_000));
const [smallest] = appends;
const largest = appends.at(-1)!;
const hundred = appends[1]!;
rows.push(
  '',
  `Append p50 (last 10%) at ${quick ? '1,000' : '10,000'} jobs vs 10: ${(largest.p50Last / smallest!.p50Last).toFixed(2)}×; ` +
    `bytes kept per job at ${quick ? '1,000' : '10,000'} jobs vs 100: ${(largest.perJob / hundred.perJob).toFixed(2)}×.`,
);
console.log(rows.join('\n'));
