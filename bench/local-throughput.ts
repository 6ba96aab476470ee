/**
 * 5. Local server throughput: autocannon against the local server (the
 * deployed handlers behind the local gateway, on the SQLite store) and against
 * a bare `node:http` server that reads or writes one file per request, each
 * in its own process on the same kind of data directory, in interleaved runs.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { newestFirstId } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import { fixed, integer, type Section, times, verdict } from './report.ts';
import { median } from './stats.ts';

export interface LocalThroughputOptions {
  quick?: boolean;
  /** Seconds per measured run. */
  durationSeconds?: number;
  /** Measured runs per server and operation. */
  runs?: number;
  /** Seconds of the unrecorded warm-up run per server and operation (0 for none). */
  warmupSeconds?: number;
  connections?: number;
  log?: (line: string) => void;
}

export interface ThroughputRun {
  server: 'local' | 'bare';
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  failed: number;
}

export interface ThroughputRow {
  operation: string;
  localRequestsPerSecond: number;
  bareRequestsPerSecond: number;
  localP50Ms: number;
  bareP50Ms: number;
  /** Median over runs of local / bare in the same run pair. */
  ratio: number;
  /** The lowest and highest ratio of a pair. */
  ratioRange: [number, number];
  failed: number;
  met: boolean;
  runs: ThroughputRun[];
}

export interface LocalThroughputResult {
  rows: ThroughputRow[];
  durationSeconds: number;
  runs: number;
  connections: number;
  sessions: number;
  /** Jobs the local server holds after the add-job runs, against the 2xx answers it gave them. */
  jobCheck: { landed: number; distinct: number; answered: number; ok: boolean };
  target: number;
  seconds: number;
}

/** A server script running in its own process. */
export interface RunningServer {
  url: string;
  child: ChildProcess;
}

/** Issue 8: the local server serves at least half the bare server's requests per second. */
export const THROUGHPUT_TARGET = 0.5;
const SESSIONS = 64;
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The local server as `npm start` runs it, for {@link startServer}. */
export const LOCAL_SERVER_SCRIPT = path.join(HERE, 'local-throughput/local-server.ts');

/** Starts both servers, seeds them, and loads them in interleaved run pairs, reads then appends. */
export async function measureLocalThroughput(options: LocalThroughputOptions = {}): Promise<LocalThroughputResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const durationSeconds = options.durationSeconds ?? (quick ? 1 : 3);
  const runs = options.runs ?? (quick ? 1 : 8);
  const warmupSeconds = options.warmupSeconds ?? (quick ? 0 : 1);
  const connections = options.connections ?? 10;

  const localDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-local-'));
  const bareDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-bare-'));
  const servers: RunningServer[] = [];
  try {
    const local = await startServer(LOCAL_SERVER_SCRIPT, localDir);
    servers.push(local);
    const bare = await startServer(path.join(HERE, 'local-throughput/bare-server.ts'), bareDir);
    servers.push(bare);
    const localIds = await seedLocal(local.url);
    const bareIds = await seedBare(bareDir);
    const ids = { local: localIds, bare: bareIds };
    const urls = { local: local.url, bare: bare.url };

    let localAnswered = 0;
    const operations = [
      { name: 'GET /sessions/{id}', requests: (server: 'local' | 'bare') => readRequests(ids[server]) },
      { name: 'POST /sessions/{id}/jobs (a new job each)', requests: (server: 'local' | 'bare') => appendRequests(ids[server], server) },
    ];
    const rows: ThroughputRow[] = [];
    for (const operation of operations) {
      const appends = operation.name.startsWith('POST');
      const measured: ThroughputRun[] = [];
      const ratios: number[] = [];
      const order: ('local' | 'bare')[] = ['local', 'bare'];
      for (let round = warmupSeconds > 0 ? -1 : 0; round < runs; round++) {
        const pair: Partial<Record<'local' | 'bare', ThroughputRun>> = {};
        for (const server of round % 2 === 0 ? order : [...order].reverse()) {
          const run = await load(
            server,
            urls[server],
            operation.requests(server),
            round < 0 ? warmupSeconds : durationSeconds,
            connections,
          );
          if (appends && server === 'local') localAnswered += run.ok;
          if (round < 0) continue;
          pair[server] = run;
          measured.push(run);
        }
        if (round < 0) continue;
        ratios.push(pair.local!.requestsPerSecond / pair.bare!.requestsPerSecond);
        log(
          `local throughput: ${operation.name} run ${round + 1}/${runs}: local ${fixed(pair.local!.requestsPerSecond, 0)} req/s, bare ${fixed(pair.bare!.requestsPerSecond, 0)} req/s`,
        );
      }
      const of = (server: 'local' | 'bare') => measured.filter((run) => run.server === server);
      const ratio = median(ratios);
      rows.push({
        operation: operation.name,
        localRequestsPerSecond: median(of('local').map((run) => run.requestsPerSecond)),
        bareRequestsPerSecond: median(of('bare').map((run) => run.requestsPerSecond)),
        localP50Ms: median(of('local').map((run) => run.p50Ms)),
        bareP50Ms: median(of('bare').map((run) => run.p50Ms)),
        ratio,
        ratioRange: [Math.min(...ratios), Math.max(...ratios)],
        failed: measured.reduce((total, run) => total + run.failed, 0),
        met: ratio >= THROUGHPUT_TARGET,
        runs: measured,
      });
    }
    const jobCheck = await checkJobs(local.url, localIds, localAnswered, connections * (runs + 1));
    return {
      rows,
      durationSeconds,
      runs,
      connections,
      sessions: SESSIONS,
      jobCheck,
      target: THROUGHPUT_TARGET,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await Promise.all(servers.map(stopServer));
    await rm(localDir, { recursive: true, force: true });
    await rm(bareDir, { recursive: true, force: true });
  }
}

/** Forks a server script; resolves once it reports its URL. Its stdout (the handlers' logs) goes to /dev/null. */
export function startServer(script: string, dataDir: string, args: string[] = []): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [dataDir, ...args], {
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '' },
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('message', (message) => resolve({ url: (message as { url: string }).url, child }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${path.basename(script)} exited (${code}) before listening: ${stderr.trim()}`)));
  });
}

/** Stops a forked server (it exits when its parent disconnects), killing it after 5 s. */
export function stopServer({ child }: RunningServer): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.disconnect();
  });
}

async function seedLocal(url: string): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < SESSIONS; index++) {
    const response = await fetch(`${url}/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-${index}` }),
    });
    if (response.status !== 201)
      throw new Error(`creating a session on the local server answered ${response.status}: ${await response.text()}`);
    ids.push(((await response.json()) as Session).id);
  }
  return ids;
}

async function seedBare(dir: string): Promise<string[]> {
  const now = Date.now();
  const ids: string[] = [];
  for (let index = 0; index < SESSIONS; index++) {
    const seconds = Math.floor((now - index) / 1000);
    const session: Session = {
      id: newestFirstId(now - index),
      name: `bench-${index}`,
      job_ids: [],
      created_at: seconds,
      updated_at: seconds,
      status: 'active',
    };
    await writeFile(path.join(dir, `${session.id}.json`), JSON.stringify(session));
    ids.push(session.id);
  }
  return ids;
}

/** Reads of the sessions in turn: concurrent requests go to different sessions. */
function readRequests(ids: string[]) {
  let next = 0;
  return [{ method: 'GET', setupRequest: (request: { path?: string }) => ({ ...request, path: `/sessions/${ids[next++ % ids.length]}` }) }];
}

let appendRun = 0;

/** Appends of a job never sent before, to the sessions in turn. */
function appendRequests(ids: string[], server: string) {
  const run = ++appendRun;
  let next = 0;
  return [
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      setupRequest: (request: { path?: string }) => {
        const job = next++;
        return { ...request, path: `/sessions/${ids[job % ids.length]}/jobs`, body: JSON.stringify({ job_id: `${server}-${run}-${job}` }) };
      },
    },
  ];
}

async function load(
  server: 'local' | 'bare',
  url: string,
  requests: ReturnType<typeof readRequests>,
  duration: number,
  connections: number,
): Promise<ThroughputRun> {
  const result = await autocannon({ url, connections, duration, requests });
  const failed = result.non2xx + result.errors + result.timeouts;
  return {
    server,
    requestsPerSecond: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok: result['2xx'],
    failed,
  };
}

/**
 * Every answered append is in the local server's sessions, once: at least as many
 * distinct jobs as 2xx answers, at most `slack` more (requests cut off at the end of a run).
 */
async function checkJobs(url: string, ids: string[], answered: number, slack: number): Promise<LocalThroughputResult['jobCheck']> {
  const jobs: string[] = [];
  for (const id of ids) {
    const response = await fetch(`${url}/sessions/${id}`);
    jobs.push(...((await response.json()) as Session).job_ids);
  }
  const distinct = new Set(jobs).size;
  return {
    landed: jobs.length,
    distinct,
    answered,
    ok: distinct === jobs.length && jobs.length >= answered && jobs.length <= answered + slack,
  };
}

/** Section 5 of bench/RESULTS.md. */
export function localThroughputSection(result: LocalThroughputResult): Section {
  const { jobCheck } = result;
  return {
    title: '5. Local server throughput against a bare node:http server',
    intro: [
      'The local server (`startLocalServer`: the deployed handlers behind the local gateway, on the local SQLite store, metrics off and logs on as ' +
        '`npm start` runs it) and a bare `node:http` server (`bench/local-throughput/bare-server.ts`: one file per session, read per GET; ' +
        'an append reads the file and replaces it durably (a 2xx of the SQLite store is on disk too): a temporary file written and fsynced, renamed over it, ' +
        'the directory fsynced; no validation, logging, ETags or concurrency control) each run in their own process, with data directories in the same filesystem, their logs to /dev/null. ' +
        `autocannon runs in the bench process: ${result.connections} connections, ${result.durationSeconds} s per run, ${result.sessions} sessions ` +
        'taken in turn so that concurrent requests meet different sessions; every append sends a job ID never sent before.',
      `After one unrecorded warm-up run each, ${result.runs} run pairs per operation alternate which server goes first. ` +
        'Requests per second count 2xx answers; the ratio is the median over pairs of local over bare in the same pair. ' +
        `Target: ≥ ${result.target}×.`,
    ],
    tables: [
      {
        headers: [
          'operation',
          'local server',
          'bare node:http',
          'ratio',
          'ratio, lowest–highest pair',
          'local p50',
          'bare p50',
          'failed requests',
          `≥ ${result.target}×`,
        ],
        rows: result.rows.map((row) => [
          `\`${row.operation}\``,
          `${integer(row.localRequestsPerSecond)} req/s`,
          `${integer(row.bareRequestsPerSecond)} req/s`,
          times(row.ratio),
          `${times(row.ratioRange[0])}–${times(row.ratioRange[1])}`,
          `${fixed(row.localP50Ms, 1)} ms`,
          `${fixed(row.bareP50Ms, 1)} ms`,
          integer(row.failed),
          verdict(row.met),
        ]),
      },
    ],
    notes: [
      `Appends landed on the local server: ${integer(jobCheck.landed)} jobs (${integer(jobCheck.distinct)} distinct) for ${integer(jobCheck.answered)} 2xx answers ` +
        `(warm-up included; requests cut off at the end of a run may land unanswered): ${jobCheck.ok ? 'every answered job is there exactly once' : 'MISMATCH'}.`,
    ],
  };
}
