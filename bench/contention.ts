/**
 * 2. Contention: W writers append to one session at once, each with its own
 * repository and S3 client (its own Lambda instance), on the S3 fake with a
 * fixed latency per request and, when one is configured, on a real
 * S3-compatible endpoint. A writer that gets 503 (`conflict_retry`, or
 * `storage_unavailable`) waits as the service's client would and tries again,
 * so every job lands; the session is then checked to hold each exactly once.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_RETRY, retryDelay } from '#lib/client/retry.ts';
import { sleep } from '#lib/common/backoff.ts';
import { ConflictRetry, StorageUnavailable } from '#lib/domain/errors.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { type Session, SessionSchema } from '#lib/domain/session.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { StoreFault } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { fixed, integer, type Section, times } from './report.ts';
import { configuredEndpoint, countingEndpointClient, fakeS3Client, newRequestCounter, type RequestCounter } from './s3-clients.ts';
import { median, nowMs, percentile, rotate, sum } from './stats.ts';

export interface ContentionOptions {
  quick?: boolean;
  writerCounts?: number[];
  /** Jobs appended per run, split evenly between the writers. */
  jobsPerRun?: number;
  runs?: number;
  /** Latency of every request to the fake, in ms. */
  fakeLatencyMs?: number;
  /** A real endpoint to measure too; default from `AWS_ENDPOINT_URL_S3` and `SESSIONS_TEST_BUCKET`; null for none. */
  endpoint?: { endpoint: string; bucket: string } | null;
  /** Runs on the real endpoint (default: as many as on the fake). */
  endpointRuns?: number;
  log?: (line: string) => void;
}

export interface ContentionRun {
  writers: number;
  jobs: number;
  seconds: number;
  requests: number;
  /** Time from a writer's first try at a job to the job being in, per job, in ms. */
  latenciesMs: number[];
  /** 503 `conflict_retry` answers: the compare-and-swap ran out of attempts. */
  conflictRetries: number;
  /** 503 `storage_unavailable` answers: the store kept failing. */
  storageUnavailable: number;
  /** Every job in the session exactly once, and nothing else. */
  landedOnce: boolean;
}

export interface ContentionRow {
  writers: number;
  runs: number;
  jobsPerRun: number;
  appendsPerSecond: number;
  requestsPerAppend: number;
  p50Ms: number;
  p99Ms: number;
  /** p50 and p99 over the p50 of one writer alone. */
  p50Ratio: number;
  p99Ratio: number;
  conflictRetries: number;
  storageUnavailable: number;
  landedOnce: boolean;
}

export interface ContentionBackendResult {
  backend: string;
  description: string;
  /** p50 of an append by one writer alone, in ms: the unit of the latency ratios. */
  uncontendedP50Ms: number;
  rows: ContentionRow[];
  runs: ContentionRun[];
}

export interface ContentionResult {
  fakeLatencyMs: number;
  backends: ContentionBackendResult[];
  /** Why the real endpoint was not measured, when it was not. */
  endpointSkipped?: string;
  seconds: number;
}

/** Where a contention run happens: how writers are made, how requests are counted, how the session is read back. */
interface Backend {
  name: string;
  description: string;
  createSession(): Promise<string>;
  newWriter(): SessionRepository;
  requestsSent(): number;
  /** Error answers from the store over all runs, by error name, where the backend can tell. */
  errorAnswers?(): Record<string, number>;
  read(id: string): Promise<Session>;
  close(): Promise<void>;
}

const BUCKET = 'bench-sessions';

/** Runs every writer count on the fake, then on the real endpoint when there is one. */
export async function measureContention(options: ContentionOptions = {}): Promise<ContentionResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const writerCounts = options.writerCounts ?? (quick ? [1, 4, 16] : [1, 4, 16, 64]);
  if (!writerCounts.includes(1)) throw new Error('the writer counts must include 1: it is the baseline of the latency ratios');
  const jobsPerRun = options.jobsPerRun ?? (quick ? 32 : 128);
  const runs = options.runs ?? (quick ? 1 : 3);
  const fakeLatencyMs = options.fakeLatencyMs ?? 5;
  const endpoint = options.endpoint === undefined ? configuredEndpoint() : options.endpoint;

  const backends: ContentionBackendResult[] = [];
  const fake = fakeBackend(fakeLatencyMs);
  try {
    backends.push(await measureBackend(fake, writerCounts, jobsPerRun, runs, log));
  } finally {
    await fake.close();
  }
  let endpointSkipped: string | undefined;
  if (endpoint === null || endpoint === undefined) {
    endpointSkipped =
      'no S3-compatible endpoint configured (set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET, e.g. `eval "$(bash scripts/ceph-rgw.sh env)"`)';
  } else {
    const real = endpointBackend(endpoint.endpoint, endpoint.bucket, await endpointLabel(endpoint.endpoint));
    try {
      backends.push(await measureBackend(real, writerCounts, jobsPerRun, options.endpointRuns ?? runs, log));
    } catch (error) {
      endpointSkipped = `the endpoint ${endpoint.endpoint} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      log(`contention: ${endpointSkipped}`);
    } finally {
      await real.close();
    }
  }
  return {
    fakeLatencyMs,
    backends,
    ...(endpointSkipped === undefined ? {} : { endpointSkipped }),
    seconds: (performance.now() - started) / 1000,
  };
}

async function measureBackend(
  backend: Backend,
  writerCounts: number[],
  jobsPerRun: number,
  runs: number,
  log: (line: string) => void,
): Promise<ContentionBackendResult> {
  await contend(backend, Math.min(4, Math.max(...writerCounts)), Math.min(jobsPerRun, 16));
  const all: ContentionRun[] = [];
  for (let round = 0; round < runs; round++) {
    for (const writers of rotate(writerCounts, round)) {
      const run = await contend(backend, writers, jobsPerRun);
      log(
        `contention (${backend.name}) run ${round + 1}/${runs}, ${writers} writer(s): ${fixed(run.jobs / run.seconds, 1)} appends/s, ` +
          `${fixed(run.requests / run.jobs, 2)} requests per append, ${run.conflictRetries} conflict_retry, ${run.landedOnce ? 'all jobs once' : 'JOBS MISSING OR DUPLICATED'}`,
      );
      all.push(run);
    }
  }
  const uncontendedP50Ms = median(all.filter((run) => run.writers === 1).map((run) => percentile(run.latenciesMs, 0.5)));
  const rows = writerCounts.map((writers): ContentionRow => {
    const mine = all.filter((run) => run.writers === writers);
    const p50Ms = median(mine.map((run) => percentile(run.latenciesMs, 0.5)));
    const p99Ms = median(mine.map((run) => percentile(run.latenciesMs, 0.99)));
    return {
      writers,
      runs: mine.length,
      jobsPerRun: mine[0]?.jobs ?? 0,
      appendsPerSecond: median(mine.map((run) => run.jobs / run.seconds)),
      requestsPerAppend: sum(mine.map((run) => run.requests)) / sum(mine.map((run) => run.jobs)),
      p50Ms,
      p99Ms,
      p50Ratio: p50Ms / uncontendedP50Ms,
      p99Ratio: p99Ms / uncontendedP50Ms,
      conflictRetries: sum(mine.map((run) => run.conflictRetries)),
      storageUnavailable: sum(mine.map((run) => run.storageUnavailable)),
      landedOnce: mine.every((run) => run.landedOnce),
    };
  });
  const errors = Object.entries(backend.errorAnswers?.() ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const description =
    errors.length === 0
      ? backend.description
      : `${backend.description}; error answers over all runs, warm-up included: ${errors.map(([name, count]) => `${name} ${count}`).join(', ')}`;
  return { backend: backend.name, description, uncontendedP50Ms, rows, runs: all };
}

/** One run: `writers` writers, each its own instance, append `jobs` jobs between them to one new session. */
async function contend(backend: Backend, writers: number, jobs: number): Promise<ContentionRun> {
  const id = await backend.createSession();
  const perWriter = Math.max(1, Math.floor(jobs / writers));
  const plan = Array.from({ length: writers }, (_, writer) => Array.from({ length: perWriter }, (_, job) => `w${writer}-j${job}`));
  const repositories = plan.map(() => backend.newWriter());
  const latenciesMs: number[] = [];
  let conflictRetries = 0;
  let storageUnavailable = 0;

  const before = backend.requestsSent();
  const start = nowMs();
  await Promise.all(
    plan.map(async (myJobs, writer) => {
      const repository = repositories[writer]!;
      for (const job of myJobs) {
        const began = nowMs();
        for (let attempt = 1; ; attempt++) {
          try {
            await repository.addJob(id, job);
            break;
          } catch (error) {
            if (error instanceof ConflictRetry) conflictRetries++;
            else if (error instanceof StoreFault) storageUnavailable++;
            else throw error;
            // The wait the API would ask for: a store fault is answered as 503 storage_unavailable.
            const answer = error instanceof StoreFault ? new StorageUnavailable({ cause: error }) : error;
            await sleep(retryDelay(attempt, answer.retryAfterSeconds, DEFAULT_RETRY));
          }
        }
        latenciesMs.push(nowMs() - began);
      }
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  const requests = backend.requestsSent() - before;

  const stored = await backend.read(id);
  const expected = plan.flat();
  const landedOnce =
    stored.job_ids.length === expected.length &&
    new Set(stored.job_ids).size === expected.length &&
    expected.every((job) => stored.job_ids.includes(job));
  return { writers, jobs: expected.length, seconds, requests, latenciesMs, conflictRetries, storageUnavailable, landedOnce };
}

function fakeBackend(latencyMs: number): Backend {
  const fake = new S3Fake();
  fake.latency = latencyMs;
  const client = fakeS3Client();
  const setup = new SessionRepository({ renewals: new MemoryObjectStore(), store: new S3ObjectStore({ bucket: BUCKET, client }) });
  return {
    name: `S3 fake, ${latencyMs} ms per request`,
    description: `the stateful S3 fake with a fixed ${latencyMs} ms before every request takes effect`,
    createSession: async () => (await setup.createSession({ name: 'contention' })).session.id,
    newWriter: () =>
      new SessionRepository({ renewals: new MemoryObjectStore(), store: new S3ObjectStore({ bucket: BUCKET, client: fakeS3Client() }) }),
    requestsSent: () => fake.totalRequests,
    read: async (id) => SessionSchema.parse(JSON.parse(fake.body(sessionKey(id)) ?? 'null')),
    close: async () => fake.restore(),
  };
}

/** "Ceph RGW" when the endpoint is the one scripts/ceph-rgw.sh runs, else the endpoint's host. */
async function endpointLabel(endpoint: string): Promise<string> {
  const script = fileURLToPath(new URL('../scripts/ceph-rgw.sh', import.meta.url));
  const host = new URL(endpoint).host;
  if (!existsSync(script)) return `S3 endpoint ${host}`;
  try {
    const { stdout } = await promisify(execFile)('bash', [script, 'env'], { timeout: 10_000 });
    const ceph = /AWS_ENDPOINT_URL_S3=(\S+)/.exec(stdout)?.[1];
    return ceph !== undefined && new URL(ceph).host === host ? `Ceph RGW ${host}` : `S3 endpoint ${host}`;
  } catch {
    return `S3 endpoint ${host}`;
  }
}

function endpointBackend(endpoint: string, bucket: string, label: string): Backend {
  const counter: RequestCounter = newRequestCounter();
  const clients: S3Client[] = [];
  const client = () => {
    const made = countingEndpointClient(counter);
    clients.push(made);
    return made;
  };
  const setupClient = countingEndpointClient(newRequestCounter());
  clients.push(setupClient);
  const setup = new SessionRepository({ renewals: new MemoryObjectStore(), store: new S3ObjectStore({ bucket, client: setupClient }) });
  const created: string[] = [];
  return {
    name: label,
    description: `the S3-compatible server at ${endpoint} (bucket ${bucket}); requests counted per HTTP attempt, SDK retries included`,
    createSession: async () => {
      const { session } = await setup.createSession({ name: 'contention' });
      created.push(session.id);
      return session.id;
    },
    newWriter: () => new SessionRepository({ renewals: new MemoryObjectStore(), store: new S3ObjectStore({ bucket, client: client() }) }),
    requestsSent: () => counter.total,
    errorAnswers: () => ({ ...counter.errors }),
    read: async (id) => (await setup.getSession(id)).session,
    close: async () => {
      for (const id of created) await setupClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: sessionKey(id) })).catch(() => {});
      for (const made of clients) made.destroy();
    },
  };
}

/** Section 2 of bench/RESULTS.md. */
export function contentionSection(result: ContentionResult): Section {
  const rows = result.backends.flatMap((backend) =>
    backend.rows.map((row) => [
      backend.backend,
      integer(row.writers),
      `${row.runs} × ${row.jobsPerRun}`,
      fixed(row.appendsPerSecond, 1),
      fixed(row.requestsPerAppend, 2),
      `${fixed(row.p50Ms, 1)} ms`,
      `${fixed(row.p99Ms, 1)} ms`,
      times(row.p50Ratio),
      times(row.p99Ratio),
      integer(row.conflictRetries),
      integer(row.storageUnavailable),
      row.landedOnce ? 'yes' : 'NO',
    ]),
  );
  return {
    title: '2. Contention: many writers appending to one session',
    intro: [
      'Each writer is its own Lambda instance: its own `SessionRepository` (and its own warm-version cache) and its own S3 client. ' +
        'All writers start together on one new session and split the jobs of a run evenly; each appends its jobs one after another. ' +
        "The service's production compare-and-swap settings apply (8 attempts, full-jitter backoff from 10 ms capped at 400 ms). " +
        "A writer answered 503 waits as the service's client does (`retryDelay`: the `Retry-After` plus jitter) and sends the job again, " +
        'so every job lands; the session is read back after each run and must hold every job exactly once.',
      "Latency is from a writer's first try at a job until the job is in, 503 waits included. p50 and p99 are per run, then the median over runs; " +
        'the ratios divide them by the p50 of one writer alone (a warm append: one conditional PUT) on the same backend in the same runs. ' +
        'Appends per second is the median over runs; requests per append is all requests over all jobs (setup and read-back not counted). ' +
        'One unrecorded warm-up run precedes the runs on each backend, and the runs interleave the writer counts.',
      ...result.backends.map(
        (backend) =>
          `**${backend.backend}**: ${backend.description}; one writer alone: p50 ${fixed(backend.uncontendedP50Ms, 2)} ms per append.`,
      ),
    ],
    tables: [
      {
        headers: [
          'backend',
          'writers',
          'runs × jobs',
          'appends/s',
          'S3 requests per append',
          'p50',
          'p99',
          'p50 vs 1 writer',
          'p99 vs 1 writer',
          'conflict_retry (503)',
          'storage_unavailable (503)',
          'every job once',
        ],
        rows,
      },
    ],
    notes: [
      'How to read it: a writer that has just won holds the current version, so its next append is a single conditional PUT that usually ' +
        'goes straight through while the others back off; that keeps the p50 near one PUT until the writers outnumber what one session can ' +
        'take. The cost of contention shows in the requests per append (refused PUTs and the re-reads after them) and in the p99, which ' +
        "holds the backoff and, for a change that ran out of attempts, the 503 and the client's wait of at least the 1 s `Retry-After`.",
      ...(result.endpointSkipped === undefined ? [] : [`Real endpoint not measured: ${result.endpointSkipped}.`]),
    ],
  };
}
