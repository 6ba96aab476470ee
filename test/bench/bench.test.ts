import { describe, expect, it } from 'vitest';
import { measureAppends } from '../../bench/appends.ts';
import { measureContention } from '../../bench/contention.ts';
import { computeCost, PRICES } from '../../bench/cost.ts';
import { measureHandlerOverhead } from '../../bench/handler-overhead.ts';
import { measureLeases } from '../../bench/leases.ts';
import { measureListing } from '../../bench/listing.ts';
import { measureLocalWriters } from '../../bench/local-writers.ts';
import { renderTable } from '../../bench/report.ts';
import { measureRequests, type RequestsResult } from '../../bench/requests.ts';
import { type BenchRun, renderResults, targetChecks } from '../../bench/suite.ts';

const LIST_SIZES = [10, 50, 2_000];

let requests: RequestsResult | undefined;
async function requestCounts(): Promise<RequestsResult> {
  requests ??= await measureRequests({ listSizes: LIST_SIZES });
  return requests;
}

function row(result: RequestsResult, id: string) {
  const found = result.rows.find((candidate) => candidate.id === id);
  if (found === undefined) throw new Error(`no row ${id}`);
  return found;
}

describe('bench: S3 requests per operation (quick)', () => {
  it.each([
    // Creates and status changes also keep the status index (in the leases bucket).
    ['create', { get: 0, put: 2, list: 0, delete: 0 }],
    ['create-named', { get: 0, put: 3, list: 0, delete: 0 }],
    ['get', { get: 1, put: 0, list: 0, delete: 0 }],
    ['add-job', { get: 1, put: 1, list: 0, delete: 0 }],
    ['add-job-present', { get: 1, put: 0, list: 0, delete: 0 }],
    ['set-status', { get: 2, put: 3, list: 0, delete: 1 }],
  ])('%s sends exactly the requests the design promises', async (id, expected) => {
    const result = await requestCounts();

    const measured = row(result, id);

    expect(measured.requests).toEqual({ ...expected, total: expected.get + expected.put + expected.list + expected.delete });
    expect(measured.expectation.met).toBe(true);
  });

  it('a runner appending 100 jobs on one warm instance: one read, then one conditional PUT per job', async () => {
    const result = await requestCounts();

    const appends = row(result, 'append-100');

    expect(appends.requests).toEqual({ get: 1, put: 100, list: 0, delete: 0, total: 101 });
    expect(appends.perOperation).toBeCloseTo(1.01, 10);
    expect(appends.expectation.met).toBe(true);
  });

  it('the first list page costs one LIST and one GET per session shown, whatever the number stored', async () => {
    const result = await requestCounts();

    const lists = LIST_SIZES.map((size) => row(result, `list-${size}`).requests);

    expect(lists).toEqual([
      { get: 10, put: 0, list: 1, delete: 0, total: 11 },
      { get: 50, put: 0, list: 1, delete: 0, total: 51 },
      { get: 50, put: 0, list: 1, delete: 0, total: 51 },
    ]);
    expect(result.listCostFlat).toBe(true);
    expect(row(result, 'list-2000').roundTripsPerOperation).toBe(3);
  });
});

describe('bench: contention on the fake (quick)', () => {
  it('lands every job exactly once, and one writer alone pays one read then one PUT per job', async () => {
    const contention = await measureContention({ writerCounts: [1, 4], jobsPerRun: 16, runs: 1, fakeLatencyMs: 1, endpoint: null });

    const [fake] = contention.backends;

    expect(contention.backends).toHaveLength(1);
    expect(contention.endpointSkipped).toMatch(/no S3-compatible endpoint/);
    expect(fake!.rows.map((r) => [r.writers, r.runs, r.jobsPerRun, r.landedOnce])).toEqual([
      [1, 1, 16, true],
      [4, 1, 16, true],
    ]);
    expect(fake!.rows[0]!.requestsPerAppend).toBe(17 / 16);
    expect(fake!.rows[0]!.conflictRetries).toBe(0);
    expect(fake!.rows[1]!.requestsPerAppend).toBeGreaterThanOrEqual(1);
    for (const r of fake!.rows) {
      expect(Number.isFinite(r.appendsPerSecond) && Number.isFinite(r.p50Ratio) && Number.isFinite(r.p99Ratio)).toBe(true);
    }
  });
});

describe('bench: cost per million operations', () => {
  it('prices each operation from its measured requests: S3 tiers, one Lambda invocation and one HTTP API request', async () => {
    const result = await requestCounts();

    const cost = computeCost(result);

    const get = cost.rows.find((r) => r.operation === 'get session')!;
    expect(get.classA).toBe(0);
    expect(get.classB).toBe(1);
    expect(get.s3).toBeCloseTo(1_000_000 * (PRICES.s3ClassBPer1000 / 1000), 10);
    expect(get.apiGateway).toBe(PRICES.httpApiPerMillionRequests);
    const list = cost.rows.find((r) => r.operation.startsWith('list'))!;
    expect(list.classA).toBe(1);
    expect(list.classB).toBe(50);
    for (const r of cost.rows) expect(r.total).toBeCloseTo(r.s3 + r.lambda + r.apiGateway, 10);
    expect(cost.rows.map((r) => r.operation)).toContain('add job, warm instance (a runner appending; per job)');
  });
});

describe('bench: handler overhead (quick)', () => {
  it('times both routes through the full chain and bare, in a child process', async () => {
    const result = await measureHandlerOverhead({ plan: { rounds: 2, block: 50, warmup: 500 } });

    expect(result.rows.map((r) => [r.route, r.invocations])).toEqual([
      ['GET /sessions/{id}', 100],
      ['POST /sessions/{id}/jobs', 100],
    ]);
    for (const r of result.rows) {
      expect([r.chainP50Ms, r.bareP50Ms, r.chainP99Ms, r.bareP99Ms, r.p50DifferenceMs].every(Number.isFinite)).toBe(true);
    }
  });
});

describe('bench: RESULTS.md', () => {
  it('renders the machine, the targets and a section per measurement that ran', async () => {
    const run: BenchRun = {
      quick: true,
      machine: {
        cpu: 'test CPU',
        cores: 2,
        memoryGiB: 4,
        node: 'v24.0.0',
        os: 'test OS',
        tmpFilesystem: '/tmp on tmpfs',
        date: '2026-01-01T00:00:00.000Z',
        commit: 'abc',
      },
      results: { requests: await requestCounts(), cost: computeCost(await requestCounts()) },
      timings: { requests: 1, cost: 0 },
      seconds: 1,
    };

    const markdown = renderResults(run);

    expect(markdown).toMatch(/^# Benchmarks\n/);
    expect(markdown).toContain('| CPU | test CPU |');
    expect(markdown).toContain('## 1. S3 requests per operation');
    expect(markdown).toContain('## 6. Cost per million operations on AWS');
    expect(markdown).not.toContain('## 2.');
    expect(targetChecks(run).map((check) => check.met)).toEqual([true, true, true]);
  });

  it('refuses a table row that does not fit its headers', () => {
    expect(() => renderTable({ headers: ['a', 'b'], rows: [['1']] })).toThrow(/1 cells for 2 headers/);
  });
});

describe('bench: leases (quick)', () => {
  it('counts heartbeats, acquires and sweeps on the fake as the design says, and prices a held runner', async () => {
    const result = await measureLeases({ sweepSizes: [10, 1_000], localRunners: 0 });

    expect(result.requests.map((row) => [row.id, row.requests.total, row.met])).toEqual([
      ['heartbeat-warm', 1, true],
      ['heartbeat-cold', 3, true],
      ['acquire-free', 4, true],
      ['acquire-force', 6, true],
    ]);
    expect(
      result.sweeps.map((row) => [row.held, row.expired, row.report.listRequests, row.report.reads, row.report.expired, row.met]),
    ).toEqual([
      [10, 1, 1, 2, 1, true],
      [1_000, 10, 1, 20, 10, true],
    ]);
    expect(result.detection.map((row) => [row.leaseSeconds, row.met])).toEqual([
      [30, true],
      [120, true],
      [600, true],
    ]);
    for (const row of result.detection) expect(row.maxSeconds).toBeGreaterThan(row.leaseSeconds + 60);
    const at120 = result.cost.find((row) => row.leaseSeconds === 120)!;
    expect(at120.heartbeatsPerMonth).toBe(64_800);
    expect(at120.total).toBeCloseTo(at120.apiGateway + at120.lambda + at120.s3 + at120.sweeperShare, 10);
  });
});

describe('bench: appends, listing and writers (quick)', () => {
  it('an append on S3 PUTs the whole session, and the local answer with return=minimal stays small', async () => {
    const result = await measureAppends({ sizes: [10, 60], window: 4 });

    const [small, large] = result.s3;
    expect(large!.bytesPerAppend - small!.bytesPerAppend).toBeGreaterThan(50 * 64);
    expect(large!.storedBytes).toBeGreaterThan(small!.storedBytes);
    const [localSmall, localLarge] = result.local;
    expect(localLarge!.answeredMinimal).toBeLessThan(localSmall!.answeredMinimal + 10);
    expect(localLarge!.answeredFull - localSmall!.answeredFull).toBeGreaterThan(50 * 64);
  });

  it('the name lookup, the first page and the status filter cost the same at both sizes', async () => {
    const result = await measureListing({ sizes: [50, 600] });

    const row = (query: string) => result.rows.find((candidate) => candidate.query === query)!;
    expect(row('name=').s3Requests).toEqual([2, 2]);
    expect(row('name=').found).toEqual([1, 1]);
    expect(row('first page').s3Requests).toEqual([51, 51]);
    expect(row('status=active, all 10').found).toEqual([10, 10]);
    // The backfill record, one listing of status/active/, one read per entry: the same at both sizes.
    expect(row('status=active, all 10').s3Requests).toEqual([12, 12]);
    expect(row('status=active, all 10').calls).toEqual([1, 1]);
  });

  it('concurrent writers on one session land every job without a 503', async () => {
    const result = await measureLocalWriters({ writerCounts: [4], appendsPerWriter: 5 });

    expect(result.rows.map((r) => [r.writers, r.appends, r.unavailable, r.otherFailures, r.landed, r.met])).toEqual([
      [4, 20, 0, 0, 20, true],
    ]);
  });
});
