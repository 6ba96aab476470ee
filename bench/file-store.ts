/**
 * The file store's cost per append and per listing page, as a markdown table:
 * `node bench/file-store.ts [--quick]`. Appends add one 64-character job ID to
 * one session's JSON body by compare-and-swap; listings page through keys
 * seeded concurrently through the public API (their writes share fsyncs);
 * heartbeats rewrite one lease renewal record in the unversioned store, whose
 * log compaction keeps small.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileObjectStore, UnversionedFileObjectStore } from '../lib/storage/file/index.ts';

const quick = process.argv.includes('--quick');

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function appendRow(jobs: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-file-store-'));
  const store = new FileObjectStore(root);
  const ids: string[] = [];
  const body = () => JSON.stringify({ id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7', status: 'open', job_ids: ids });
  let etag = await store.put('sessions/s.json', body(), { ifNoneMatch: '*' });
  const times: number[] = [];
  const logSizes: number[] = [];
  for (let n = 0; n < jobs; n++) {
    ids.push(createHash('sha256').update(String(n)).digest('hex'));
    const next = body();
    const before = (await stat(path.join(root, 'log'))).size;
    const started = performance.now();
    etag = await store.put('sessions/s.json', next, { ifMatch: etag });
    times.push(performance.now() - started);
    logSizes.push((await stat(path.join(root, 'log'))).size - before);
  }
  const last = Math.max(1, Math.floor(jobs / 10));
  const stored = (await stat(path.join(root, 'log'))).size;
  await store.close();
  await rm(root, { recursive: true, force: true });
  const fmt = (ms: number) => ms.toFixed(2);
  return `| append, ${jobs.toLocaleString('en')} jobs | ${fmt(p50(times.slice(0, last)))} ms | ${fmt(p50(times.slice(-last)))} ms | ${Math.round(p50(logSizes.slice(-last)))} B | ${stored.toLocaleString('en')} B |`;
}

async function listRow(keys: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-file-store-'));
  const store = new FileObjectStore(root);
  const names = Array.from({ length: keys }, (_, n) => `sessions/${createHash('md5').update(String(n)).digest('hex')}.json`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < names.length) await store.put(names[next++]!, '{}', { ifNoneMatch: '*' });
    }),
  );
  const fresh = new FileObjectStore(root);
  const openStart = performance.now();
  await fresh.opened;
  const openMs = performance.now() - openStart;
  const time = async (startAfter?: string) => {
    const samples: number[] = [];
    for (let n = 0; n < 50; n++) {
      const started = performance.now();
      await fresh.list('sessions/', { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) });
      samples.push(performance.now() - started);
    }
    return p50(samples).toFixed(2);
  };
  const sorted = [...names].sort();
  const row = `| list, ${keys.toLocaleString('en')} keys | first page ${await time()} ms | deep page ${await time(sorted[Math.floor(keys * 0.9)])} ms | open ${openMs.toFixed(0)} ms | |`;
  await store.close();
  await fresh.close();
  await rm(root, { recursive: true, force: true });
  return row;
}

async function heartbeatRow(rewrites: number): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'bench-file-store-'));
  const store = new UnversionedFileObjectStore(root);
  const renewal = (n: number) => JSON.stringify({ holder: 'runner-7f3a', epoch: 3, expires_at: 1_800_000_000 + n * 10, n });
  let etag = await store.put('leases/s.json', renewal(0), { ifNoneMatch: '*' });
  const times: number[] = [];
  for (let n = 1; n <= rewrites; n++) {
    const started = performance.now();
    etag = await store.put('leases/s.json', renewal(n), { ifMatch: etag });
    times.push(performance.now() - started);
  }
  const stored = (await stat(path.join(root, 'log'))).size;
  await store.close();
  await rm(root, { recursive: true, force: true });
  const last = Math.max(1, Math.floor(rewrites / 10));
  const name = `heartbeat rewrites, ${rewrites.toLocaleString('en')} of one renewal record`;
  return `| ${name} | ${p50(times).toFixed(2)} ms (all) | ${p50(times.slice(-last)).toFixed(2)} ms | | ${stored.toLocaleString('en')} B (log at the end) |`;
}

const rows = [
  '| case | p50 (first 10%) | p50 (last 10%) | bytes written per append (p50, last 10%) | bytes stored |',
  '|---|---|---|---|---|',
];
for (const jobs of quick ? [10, 1_000] : [10, 1_000, 10_000]) rows.push(await appendRow(jobs));
for (const keys of quick ? [1_000, 10_000] : [1_000, 100_000]) rows.push(await listRow(keys));
rows.push(await heartbeatRow(quick ? 1_000 : 10_000));
console.log(rows.join('\n'));
