/**
 * 4. Handler overhead: one in-process invocation of a deployed handler,
 * through its whole middleware chain (Powertools logger and metrics, outcome
 * and error mapping, header normalisation, JSON body, zod validation, the
 * repository), against a bare handler doing the same store calls and JSON
 * response, both on an in-memory object store. Runs in a child process so
 * that the handlers' log lines go to /dev/null and nothing else shares its heap.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OverheadPlan, RouteSamples } from './handler-overhead/child.ts';
import { fixed, integer, type Section, signed, verdict } from './report.ts';
import { median, percentile } from './stats.ts';

export interface HandlerOverheadOptions {
  quick?: boolean;
  plan?: Partial<OverheadPlan>;
  log?: (line: string) => void;
}

export interface HandlerOverheadRow {
  route: string;
  invocations: number;
  chainP50Ms: number;
  bareP50Ms: number;
  chainP99Ms: number;
  bareP99Ms: number;
  /** Median over rounds of (chain p50 − bare p50) in the same round, in ms. */
  p50DifferenceMs: number;
  met: boolean;
}

export interface HandlerOverheadResult {
  plan: OverheadPlan;
  rows: HandlerOverheadRow[];
  targetMs: number;
  seconds: number;
}

/** Issue 8: the chain adds at most 0.1 ms at p50. */
export const OVERHEAD_TARGET_MS = 0.1;
const CHILD = fileURLToPath(new URL('./handler-overhead/child.ts', import.meta.url));

/** Times both routes, chain and bare, in a child process. */
export async function measureHandlerOverhead(options: HandlerOverheadOptions = {}): Promise<HandlerOverheadResult> {
  const started = performance.now();
  const plan: OverheadPlan = {
    ...(options.quick ? { rounds: 4, block: 200, warmup: 1000 } : { rounds: 30, block: 1000, warmup: 5000 }),
    ...options.plan,
  };
  options.log?.(`handler overhead: ${plan.rounds} rounds of ${plan.block} invocations per route and contender`);
  const samples = await runChild(plan);
  const rows = samples.map(({ route, chainMs, bareMs }): HandlerOverheadRow => {
    const chain = chainMs.flat();
    const bare = bareMs.flat();
    const p50DifferenceMs = median(chainMs.map((round, index) => percentile(round, 0.5) - percentile(bareMs[index]!, 0.5)));
    return {
      route,
      invocations: chain.length,
      chainP50Ms: percentile(chain, 0.5),
      bareP50Ms: percentile(bare, 0.5),
      chainP99Ms: percentile(chain, 0.99),
      bareP99Ms: percentile(bare, 0.99),
      p50DifferenceMs,
      met: p50DifferenceMs <= OVERHEAD_TARGET_MS,
    };
  });
  return { plan, rows, targetMs: OVERHEAD_TARGET_MS, seconds: (performance.now() - started) / 1000 };
}

function runChild(plan: OverheadPlan): Promise<RouteSamples[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(plan)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        POWERTOOLS_SERVICE_NAME: 'runner-sessions',
        POWERTOOLS_METRICS_NAMESPACE: 'RunnerSessions',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
    });
    let result: RouteSamples[] | undefined;
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('message', (message) => (result = message as RouteSamples[]));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`the handler-overhead process failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/** Section 4 of bench/RESULTS.md. */
export function handlerOverheadSection(result: HandlerOverheadResult): Section {
  const { plan } = result;
  return {
    title: '4. Handler overhead: the middleware chain against a bare handler',
    intro: [
      'In one process, on one in-memory `ObjectStore` (`lib/storage/memory.ts`: no latency, no network), each deployed handler is invoked ' +
        'as Lambda invokes it (an API Gateway v2 event and a Lambda context, built outside the timed region) through its whole chain: ' +
        'Powertools logger context and metrics flush, request outcome and error mapping, header normaliser, JSON body, zod validation, ' +
        'the repository (warm: the add-job path is one conditional PUT on the remembered version) and the response with its log line. ' +
        'The bare handler makes the same store calls and answers the same JSON, with no middleware, validation or logging. ' +
        'Log lines and EMF metrics go to /dev/null, as real writes.',
      `Each route: ${integer(plan.warmup)} warm-up invocations per contender, then ${plan.rounds} rounds of ${integer(plan.block)} invocations ` +
        'per contender, alternating which goes first. The difference is the median over rounds of (chain p50 − bare p50) in the same round. ' +
        `Target: ≤ +${result.targetMs} ms at p50.`,
    ],
    tables: [
      {
        headers: [
          'route',
          'invocations each',
          'chain p50',
          'bare p50',
          'p50 difference',
          'chain p99',
          'bare p99',
          `≤ +${result.targetMs} ms`,
        ],
        rows: result.rows.map((row) => [
          `\`${row.route}\``,
          integer(row.invocations),
          `${fixed(row.chainP50Ms, 3)} ms`,
          `${fixed(row.bareP50Ms, 3)} ms`,
          `${signed(row.p50DifferenceMs, 3)} ms`,
          `${fixed(row.chainP99Ms, 3)} ms`,
          `${fixed(row.bareP99Ms, 3)} ms`,
          verdict(row.met),
        ]),
      },
    ],
  };
}
