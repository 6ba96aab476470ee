/**
 * 7. Leases: the S3 requests of heartbeats, acquires and sweeps, counted on
 * the stateful S3 fake; how long a dead runner's session takes to be paused,
 * measured on the local server and modelled for the deployed minute-long
 * sweep; what a held runner costs per month.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { LeaseSweeper, type SweepReport } from '#lib/workers/lease-sweeper.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { DURATION_MODEL, PRICES } from './cost.ts';
import { LOCAL_SERVER_SCRIPT, startServer, stopServer } from './local-throughput.ts';
import { dollars, fixed, integer, type Section, verdict } from './report.ts';
import { fakeS3Client } from './s3-clients.ts';
import { percentile } from './stats.ts';

export interface LeasesOptions {
  quick?: boolean;
  /** Held sessions per sweep row. */
  sweepSizes?: number[];
  /** Runners of the local detection measurement; 0 skips it (it takes about lease + 2 sweeps). */
  localRunners?: number;
  log?: (line: string) => void;
}

/** S3 requests by kind, as the fake counted them. */
export interface LeaseRequests {
  get: number;
  put: number;
  list: number;
  delete: number;
  total: number;
}

export interface LeaseRequestRow {
  id: 'heartbeat-warm' | 'heartbeat-cold' | 'acquire-free' | 'acquire-force';
  operation: string;
  requests: LeaseRequests;
  expected: string;
  met: boolean;
}

export interface SweepRow {
  held: number;
  expired: number;
  requests: LeaseRequests;
  report: Omit<SweepReport, 'expired'> & { expired: number };
  /** Listing requests the target allows: one per 1,000 held sessions. */
  listBudget: number;
  met: boolean;
  seconds: number;
}

export interface DetectionRow {
  where: string;
  leaseSeconds: number;
  sweepSeconds: number;
  runners: number;
  p50Seconds: number;
  maxSeconds: number;
  /** Lease + 2 × sweep interval. */
  goalSeconds: number;
  met: boolean;
}

export interface RunnerCostRow {
  leaseSeconds: number;
  heartbeatsPerMonth: number;
  apiGateway: number;
  lambda: number;
  s3: number;
  sweeperShare: number;
  total: number;
}

export interface LeasesResult {
  requests: LeaseRequestRow[];
  sweeps: SweepRow[];
  detection: DetectionRow[];
  cost: RunnerCostRow[];
  /** Held runners the sweeper's cost is shared among. */
  costSharedAmong: number;
  costGoal: number;
  seconds: number;
}

const MONTH_SECONDS = 30 * 86_400;
const DEPLOYED_SWEEP_SECONDS = 60;
const LOCAL_LEASE_SECONDS = 5;
const LOCAL_SWEEP_SECONDS = 1;
const POLL_MS = 50;
/** Issue goal: a runner holding a 120 s lease costs at most this per month. */
export const RUNNER_MONTH_GOAL = 0.5;
const COST_LEASES = [30, 120, 600];

/** Measures every lease row. */
export async function measureLeases(options: LeasesOptions = {}): Promise<LeasesResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const sweepSizes = options.sweepSizes ?? (quick ? [10, 1_000] : [10, 1_000, 10_000]);
  const localRunners = options.localRunners ?? (quick ? 4 : 20);
  const fake = new S3Fake();
  try {
    log('leases: heartbeat and acquire requests');
    const requests = await countRequests(fake);
    const sweeps: SweepRow[] = [];
    for (const held of sweepSizes) {
      log(`leases: sweep over ${integer(held)} held sessions`);
      sweeps.push(await countSweep(fake, held));
    }
    log('leases: modelled detection with the deployed 1-minute sweep');
    const detection: DetectionRow[] = [];
    for (const leaseSeconds of COST_LEASES) detection.push(await modelDeployedDetection(fake, leaseSeconds, quick ? 10 : 60));
    fake.restore();
    if (localRunners > 0) {
      log(`leases: detection on the local server, ${localRunners} runners`);
      detection.unshift(await measureLocalDetection(localRunners));
    }
    const largest = sweeps.at(-1);
    const costSharedAmong = largest?.held ?? 1;
    const cost = COST_LEASES.map((leaseSeconds) =>
      runnerMonth(leaseSeconds, requests.find((row) => row.id === 'heartbeat-warm')!.requests, largest),
    );
    return {
      requests,
      sweeps,
      detection,
      cost,
      costSharedAmong,
      costGoal: RUNNER_MONTH_GOAL,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    fake.restore();
  }
}

/** One S3-backed repository per Lambda instance; the fake keeps the sessions and the leases buckets' keys apart by prefix. */
function instance(clock?: () => number): SessionRepository {
  const client = fakeS3Client();
  return new SessionRepository({
    store: new S3ObjectStore({ bucket: 'bench-sessions', client }),
    renewals: new S3ObjectStore({ bucket: 'bench-leases', client }),
    ...(clock === undefined ? {} : { clock }),
  });
}

function counts(fake: S3Fake): LeaseRequests {
  const { GetObject: get, PutObject: put, ListObjectsV2: list, DeleteObject: del = 0 } = fake.requests;
  return { get, put, list, delete: del, total: fake.totalRequests };
}

async function countRequests(fake: S3Fake): Promise<LeaseRequestRow[]> {
  const rows: LeaseRequestRow[] = [];
  const count = async (id: LeaseRequestRow['id'], operation: string, expected: LeaseRequests, act: () => Promise<unknown>) => {
    fake.resetCounts();
    await act();
    const measured = counts(fake);
    const text = [`${expected.get} GET`, `${expected.put} PUT`, `${expected.list} LIST`, `${expected.delete} DELETE`]
      .filter((part) => !part.startsWith('0 '))
      .join(' + ');
    rows.push({
      id,
      operation,
      requests: measured,
      expected: text,
      met: (Object.keys(expected) as (keyof LeaseRequests)[]).every((kind) => measured[kind] === expected[kind]),
    });
  };
  const runner = instance();
  const held = (await runner.createSession({ leaseSeconds: 120, holder: 'runner-1' })).session;
  await count(
    'heartbeat-warm',
    'heartbeat, warm instance (the one that issued the lease)',
    { get: 0, put: 1, list: 0, delete: 0, total: 1 },
    () => runner.heartbeat(held.id, 1),
  );
  await count('heartbeat-cold', 'heartbeat, cold instance', { get: 2, put: 1, list: 0, delete: 0, total: 3 }, () =>
    instance().heartbeat(held.id, 1),
  );
  const free = (await runner.createSession()).session;
  await count('acquire-free', 'acquire, session never held, cold instance', { get: 1, put: 2, list: 1, delete: 0, total: 4 }, () =>
    instance().acquireLease(free.id, { holder: 'runner-2', seconds: 120 }),
  );
  const taken = (await runner.createSession({ leaseSeconds: 120, holder: 'runner-3' })).session;
  await count(
    'acquire-force',
    'acquire with force: take-over of a live lease, cold instance',
    { get: 2, put: 2, list: 1, delete: 1, total: 6 },
    () => instance().acquireLease(taken.id, { holder: 'operator', seconds: 120, force: true }),
  );
  return rows;
}

/** `held` sessions held; 1 % of them (at least one) hold a lease that lapsed an hour ago; one sweep by a cold instance. */
async function countSweep(fake: S3Fake, held: number): Promise<SweepRow> {
  fake.objects.clear();
  fake.versions.clear();
  const nowMs = Date.now();
  let clockMs = nowMs - 3_600_000;
  fake.clock = () => clockMs;
  const expired = Math.max(1, Math.round(held / 100));
  const seeding = instance(() => clockMs);
  for (let index = 0; index < held; index++) {
    if (index === expired) clockMs = nowMs;
    await seeding.createSession({ leaseSeconds: index < expired ? 30 : 600, holder: `runner-${index}` });
  }
  // The steady state: the status index complete (a store created with the index needs no backfill).
  await seeding.backfillStatusIndex();
  const sweeper = new LeaseSweeper({
    repository: instance(() => clockMs),
    graceSeconds: DEPLOYED_SWEEP_SECONDS,
    clock: { now: () => clockMs },
  });
  fake.resetCounts();
  const began = performance.now();
  const report = await sweeper.sweep();
  const seconds = (performance.now() - began) / 1000;
  const requests = counts(fake);
  fake.clock = Date.now;
  const listBudget = Math.ceil(held / 1000);
  // Reads only for the expired: their renewal record and their session (and the session again after its status index
  // entry moved), nothing for a live lease; and the status index's backfill record, once per instance.
  // Every other LIST is the prune of one expired session's records.
  const met =
    report.listRequests <= listBudget &&
    requests.list <= listBudget + expired &&
    requests.get <= 3 * expired + 1 &&
    report.reads <= 2 * expired &&
    report.expired.length === expired;
  return { held, expired, requests, report: { ...report, expired: report.expired.length }, listBudget, met, seconds };
}

/**
 * The deployed sweep, modelled with the real sweeper on a simulated clock:
 * runners whose last heartbeats fall at phases spread over a minute, sweeps
 * at every whole minute (grace = interval = 60 s, as deployed). Detection is
 * the time from a runner's last heartbeat to the sweep that paused it.
 */
async function modelDeployedDetection(fake: S3Fake, leaseSeconds: number, runners: number): Promise<DetectionRow> {
  fake.objects.clear();
  fake.versions.clear();
  const startMs = Math.ceil(Date.now() / 60_000) * 60_000;
  let clockMs = startMs - 20_000;
  fake.clock = () => clockMs;
  const repository = instance(() => clockMs);
  const ids: string[] = [];
  for (let index = 0; index < runners; index++)
    ids.push((await repository.createSession({ leaseSeconds, holder: `runner-${index}` })).session.id);
  const lastBeat = ids.map((_, index) => startMs + Math.floor(((index + 0.5) * DEPLOYED_SWEEP_SECONDS * 1000) / runners));
  for (const [index, id] of ids.entries()) {
    clockMs = lastBeat[index]!;
    await repository.heartbeat(id, 1);
  }
  const sweeper = new LeaseSweeper({
    repository: instance(() => clockMs),
    graceSeconds: DEPLOYED_SWEEP_SECONDS,
    clock: { now: () => clockMs },
  });
  const detected = new Map<string, number>();
  for (let minute = 1; detected.size < ids.length && minute < 100; minute++) {
    clockMs = startMs + minute * 60_000;
    const report = await sweeper.sweep();
    for (const id of report.expired) detected.set(id, (clockMs - lastBeat[ids.indexOf(id)]!) / 1000);
  }
  fake.clock = Date.now;
  const samples = [...detected.values()];
  const goalSeconds = leaseSeconds + 2 * DEPLOYED_SWEEP_SECONDS;
  const maxSeconds = detected.size === ids.length ? Math.max(...samples) : Number.POSITIVE_INFINITY;
  return {
    where: 'deployed, modelled (simulated clock)',
    leaseSeconds,
    sweepSeconds: DEPLOYED_SWEEP_SECONDS,
    runners,
    p50Seconds: percentile(samples, 0.5),
    maxSeconds,
    goalSeconds,
    met: maxSeconds <= goalSeconds,
  };
}

/** Runners on the local server (sweep every second) that take a 5 s lease, heartbeat twice and stop; their sessions are polled until `paused`. */
async function measureLocalDetection(runners: number): Promise<DetectionRow> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-leases-'));
  const server = await startServer(LOCAL_SERVER_SCRIPT, dataDir, [String(LOCAL_SWEEP_SECONDS)]);
  try {
    const samples = await Promise.all(
      Array.from({ length: runners }, async (_, index) => {
        // Staggered starts put the last heartbeats at every phase of the sweep's second.
        await sleep(Math.floor((index * 1000) / runners));
        const created = await fetch(`${server.url}/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ lease_seconds: LOCAL_LEASE_SECONDS, holder: `runner-${index}` }),
        });
        if (created.status !== 201) throw new Error(`creating a held session answered ${created.status}: ${await created.text()}`);
        const { id } = (await created.json()) as { id: string };
        let lastBeat = 0;
        for (let beat = 0; beat < 2; beat++) {
          await sleep(500);
          const answer = await fetch(`${server.url}/sessions/${id}/heartbeat`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'lease-epoch': '1' },
            body: '{}',
          });
          if (answer.status !== 200) throw new Error(`a heartbeat answered ${answer.status}: ${await answer.text()}`);
          await answer.arrayBuffer();
          lastBeat = performance.now();
        }
        for (;;) {
          await sleep(POLL_MS);
          const session = (await (await fetch(`${server.url}/sessions/${id}`)).json()) as { status: string };
          if (session.status === 'paused') return (performance.now() - lastBeat) / 1000;
          if (performance.now() - lastBeat > 60_000) return Number.POSITIVE_INFINITY;
        }
      }),
    );
    const goalSeconds = LOCAL_LEASE_SECONDS + 2 * LOCAL_SWEEP_SECONDS;
    const maxSeconds = Math.max(...samples);
    return {
      where: 'local server (measured)',
      leaseSeconds: LOCAL_LEASE_SECONDS,
      sweepSeconds: LOCAL_SWEEP_SECONDS,
      runners,
      p50Seconds: percentile(samples, 0.5),
      maxSeconds,
      goalSeconds,
      met: maxSeconds <= goalSeconds,
    };
  } finally {
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A held runner for 30 days, heartbeating every lease/3: per heartbeat one
 * HTTP API request, one Lambda invocation (the duration model of item 6 with
 * the heartbeat's round trips) and its measured S3 requests; plus its share of
 * the sweeper: one invocation a minute, its lists and their round trips shared
 * among the held runners of the largest sweep row.
 */
function runnerMonth(leaseSeconds: number, heartbeat: LeaseRequests, sweep: SweepRow | undefined): RunnerCostRow {
  const heartbeatsPerMonth = MONTH_SECONDS / (leaseSeconds / 3);
  const gbSeconds = (ms: number) => (DURATION_MODEL.memoryMb / 1024) * (Math.ceil(ms) / 1000);
  const heartbeatMs = DURATION_MODEL.handlerMs + heartbeat.total * DURATION_MODEL.s3RoundTripMs;
  const apiGateway = (heartbeatsPerMonth * PRICES.httpApiPerMillionRequests) / 1e6;
  const lambda = heartbeatsPerMonth * (PRICES.lambdaPerMillionRequests / 1e6 + gbSeconds(heartbeatMs) * PRICES.lambdaArmPerGbSecond);
  const s3 =
    heartbeatsPerMonth * (((heartbeat.put + heartbeat.list) * PRICES.s3ClassAPer1000 + heartbeat.get * PRICES.s3ClassBPer1000) / 1000);
  let sweeperShare = 0;
  if (sweep !== undefined) {
    const sweepsPerMonth = MONTH_SECONDS / DEPLOYED_SWEEP_SECONDS;
    const live = sweep.requests;
    const sweepMs = DURATION_MODEL.handlerMs + live.list * DURATION_MODEL.s3RoundTripMs;
    const perSweep =
      PRICES.lambdaPerMillionRequests / 1e6 +
      gbSeconds(sweepMs) * PRICES.lambdaArmPerGbSecond +
      (live.list * PRICES.s3ClassAPer1000) / 1000;
    sweeperShare = (sweepsPerMonth * perSweep) / sweep.held;
  }
  return { leaseSeconds, heartbeatsPerMonth, apiGateway, lambda, s3, sweeperShare, total: apiGateway + lambda + s3 + sweeperShare };
}

/** Section 7 of bench/RESULTS.md. */
export function leasesSection(result: LeasesResult): Section {
  const req = (r: LeaseRequests) => [r.get, r.put, r.list, r.delete, r.total].map(integer);
  return {
    title: '7. Leases: requests, sweeps, detection, cost per runner',
    intro: [
      'Requests are counted exactly by the stateful S3 fake behind `S3ObjectStore` (sessions bucket and leases bucket), each operation on a ' +
        'fresh repository (a cold Lambda instance) unless the row says warm. A warm heartbeat is one conditional PUT of the renewal record ' +
        '(`lib/sessions/renewals.ts`); a cold one reads the session and the record first.',
      'Sweeps: `held` sessions held, 1 % of them (at least one) with a 30 s lease that lapsed an hour ago, the rest with a live 600 s lease; ' +
        'one sweep by a cold instance with the deployed grace of 60 s. Target: at most one LIST of renewal records per 1,000 held sessions, and reads ' +
        '(record + session) only for the expired ones. "LIST in all" adds the one LIST by which each expiry prunes that session\'s records; the PUTs are ' +
        'the fence of the record and the pause of the session, the DELETE the pruned record.',
    ],
    tables: [
      {
        headers: ['operation', 'GET', 'PUT', 'LIST', 'DELETE', 'total', 'design', 'met'],
        rows: result.requests.map((row) => [row.operation, ...req(row.requests), row.expected, verdict(row.met)]),
      },
      {
        headers: [
          'held sessions',
          'expired',
          'LIST of records',
          'LIST in all',
          'GET',
          'PUT',
          'DELETE',
          'records listed',
          'candidates',
          'reads',
          'paused',
          'LIST budget',
          'sweep wall time',
          'met',
        ],
        rows: result.sweeps.map((row) => [
          integer(row.held),
          integer(row.expired),
          integer(row.report.listRequests),
          integer(row.requests.list),
          integer(row.requests.get),
          integer(row.requests.put),
          integer(row.requests.delete),
          integer(row.report.records),
          integer(row.report.candidates),
          integer(row.report.reads),
          integer(row.report.expired),
          integer(row.listBudget),
          `${fixed(row.seconds * 1000, 0)} ms`,
          verdict(row.met),
        ]),
      },
      {
        headers: ['detection', 'lease', 'sweep every', 'runners', 'p50', 'max', 'goal (lease + 2 × sweep)', 'met'],
        rows: result.detection.map((row) => [
          row.where,
          `${row.leaseSeconds} s`,
          `${row.sweepSeconds} s`,
          integer(row.runners),
          `${fixed(row.p50Seconds, 1)} s`,
          `${fixed(row.maxSeconds, 1)} s`,
          `${row.goalSeconds} s`,
          verdict(row.met),
        ]),
      },
      {
        headers: ['lease', 'heartbeats a month (every lease/3)', 'API Gateway', 'Lambda', 'S3', 'sweeper share', 'per held runner-month'],
        rows: result.cost.map((row) => [
          `${row.leaseSeconds} s`,
          integer(row.heartbeatsPerMonth),
          dollars(row.apiGateway, 3),
          dollars(row.lambda, 3),
          dollars(row.s3, 3),
          dollars(row.sweeperShare, 5),
          dollars(row.total, 3),
        ]),
      },
    ],
    notes: [
      'Detection, locally: `startLocalServer` with `leaseSweepSeconds: 1` on the SQLite store, in its own process (`bench/local-throughput/local-server.ts`); each runner creates a session with a 5 s lease, ' +
        `heartbeats twice 0.5 s apart and stops; its session is polled (GET every ${POLL_MS} ms) until it reads \`paused\`. The time runs from ` +
        'the answer of the last heartbeat to the first poll that sees `paused`, so it includes up to one poll interval.',
      "Detection, deployed (modelled): the real `LeaseSweeper` and repository on the S3 fake with a simulated clock. The runners' last " +
        'heartbeats are spread evenly over one minute; a sweep runs at every whole minute with grace 60 s, as the scheduled function does. ' +
        'A lease is swept once it has been expired for more than the grace, by the next sweep after that: detection is lease + 60 s + ' +
        "the wait for the next tick (0–60 s), so at most lease + 120 s, plus the sweep's own run time (the sweep wall time above), " +
        'which the model leaves out.',
      `Cost: 30 days at list prices (item 6): per heartbeat one HTTP API request, one Lambda invocation (arm64, ${DURATION_MODEL.memoryMb} MB, ` +
        `${DURATION_MODEL.handlerMs} ms + ${DURATION_MODEL.s3RoundTripMs} ms per S3 request) and the warm heartbeat's measured S3 requests ` +
        '(one PUT to the leases bucket, which keeps no versions); plus the share of the sweeper (one invocation a minute, its LISTs and their ' +
        `round trips) among the ${integer(result.costSharedAmong)} held runners of the largest sweep row. A runner that adds jobs often needs ` +
        `fewer heartbeats. Goal at 120 s: ≤ ${dollars(result.costGoal)}.`,
    ],
  };
}
