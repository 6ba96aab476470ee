/**
 * What recording how jobs ended costs: the stored size of a session whose
 * every job failed with an exit code, the memory and time it takes to read
 * one, the requests an append with an outcome sends to S3 (the stateful fake,
 * warm), and the append p50 with an outcome against a bare one on the local
 * server (its own process, SQLite store, over HTTP, `Prefer: return=minimal`),
 * two sessions grown side by side in interleaved rounds.
 *
 * Run on its own: `node bench/job-outcomes.ts [jobs]` (default 10,000).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sessionKey } from '#lib/domain/ids.ts';
import { SESSION_CODEC } from '#lib/sessions/context.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { ConditionNotMet, type ListPage, type ObjectStore, type StoredObject, type WriteCondition } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { LOCAL_SERVER_SCRIPT, startServer, stopServer } from './local-throughput.ts';
import { fakeS3Client } from './s3-clients.ts';
import { median, nowMs } from './stats.ts';

export interface JobOutcomesOptions {
  /** Jobs in each session when the last append is measured. Default 10,000. */
  jobs?: number;
  /** Measured appends per session on the local server. Default 40. */
  window?: number;
  log?: (line: string) => void;
}

export interface JobOutcomesResult {
  jobs: number;
  /** The stored JSON of a session of `jobs` jobs, each appended bare. */
  bareBytes: number;
  /** The stored JSON of a session of `jobs` jobs, each appended as failed with an exit code. */
  failedBytes: number;
  /** Parsing the stored session with outcomes (as a cold read does): time and heap it holds. */
  readMs: number;
  readHeapBytes: number;
  /** Requests one warm append with an outcome sends to S3. */
  s3Requests: { get: number; put: number };
  /** Local server, minimal answers: p50 of a bare append and of one with an outcome, at `jobs` jobs. */
  p50BareMs: number;
  p50OutcomeMs: number;
  ratio: number;
  seconds: number;
}

/** A 64-character job ID, distinct for every `n`. */
function jobId(session: string, n: number): string {
  return createHash('sha256').update(`${session}:${n}`).digest('hex');
}

/** A store that keeps only each key's current body: 20,000 versions of a growing session would not fit in memory. */
class CurrentBodies implements ObjectStore {
  readonly #objects = new Map<string, StoredObject>();
  #writes = 0;

  async get(key: string): Promise<StoredObject | undefined> {
    return this.#objects.get(key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    const current = this.#objects.get(key);
    const holds = 'ifNoneMatch' in condition ? current === undefined : current?.etag === condition.ifMatch;
    if (!holds) throw new ConditionNotMet(key);
    const etag = `"${++this.#writes}"`;
    this.#objects.set(key, { body, etag });
    return etag;
  }

  async list(): Promise<ListPage> {
    return { keys: [], truncated: false };
  }
}

/** Exit codes the failed jobs end with: 1–255, as a shell reports them. */
const exitCode = (n: number) => 1 + (n % 255);

export async function measureJobOutcomes(options: JobOutcomesOptions = {}): Promise<JobOutcomesResult> {
  const started = performance.now();
  const jobs = options.jobs ?? 10_000;
  const window = Math.min(options.window ?? 40, jobs);
  const log = options.log ?? (() => {});

  log(`job outcomes: stored size of ${jobs} jobs`);
  const store = new CurrentBodies();
  const repository = new SessionRepository({ renewals: new MemoryObjectStore(), store });
  const bare = (await repository.createSession()).session.id;
  const failed = (await repository.createSession()).session.id;
  for (let n = 0; n < jobs; n++) {
    await repository.addJob(bare, jobId('bare', n));
    await repository.addJob(failed, jobId('failed', n), { state: 'failed', exitCode: exitCode(n) });
  }
  const bareBody = (await store.get(sessionKey(bare)))!.body;
  const failedBody = (await store.get(sessionKey(failed)))!.body;

  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const readStarted = nowMs();
  const read = SESSION_CODEC.parse(failedBody, sessionKey(failed));
  const readMs = nowMs() - readStarted;
  globalThis.gc?.();
  const readHeapBytes = process.memoryUsage().heapUsed - heapBefore;
  if (read.job_counts?.failed !== jobs) throw new Error(`the session read back counts ${read.job_counts?.failed} failed jobs`);

  log('job outcomes: requests of a warm append with an outcome on the S3 fake');
  const s3Requests = await countS3Requests();

  log(`job outcomes: local server, ${jobs} jobs bare and with outcomes`);
  const { p50BareMs, p50OutcomeMs } = await measureLocal(jobs, window, log);
  return {
    jobs,
    bareBytes: Buffer.byteLength(bareBody),
    failedBytes: Buffer.byteLength(failedBody),
    readMs,
    readHeapBytes,
    s3Requests,
    p50BareMs,
    p50OutcomeMs,
    ratio: p50OutcomeMs / p50BareMs,
    seconds: (performance.now() - started) / 1000,
  };
}

async function countS3Requests(): Promise<{ get: number; put: number }> {
  const fake = new S3Fake();
  try {
    const repository = new SessionRepository({
      renewals: new MemoryObjectStore(),
      store: new S3ObjectStore({ bucket: 'bench-sessions', client: fakeS3Client() }),
    });
    const id = (await repository.createSession()).session.id;
    await repository.addJob(id, 'build-1', { state: 'running' });
    fake.resetCounts();
    await repository.addJob(id, 'build-1', { state: 'failed', exitCode: 2 });
    return { get: fake.requests.GetObject, put: fake.requests.PutObject };
  } finally {
    fake.restore();
  }
}

async function measureLocal(
  jobs: number,
  window: number,
  log: (line: string) => void,
): Promise<{ p50BareMs: number; p50OutcomeMs: number }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-outcomes-'));
  const server = await startServer(LOCAL_SERVER_SCRIPT, dataDir, ['0']);
  try {
    const append = async (id: string, body: Record<string, unknown>) => {
      const began = nowMs();
      const answer = await fetch(`${server.url}/sessions/${id}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'return=minimal' },
        body: JSON.stringify(body),
      });
      const text = await answer.text();
      const ms = nowMs() - began;
      if (answer.status !== 200) throw new Error(`an append answered ${answer.status}: ${text}`);
      return ms;
    };
    const create = async () => {
      const created = await fetch(`${server.url}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return ((await created.json()) as { id: string }).id;
    };
    const bare = await create();
    const failed = await create();
    const bareJob = (n: number) => ({ job_id: jobId('bare', n) });
    const failedJob = (n: number) => ({ job_id: jobId('failed', n), state: 'failed', exit_code: exitCode(n) });
    for (let n = 0; n < jobs - window; n++) {
      await append(bare, bareJob(n));
      await append(failed, failedJob(n));
      if (n % 2_000 === 1_999) log(`job outcomes: ${n + 1} of ${jobs - window} jobs each`);
    }
    const bareMs: number[] = [];
    const outcomeMs: number[] = [];
    for (let round = 0; round < window; round++) {
      const n = jobs - window + round;
      // Interleaved, the first of each pair alternating, so that neither kind always runs after the other.
      if (round % 2 === 0) {
        bareMs.push(await append(bare, bareJob(n)));
        outcomeMs.push(await append(failed, failedJob(n)));
      } else {
        outcomeMs.push(await append(failed, failedJob(n)));
        bareMs.push(await append(bare, bareJob(n)));
      }
    }
    return { p50BareMs: median(bareMs), p50OutcomeMs: median(outcomeMs) };
  } finally {
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const jobs = Number(process.argv[2] ?? 10_000);
  const result = await measureJobOutcomes({ jobs, log: (line) => console.error(line) });
  console.log(JSON.stringify(result, null, 2));
}
