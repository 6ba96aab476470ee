/**
 * 8. What one append costs as a session grows: on the local server (file
 * store, over HTTP, `Prefer: return=minimal` against the full answer) and on
 * S3 (the stateful fake behind `S3ObjectStore`). Sessions of every size are
 * appended to in interleaved rounds, so their times are side by side.
 */

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { DATABASE_NAME } from '#lib/storage/sqlite/index.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { LOCAL_SERVER_SCRIPT, startServer, stopServer } from './local-throughput.ts';
import { dollars, fixed, integer, type Section, times, verdict } from './report.ts';
import { fakeS3Client } from './s3-clients.ts';
import { median, nowMs, rotate } from './stats.ts';

export interface AppendsOptions {
  quick?: boolean;
  /** Jobs in each session when its last append is measured. */
  sizes?: number[];
  /** Measured appends per session (half minimal, half full on the local server). */
  window?: number;
  log?: (line: string) => void;
}

export interface LocalAppendRow {
  jobs: number;
  p50MinimalMs: number;
  p50FullMs: number;
  /** Median growth of the data directory per append. */
  bytesWrittenPerAppend: number;
  answeredMinimal: number;
  answeredFull: number;
  /** Growth of the data directory over the whole life of the session. */
  storedBytes: number;
}

export interface S3AppendRow {
  jobs: number;
  p50Ms: number;
  /** Body of the conditional PUT of the last append. */
  bytesPerAppend: number;
  /** All versions' bodies of the session's object. */
  storedBytes: number;
  /** Keeping every version for the 90-day window at S3 Standard's price. */
  keepCost: number;
}

export interface AppendsResult {
  local: LocalAppendRow[];
  s3: S3AppendRow[];
  window: number;
  /** p50 (minimal) at the largest size over the smallest. */
  localRatio: number;
  localTimeMet: boolean;
  /** Stored bytes per job between the two largest sizes over that between the two smallest. */
  storedGrowth: number;
  storedLinear: boolean;
  seconds: number;
}

/** S3 Standard, first 50 TB a month, US East: see the section's sources. */
export const S3_STANDARD_PER_GB_MONTH = 0.023;
const VERSION_WINDOW_DAYS = 90;
/** Issue goal: an append at 10,000 jobs takes at most this times one at 10 (p50, local store). */
export const APPEND_TIME_TARGET = 1.3;
const STORED_LINEAR_TARGET = 1.5;

/** A 64-character job ID, distinct for every `n`. */
function jobId(session: number, n: number): string {
  return createHash('sha256').update(`${session}:${n}`).digest('hex');
}

/** Measures both stores. */
export async function measureAppends(options: AppendsOptions = {}): Promise<AppendsResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const sizes = options.sizes ?? (quick ? [10, 200] : [10, 1_000, 10_000]);
  const window = options.window ?? (quick ? 6 : 40);
  log('appends: local server');
  const local = await measureLocal(sizes, window, log);
  log('appends: S3 fake');
  const s3 = await measureS3(sizes, window);
  const localRatio = local.at(-1)!.p50MinimalMs / local[0]!.p50MinimalMs;
  const perJob = (a: LocalAppendRow, b: LocalAppendRow) => (b.storedBytes - a.storedBytes) / (b.jobs - a.jobs);
  const storedGrowth = local.length >= 3 ? perJob(local.at(-2)!, local.at(-1)!) / perJob(local[0]!, local[1]!) : 1;
  return {
    local,
    s3,
    window,
    localRatio,
    localTimeMet: localRatio <= APPEND_TIME_TARGET,
    storedGrowth,
    storedLinear: storedGrowth <= STORED_LINEAR_TARGET,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * What the server's database holds, read through a connection of its own: its pages in use (WAL included, free pages
 * not) × the page size, and the data bytes of the newest version of `key` (a delta or a whole body).
 */
function storeBytes(db: DatabaseSync, key?: string): { kept: number; version: number } {
  const value = (pragma: string) => Object.values(db.prepare(`PRAGMA ${pragma}`).get()!)[0] as number;
  const kept = (value('page_count') - value('freelist_count')) * value('page_size');
  if (key === undefined) return { kept, version: 0 };
  const row = db
    .prepare('SELECT length(data) AS bytes FROM versions WHERE key_id = (SELECT id FROM keys WHERE key = ?) ORDER BY seq DESC LIMIT 1')
    .get(key) as { bytes: number } | undefined;
  return { kept, version: row?.bytes ?? 0 };
}

async function measureLocal(sizes: number[], window: number, log: (line: string) => void): Promise<LocalAppendRow[]> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-appends-'));
  const server = await startServer(LOCAL_SERVER_SCRIPT, dataDir, ['0']);
  const db = new DatabaseSync(path.join(dataDir, DATABASE_NAME), { readOnly: true });
  try {
    const append = async (id: string, session: number, n: number, minimal: boolean) => {
      const began = nowMs();
      const answer = await fetch(`${server.url}/sessions/${id}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(minimal ? { prefer: 'return=minimal' } : {}) },
        body: JSON.stringify({ job_id: jobId(session, n) }),
      });
      const body = await answer.arrayBuffer();
      const ms = nowMs() - began;
      if (answer.status !== 200) throw new Error(`an append answered ${answer.status}: ${Buffer.from(body).toString()}`);
      return { ms, bytes: body.byteLength };
    };
    const ids: string[] = [];
    const stored: number[] = [];
    for (const [session, size] of sizes.entries()) {
      const before = storeBytes(db).kept;
      const created = await fetch(`${server.url}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      ids.push(((await created.json()) as { id: string }).id);
      log(`appends: local session of ${integer(size)} jobs`);
      for (let n = 0; n < size - window; n++) await append(ids[session]!, session, n, true);
      stored.push(storeBytes(db).kept - before);
    }
    const samples = sizes.map(() => ({
      minimal: [] as number[],
      full: [] as number[],
      written: [] as number[],
      answeredMinimal: 0,
      answeredFull: 0,
    }));
    for (let round = 0; round < window; round++) {
      for (const session of rotate(
        sizes.map((_, index) => index),
        round,
      )) {
        const n = sizes[session]! - window + round;
        const minimal = round % 2 === 0;
        const before = storeBytes(db).kept;
        const { ms, bytes } = await append(ids[session]!, session, n, minimal);
        const after = storeBytes(db, `sessions/${ids[session]}.json`);
        const sample = samples[session]!;
        sample.written.push(after.version);
        stored[session]! += after.kept - before;
        if (minimal) {
          sample.minimal.push(ms);
          sample.answeredMinimal = bytes;
        } else {
          sample.full.push(ms);
          sample.answeredFull = bytes;
        }
      }
    }
    return sizes.map((jobs, session) => {
      const sample = samples[session]!;
      return {
        jobs,
        p50MinimalMs: median(sample.minimal),
        p50FullMs: median(sample.full),
        bytesWrittenPerAppend: median(sample.written),
        answeredMinimal: sample.answeredMinimal,
        answeredFull: sample.answeredFull,
        storedBytes: stored[session]!,
      };
    });
  } finally {
    db.close();
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * One warm instance appends to sessions of every size on the fake. Each
 * version's body is added to the session's tally as it is written and then
 * dropped from the fake (10,000 versions of up to 700 KB would not fit in memory).
 */
async function measureS3(sizes: number[], window: number): Promise<S3AppendRow[]> {
  const fake = new S3Fake();
  try {
    const repository = new SessionRepository({
      renewals: new MemoryObjectStore(),
      store: new S3ObjectStore({ bucket: 'bench-sessions', client: fakeS3Client() }),
    });
    const ids: string[] = [];
    const stored = sizes.map(() => 0);
    const tally = (session: number) => {
      const key = `sessions/${ids[session]}.json`;
      const versions = fake.versions.get(key) ?? [];
      for (const version of versions) stored[session]! += Buffer.byteLength(version.body);
      // Keep the current one only; it is counted once, now, and its successors when they come.
      fake.versions.set(key, []);
      fake.puts.length = 0;
    };
    for (const [session, size] of sizes.entries()) {
      ids.push((await repository.createSession()).session.id);
      tally(session);
      for (let n = 0; n < size - window; n++) {
        await repository.addJob(ids[session]!, jobId(session, n));
        tally(session);
      }
    }
    const timesMs = sizes.map(() => [] as number[]);
    const lastPut = sizes.map(() => 0);
    for (let round = 0; round < window; round++) {
      for (const session of rotate(
        sizes.map((_, index) => index),
        round,
      )) {
        const began = nowMs();
        await repository.addJob(ids[session]!, jobId(session, sizes[session]! - window + round));
        timesMs[session]!.push(nowMs() - began);
        lastPut[session] = Buffer.byteLength(String(fake.puts.at(-1)?.Body ?? ''));
        tally(session);
      }
    }
    return sizes.map((jobs, session) => ({
      jobs,
      p50Ms: median(timesMs[session]!),
      bytesPerAppend: lastPut[session]!,
      storedBytes: stored[session]!,
      keepCost: (stored[session]! / 1024 ** 3) * S3_STANDARD_PER_GB_MONTH * (VERSION_WINDOW_DAYS / 30),
    }));
  } finally {
    fake.restore();
  }
}

/** Section 8 of bench/RESULTS.md. */
export function appendsSection(result: AppendsResult): Section {
  return {
    title: '8. The cost of one append as a session grows',
    intro: [
      'Local: the local server in its own process (`bench/local-throughput/local-server.ts`, SQLite store, no sweeps), over HTTP with keep-alive. ' +
        'One session per size is grown with 64-character job IDs; then the last ' +
        `${result.window} appends of every session are made in interleaved rounds (each round visits every session, the order rotating), ` +
        'alternately with `Prefer: return=minimal` and without (the full session). "Written" is the data of the version row one append ' +
        'adds (a delta, or now and then the whole body), the median; "stored" is the growth of the database\'s pages in use (WAL included, ' +
        'free pages not, read through a connection of the bench) over the whole life of that session. Target: ' +
        `p50 (minimal) at the largest size ≤ ${APPEND_TIME_TARGET}× the p50 at the smallest, and stored bytes linear in the jobs ` +
        `(bytes per job between the two largest sizes ≤ ${STORED_LINEAR_TARGET}× that between the two smallest).`,
    ],
    tables: [
      {
        headers: ['jobs', 'p50, minimal', 'p50, full answer', 'written per append', 'answered, minimal', 'answered, full', 'stored'],
        rows: result.local.map((row) => [
          integer(row.jobs),
          `${fixed(row.p50MinimalMs, 2)} ms`,
          `${fixed(row.p50FullMs, 2)} ms`,
          `${integer(row.bytesWrittenPerAppend)} B`,
          `${integer(row.answeredMinimal)} B`,
          `${integer(row.answeredFull)} B`,
          `${integer(row.storedBytes)} B`,
        ]),
      },
      {
        headers: ['jobs (S3)', 'p50 on the fake', 'PUT body per append', 'all versions stored', `kept ${VERSION_WINDOW_DAYS} days`],
        rows: result.s3.map((row) => [
          integer(row.jobs),
          `${fixed(row.p50Ms, 2)} ms`,
          `${integer(row.bytesPerAppend)} B`,
          `${integer(row.storedBytes)} B`,
          dollars(row.keepCost, 4),
        ]),
      },
    ],
    notes: [
      `Local: p50 (minimal) at ${integer(result.local.at(-1)!.jobs)} jobs is ${times(result.localRatio)} the p50 at ${integer(result.local[0]!.jobs)} ` +
        `(target ≤ ${APPEND_TIME_TARGET}×: ${verdict(result.localTimeMet)}); stored bytes per job grow ${times(result.storedGrowth)} from the ` +
        `smaller sizes to the larger (${verdict(result.storedLinear)} as linear).`,
      'S3: a session is one object, so every append PUTs the whole session: bytes per append grow with the jobs, and the versioned bucket keeps ' +
        "every version, so what a session stores grows with the square of its jobs. The answer bytes are the local rows' (the same handlers). " +
        `"Kept ${VERSION_WINDOW_DAYS} days": all versions' bytes × $${S3_STANDARD_PER_GB_MONTH} per GB-month × ${VERSION_WINDOW_DAYS / 30} months ` +
        '(S3 Standard, first 50 TB a month, US East: $0.023 per GB, as quoted by https://gist.github.com/EverettBerry/a37438006529a55f42da6fdbc44a505c; the stored copy of https://aws.amazon.com/s3/pricing/ renders its rates as template tokens), ' +
        'assuming the noncurrent versions expire 90 days after they are replaced. The p50 on the fake is CPU only (serialising and hashing the body).',
    ],
  };
}
