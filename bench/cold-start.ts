/**
 * 3. Cold-start proxy: each route's Lambda bundle, made by the CDK construct
 * the stack deploys (`RouteFunction`, so exactly its esbuild options), is
 * imported by a fresh `node` process; the time from the start of the import
 * to a built handler is compared with that of a bare handler bundle that only
 * creates an S3 client, bundled the same way.
 */

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { API_ROUTES, entryName } from '#lib/http/route-table.ts';
import { serviceEnvironment } from '../infra/sessions-api.ts';
import { fixed, kib, type Section, times, verdict } from './report.ts';
import { median, nowMs, rotate } from './stats.ts';

export interface ColdStartOptions {
  quick?: boolean;
  /** Timed imports per bundle (after one unrecorded round). */
  rounds?: number;
  log?: (line: string) => void;
}

export interface Bundle {
  name: string;
  entry: string;
  file: string;
  bytes: number;
  gzipBytes: number;
  sourceMapBytes: number;
}

export interface ColdStartRow extends Bundle {
  /** Median time to import the bundle and build its handler, in ms. */
  importMs: number;
  /** Median wall time of the whole process, spawn to exit, in ms. */
  processMs: number;
  importRatio: number;
  processRatio: number;
  met: boolean;
}

export interface ColdStartResult {
  baseline: ColdStartRow;
  rows: ColdStartRow[];
  /** The baseline with one of the service's dependencies added: not under the target, an explanation of it. */
  attribution: ColdStartRow[];
  rounds: number;
  target: number;
  seconds: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASELINE = { name: 'baseline: bare handler, S3Client only', entry: 'bench/cold-start/bare-handler.ts' };
/** Bench-only handlers that add one dependency of the service to the baseline each, to show what the difference is made of. */
const ATTRIBUTION = [
  { name: "baseline + zod (`import { z } from 'zod'`)", entry: 'bench/cold-start/with-zod.ts' },
  { name: 'baseline + zod/mini (the same schema)', entry: 'bench/cold-start/with-zod-mini.ts' },
  { name: 'baseline + middy, Powertools logger and metrics middlewares', entry: 'bench/cold-start/with-powertools.ts' },
  {
    name: 'the dependencies every route is built over (repository on S3, limits, log), no HTTP layer',
    entry: 'bench/cold-start/with-repository.ts',
  },
];
/** Issue 22: a function's import at most 1.1× the bare S3Client bundle's (issue 8 asked 1.2×). */
export const COLD_START_TARGET = 1.1;

/** What a fresh process runs: import the bundle, check it exports a handler, report the time it took. */
const IMPORT_PROBE = `
const started = performance.now();
const module = await import(process.argv[1]);
const importMs = performance.now() - started;
if (typeof module.handler !== 'function') throw new Error('the bundle exports no handler function');
process.stdout.write(JSON.stringify({ importMs }));
`;

/** The environment of a deployed function, as far as module load can see it: the stack's own, with its defaults. */
const LAMBDA_ENV = {
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'us-east-1',
  ...serviceEnvironment({ sessions: 'runner-sessions-bench', leases: 'runner-sessions-bench-leases' }),
};

/** Bundles every route and the baselines with the CDK, then imports each in fresh processes, round after round. */
export async function measureColdStart(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const rounds = options.rounds ?? (options.quick ? 3 : 25);
  const outdir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bundles-'));
  try {
    log('cold start: bundling with the CDK (RouteFunction)');
    const routes = API_ROUTES.map((route) => ({ name: entryName(route), entry: `functions/${entryName(route)}.ts` }));
    const bundles = await bundleAll(outdir, [BASELINE, ...routes, ...ATTRIBUTION]);
    const samples = new Map(bundles.map((bundle) => [bundle.name, { importMs: [] as number[], processMs: [] as number[] }]));
    for (let round = -1; round < rounds; round++) {
      for (const bundle of rotate(bundles, round + 1)) {
        const sample = await importInFreshProcess(bundle.file);
        if (round < 0) continue;
        samples.get(bundle.name)!.importMs.push(sample.importMs);
        samples.get(bundle.name)!.processMs.push(sample.processMs);
      }
      if (round >= 0 && (round + 1) % 5 === 0) log(`cold start: round ${round + 1}/${rounds}`);
    }
    const base = samples.get(bundles[0]!.name)!;
    const row = (bundle: Bundle): ColdStartRow => {
      const mine = samples.get(bundle.name)!;
      // Each round's time over the baseline's in the same round: drift of a noisy machine cancels out.
      const importRatio = median(mine.importMs.map((ms, round) => ms / base.importMs[round]!));
      const processRatio = median(mine.processMs.map((ms, round) => ms / base.processMs[round]!));
      return {
        ...bundle,
        importMs: median(mine.importMs),
        processMs: median(mine.processMs),
        importRatio,
        processRatio,
        met: importRatio <= COLD_START_TARGET,
      };
    };
    const isRoute = (bundle: Bundle) => routes.some((route) => route.name === bundle.name);
    return {
      baseline: row(bundles[0]!),
      rows: bundles.filter(isRoute).map(row),
      attribution: bundles
        .slice(1)
        .filter((bundle) => !isRoute(bundle))
        .map(row),
      rounds,
      target: COLD_START_TARGET,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

async function bundleAll(outdir: string, entries: { name: string; entry: string }[]): Promise<Bundle[]> {
  const args = [path.join(ROOT, 'bench/cold-start/bundle.ts'), outdir, ...entries.map(({ name, entry }) => `${name}=${entry}`)];
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, args, {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NODE_OPTIONS: '' },
    }));
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`bundling with the CDK failed: ${String(error)}\n${stderr ?? ''}`);
  }
  const made = JSON.parse(stdout.trim().split('\n').at(-1)!) as { name: string; entry: string; dir: string }[];
  return Promise.all(
    made.map(async ({ name, entry, dir }) => {
      const file = path.join(dir, 'index.mjs');
      const code = await readFile(file);
      return { name, entry, file, bytes: code.length, gzipBytes: gzipSync(code).length, sourceMapBytes: (await stat(`${file}.map`)).size };
    }),
  );
}

/** Spawns `node`, which imports the bundle as the Lambda runtime would; the parent also times the whole process. */
function importInFreshProcess(file: string): Promise<{ importMs: number; processMs: number }> {
  return new Promise((resolve, reject) => {
    const began = nowMs();
    const child = spawn(process.execPath, ['--input-type=module', '--eval', IMPORT_PROBE, pathToFileURL(file).href], {
      cwd: path.dirname(file),
      env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const processMs = nowMs() - began;
      if (code !== 0) return reject(new Error(`importing ${file} failed (exit ${code}): ${err.trim()}`));
      try {
        resolve({ importMs: (JSON.parse(out) as { importMs: number }).importMs, processMs });
      } catch (error) {
        reject(new Error(`unreadable probe output ${JSON.stringify(out)}: ${String(error)}`));
      }
    });
  });
}

/** Section 3 of bench/RESULTS.md. */
export function coldStartSection(result: ColdStartResult): Section {
  const line = (row: ColdStartRow, isBaseline: boolean) => [
    isBaseline || row.entry.startsWith('bench/') ? row.name : `\`${row.entry}\``,
    kib(row.bytes),
    kib(row.gzipBytes),
    kib(row.sourceMapBytes),
    `${fixed(row.importMs, 1)} ms`,
    times(row.importRatio),
    `${fixed(row.processMs, 1)} ms`,
    times(row.processRatio),
    isBaseline ? '—' : verdict(row.met),
  ];
  return {
    title: "3. Cold-start proxy: import a function's bundle in a fresh process",
    intro: [
      'Each bundle is made by the CDK itself: one `RouteFunction` (the construct the stack deploys: esbuild, ESM, `node24`, minified, ' +
        'source map without sources, AWS SDK bundled, the `createRequire` banner) per handler in a throwaway app, synthesized locally. ' +
        'The baseline is `bench/cold-start/bare-handler.ts`, a handler that only creates an `S3Client` at module scope, bundled by the same construct. ' +
        "The second table adds one of the service's dependencies to the baseline at a time (`bench/cold-start/with-*.ts`, same construct, same rounds) to show where the difference comes from.",
      `A fresh \`node\` process (\`NODE_OPTIONS=--enable-source-maps\` and the service's environment, as deployed; no compile cache) imports the bundle; ` +
        "the time from the start of the import to the module having built its handler is the measure (node's own start-up excluded; the " +
        `"process" columns add it back: spawn to exit, timed by the parent). Bundles are run in turn, rotating the order each round; ` +
        `one unrecorded round, then ${result.rounds} rounds. Times are medians; a ratio is the median over rounds of the bundle's time over the baseline's in the same round. Target: import ≤ ${result.target}× the baseline.`,
    ],
    tables: [
      {
        headers: [
          'bundle',
          'size',
          'gzip',
          'source map',
          'import + build handler',
          'vs baseline',
          'whole process',
          'vs baseline',
          `≤ ${result.target}×`,
        ],
        rows: [line(result.baseline, true), ...result.rows.map((row) => line(row, false))],
      },
      {
        headers: [
          'what the difference is made of',
          'size',
          'gzip',
          'source map',
          'import + build handler',
          'vs baseline',
          'whole process',
          'vs baseline',
        ],
        rows: result.attribution.map((row) => line(row, false).slice(0, -1)),
      },
    ],
  };
}
