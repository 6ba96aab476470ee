/**
 * The whole bench: the six measurements in order, and the Markdown of
 * bench/RESULTS.md. `bench/run.ts` is the command; tests import this.
 */

import { coldStartSection, measureColdStart, type ColdStartResult } from './cold-start.ts';
import { contentionSection, measureContention, type ContentionResult } from './contention.ts';
import { computeCost, costSection, type CostResult } from './cost.ts';
import { handlerOverheadSection, measureHandlerOverhead, type HandlerOverheadResult } from './handler-overhead.ts';
import { localThroughputSection, measureLocalThroughput, type LocalThroughputResult } from './local-throughput.ts';
import { describeMachine, type Machine } from './machine.ts';
import { fixed, integer, renderSection, renderTable, signed, times, verdict, type Section } from './report.ts';
import { measureRequests, requestsSection, type RequestsResult } from './requests.ts';

export const MEASUREMENTS = ['requests', 'contention', 'cold-start', 'handler-overhead', 'local-throughput', 'cost'] as const;
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
  return { quick, machine, results, timings, seconds: (performance.now() - started) / 1000 };
}

/** Every target of issue 8 that this run measured, with what it measured. */
export function targetChecks({ results }: BenchRun): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const append = results.requests?.rows.find((row) => row.id === 'append-100');
  if (append !== undefined) {
    checks.push({ item: '1. S3 requests per job, runner appending 100 jobs', target: '≤ 1.1', measured: fixed(append.perOperation, 2), met: append.expectation.met });
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
  ].filter((section): section is Section => section !== undefined);
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
        ['bench wall time', `${fixed(run.seconds, 0)} s (${Object.entries(run.timings).map(([name, seconds]) => `${name} ${fixed(seconds ?? 0, 0)} s`).join(', ')})`],
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
