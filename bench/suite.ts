/**
 * The whole bench: the measurements in order, and the Markdown of
 * bench/RESULTS.md. `bench/run.ts` is the command; tests import this.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { APPEND_TIME_TARGET, type AppendsResult, appendsSection, measureAppends } from './appends.ts';
import { type BinaryResult, binarySection, measureBinary } from './binary.ts';
import { type ColdStartResult, coldStartSection, measureColdStart } from './cold-start.ts';
import { type ContentionResult, contentionSection, measureContention } from './contention.ts';
import { type CostResult, computeCost, costSection } from './cost.ts';
import { type HandlerOverheadResult, handlerOverheadSection, measureHandlerOverhead } from './handler-overhead.ts';
import { type LeasesResult, leasesSection, measureLeases } from './leases.ts';
import { ACTIVE_REQUEST_TARGET, LISTING_RATIO_TARGET, type ListingResult, listingSection, measureListing } from './listing.ts';
import { type LocalThroughputResult, localThroughputSection, measureLocalThroughput } from './local-throughput.ts';
import { type LocalWritersResult, localWritersSection, measureLocalWriters } from './local-writers.ts';
import { describeMachine, type Machine } from './machine.ts';
import { dollars, fixed, integer, renderSection, renderTable, type Section, signed, times, verdict } from './report.ts';
import { measureRequests, type RequestsResult, requestsSection } from './requests.ts';

export const MEASUREMENTS = [
  'requests',
  'contention',
  'cold-start',
  'handler-overhead',
  'local-throughput',
  'cost',
  'leases',
  'appends',
  'sqlite-store',
  'listing',
  'local-writers',
  'binary',
] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export interface BenchOptions {
  quick?: boolean;
  /** Only these measurements (`cost` needs `requests` and runs it). Default: all. */
  only?: readonly Measurement[];
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface BenchResults {
  requests?: RequestsResult;
  contention?: ContentionResult;
  coldStart?: ColdStartResult;
  handlerOverhead?: HandlerOverheadResult;
  localThroughput?: LocalThroughputResult;
  cost?: CostResult;
  leases?: LeasesResult;
  appends?: AppendsResult;
  /** The Markdown table `node bench/sqlite-store.ts` prints. */
  sqliteStore?: string;
  listing?: ListingResult;
  localWriters?: LocalWritersResult;
  binary?: BinaryResult;
}

/** Runs the store-level rows of `bench/sqlite-store.ts` (a script of its own) and keeps its table. */
async function measureSqliteStore(quick: boolean): Promise<string> {
  const script = fileURLToPath(new URL('./sqlite-store.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...(quick ? ['--quick'] : [])], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export interface BenchRun {
  quick: boolean;
  machine: Machine;
  results: BenchResults;
  /** Wall time of each measurement, in seconds. */
  timings: Partial<Record<Measurement, number>>;
  seconds: number;
}

export interface TargetCheck {
  item: string;
  target: string;
  measured: string;
  met: boolean;
}

/** Runs the measurements asked for, in order, and says what the machine was. */
export async function runBench(options: BenchOptions = {}): Promise<BenchRun> {
  const started = performance.now();
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const only = new Set<Measurement>(options.only ?? MEASUREMENTS);
  if (only.has('cost')) only.add('requests');
  const machine = await describeMachine();
  const results: BenchResults = {};
  const timings: Partial<Record<Measurement, number>> = {};
  const timed = async <T>(name: Measurement, measure: () => Promise<T>): Promise<T> => {
    const began = performance.now();
    log(`— ${name}`);
    const result = await measure();
    timings[name] = (performance.now() - began) / 1000;
    log(`— ${name}: ${fixed(timings[name], 1)} s`);
    return result;
  };

  if (only.has('requests')) results.requests = await timed('requests', () => measureRequests({ quick, log }));
  if (only.has('contention')) results.contention = await timed('contention', () => measureContention({ quick, log }));
  if (only.has('cold-start')) results.coldStart = await timed('cold-start', () => measureColdStart({ quick, log }));
  if (only.has('handler-overhead')) results.handlerOverhead = await timed('handler-overhead', () => measureHandlerOverhead({ quick, log }));
  if (only.has('local-throughput')) results.localThroughput = await timed('local-throughput', () => measureLocalThroughput({ quick, log }));
  if (only.has('cost') && results.requests !== undefined) {
    const requests = results.requests;
    results.cost = await timed('cost', async () => computeCost(requests));
  }
  if (only.has('leases')) results.leases = await timed('leases', () => measureLeases({ quick, log }));
  if (only.has('appends')) results.appends = await timed('appends', () => measureAppends({ quick, log }));
  if (only.has('sqlite-store')) results.sqliteStore = await timed('sqlite-store', () => measureSqliteStore(quick));
  if (only.has('listing')) results.listing = await timed('listing', () => measureListing({ quick, log }));
  if (only.has('local-writers')) results.localWriters = await timed('local-writers', () => measureLocalWriters({ quick, log }));
  if (only.has('binary')) results.binary = await timed('binary', () => measureBinary({ quick, log }));
  return { quick, machine, results, timings, seconds: (performance.now() - started) / 1000 };
}

/** Every target of issue 8 that this run measured, with what it measured. */
export function targetChecks({ results }: BenchRun): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const append = results.requests?.rows.find((row) => row.id === 'append-100');
  if (append !== undefined) {
    checks.push({
      item: '1. S3 requests per job, runner appending 100 jobs',
      target: '≤ 1.1',
      measured: fixed(append.perOperation, 2),
      met: append.expectation.met,
    });
  }
  if (results.requests !== undefined) {
    const lists = results.requests.rows.filter((row) => row.id.startsWith('list-'));
    checks.push({
      item: '1. S3 requests for the first list page of 50',
      target: 'the same at every size ≥ 50',
      measured: lists.map((row) => `${integer(row.requests.total)} at ${integer(Number(row.id.slice(5)))}`).join(', '),
      met: results.requests.listCostFlat,
    });
    const design = results.requests.rows.filter((row) => row.id !== 'append-100' && !row.id.startsWith('list-'));
    checks.push({
      item: '1. S3 requests of create, get, add job, status change',
      target: 'as the design says (DESIGN.md: create-only PUT, read then If-Match PUT)',
      measured: design.map((row) => `${row.id} ${integer(row.requests.total)}`).join(', '),
      met: design.every((row) => row.expectation.met),
    });
  }
  if (results.coldStart !== undefined) {
    const worst = [...results.coldStart.rows].sort((a, b) => b.importRatio - a.importRatio)[0]!;
    checks.push({
      item: '3. Cold-start proxy (import + build handler vs bare S3Client bundle)',
      target: `≤ ${results.coldStart.target}× for every function`,
      measured: `${times(worst.importRatio)} worst (${worst.name}); ${results.coldStart.rows.map((row) => `${row.name} ${times(row.importRatio)}`).join(', ')}`,
      met: results.coldStart.rows.every((row) => row.met),
    });
  }
  if (results.handlerOverhead !== undefined) {
    checks.push({
      item: '4. Handler overhead at p50 (full chain vs bare handler)',
      target: `≤ +${results.handlerOverhead.targetMs} ms`,
      measured: results.handlerOverhead.rows.map((row) => `${row.route} ${signed(row.p50DifferenceMs, 3)} ms`).join(', '),
      met: results.handlerOverhead.rows.every((row) => row.met),
    });
  }
  if (results.localThroughput !== undefined) {
    checks.push({
      item: '5. Local server throughput vs bare node:http',
      target: `≥ ${results.localThroughput.target}×`,
      measured: results.localThroughput.rows.map((row) => `${row.operation.split(' (')[0]} ${times(row.ratio)}`).join(', '),
      met: results.localThroughput.rows.every((row) => row.met),
    });
  }
  const { leases, appends, listing, localWriters } = results;
  if (leases !== undefined) {
    checks.push({
      item: '7. S3 requests of heartbeats and acquires',
      target: 'warm heartbeat 1 PUT; cold 2 GET + 1 PUT; acquire and take-over as the design says',
      measured: leases.requests.map((row) => `${row.id} ${integer(row.requests.total)}`).join(', '),
      met: leases.requests.every((row) => row.met),
    });
    checks.push({
      item: '7. Sweep at 1 % expired',
      target: '≤ 1 LIST per 1,000 held; reads only for the expired',
      measured: leases.sweeps
        .map((row) => `${integer(row.held)} held: ${row.report.listRequests} LIST + ${row.report.reads} reads`)
        .join('; '),
      met: leases.sweeps.every((row) => row.met),
    });
    checks.push({
      item: '7. Detection of a dead runner (last heartbeat → paused)',
      target: '≤ lease + 2 × sweep interval',
      measured: leases.detection
        .map((row) => `${row.where}, lease ${row.leaseSeconds} s: p50 ${fixed(row.p50Seconds, 1)} s, max ${fixed(row.maxSeconds, 1)} s`)
        .join('; '),
      met: leases.detection.every((row) => row.met),
    });
    const at120 = leases.cost.find((row) => row.leaseSeconds === 120);
    if (at120 !== undefined) {
      checks.push({
        item: '7. Cost per held runner-month, lease 120 s',
        target: `≤ ${dollars(leases.costGoal)}`,
        measured: dollars(at120.total, 3),
        met: at120.total <= leases.costGoal,
      });
    }
  }
  if (appends !== undefined) {
    const [first, last] = [appends.local[0]!, appends.local.at(-1)!];
    checks.push({
      item: `8. Local append p50 (minimal) at ${integer(last.jobs)} jobs vs ${integer(first.jobs)}`,
      target: `≤ ${APPEND_TIME_TARGET}×`,
      measured: `${times(appends.localRatio)} (${fixed(last.p50MinimalMs, 2)} ms vs ${fixed(first.p50MinimalMs, 2)} ms)`,
      met: appends.localTimeMet,
    });
    checks.push({
      item: '8. Local stored bytes linear in the jobs',
      target: 'bytes per job at the large sizes ≤ 1.5× the small',
      measured: times(appends.storedGrowth),
      met: appends.storedLinear,
    });
  }
  if (listing !== undefined) {
    for (const row of listing.rows) {
      checks.push({
        item: `9. Listing, ${row.query}, ${integer(listing.sizes[0])} vs ${integer(listing.sizes[1])} sessions`,
        target:
          row.query === 'status=active, all 10'
            ? `≤ ${LISTING_RATIO_TARGET}× and ≤ ${ACTIVE_REQUEST_TARGET} API calls`
            : `≤ ${LISTING_RATIO_TARGET}×`,
        measured: `SQLite store ${times(row.fileRatio)}; S3 requests ${integer(row.s3Requests[0])} → ${integer(row.s3Requests[1])}; calls ${integer(row.calls[0])} / ${integer(row.calls[1])}`,
        met: row.met,
      });
    }
  }
  if (localWriters !== undefined) {
    checks.push({
      item: '10. Concurrent writers on one session (local server)',
      target: 'no 503, every answered job landed',
      measured: localWriters.rows
        .map((row) => `${row.writers} writers: ${integer(row.appendsPerSecond)}/s, p99 ${fixed(row.p99Ms, 1)} ms, ${row.unavailable} × 503`)
        .join('; '),
      met: localWriters.rows.every((row) => row.met),
    });
  }
  return checks;
}

/** The sections of the measurements that ran, in order. */
export function benchSections(run: BenchRun): Section[] {
  const { results } = run;
  return [
    results.requests && requestsSection(results.requests),
    results.contention && contentionSection(results.contention),
    results.coldStart && coldStartSection(results.coldStart),
    results.handlerOverhead && handlerOverheadSection(results.handlerOverhead),
    results.localThroughput && localThroughputSection(results.localThroughput),
    results.cost && costSection(results.cost),
    results.leases && leasesSection(results.leases),
    results.appends && appendsSection(results.appends),
    results.sqliteStore && sqliteStoreSection(results.sqliteStore),
    results.listing && listingSection(results.listing),
    results.localWriters && localWritersSection(results.localWriters),
    results.binary && binarySection(results.binary),
  ].filter((section): section is Section => section !== undefined);
}

/** The store-level rows of `bench/sqlite-store.ts`, as it printed them. */
function sqliteStoreSection(table: string): Section {
  return {
    title: '8b. The SQLite store alone: appends, concurrent writes and listings',
    intro: [
      'Printed by `node bench/sqlite-store.ts`: the SQLite store without the repository or HTTP. An append replaces one session body that grows by one ' +
        '64-character job ID; "bytes kept" is the database\'s pages in use after a checkpoint, less those of the empty session. Concurrent writers ' +
        'append to sessions of their own; writes asked for at one moment share one transaction (one fsync). A listing pages through keys seeded concurrently.',
      table,
    ],
    tables: [],
  };
}

/** The Markdown of bench/RESULTS.md. */
export function renderResults(run: BenchRun): string {
  const { machine } = run;
  const checks = targetChecks(run);
  const head = [
    '# Benchmarks',
    `Written by \`npm run bench\` (\`node bench/run.ts${run.quick ? ' --quick' : ''}\`)${run.quick ? ': a QUICK smoke run, too short to be read as results' : ''}. ` +
      'Timings are ratios against a baseline measured in the same run, side by side and interleaved, medians of several runs; ' +
      'request counts are exact. The machine is shared with other work, so absolute times vary from run to run.',
    renderTable({
      headers: ['machine', ''],
      rows: [
        ['CPU', machine.cpu],
        ['cores', String(machine.cores)],
        ['memory', `${fixed(machine.memoryGiB, 1)} GiB`],
        ['Node.js', machine.node],
        ['OS', machine.os],
        ['temporary files', machine.tmpFilesystem],
        ['date', machine.date],
        ['commit', machine.commit],
        [
          'bench wall time',
          `${fixed(run.seconds, 0)} s (${Object.entries(run.timings)
            .map(([name, seconds]) => `${name} ${fixed(seconds ?? 0, 0)} s`)
            .join(', ')})`,
        ],
      ],
    }),
    '## Targets',
    renderTable({
      headers: ['item', 'target', 'measured', 'met'],
      rows: checks.map((check) => [check.item, check.target, check.measured, verdict(check.met)]),
    }),
  ];
  return `${[...head, ...benchSections(run).map((section) => renderSection(section))].join('\n\n')}\n`;
}
