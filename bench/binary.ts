/**
 * 11. The single-file executables of `npm run build:binary`: their sizes, and
 * how long `--help` takes from the x64 one against `node bin/runner-sessions.mjs`,
 * in interleaved runs.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fixed, integer, type Section, times } from './report.ts';
import { median, nowMs } from './stats.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARCHES = ['x64', 'arm64'] as const;

export interface BinaryOptions {
  quick?: boolean;
  /** Timed runs of each command. */
  runs?: number;
  log?: (line: string) => void;
}

export interface BinaryResult {
  sizes: { arch: string; bytes: number }[];
  /** Whether this run built them (they were absent). */
  built: boolean;
  runs: number;
  binaryMs: number;
  nodeMs: number;
  /** Median over pairs of binary / node. */
  ratio: number;
  seconds: number;
}

const binaryPath = (arch: string) => path.join(ROOT, 'dist', `runner-sessions-linux-${arch}`);

/** Builds the binaries when absent (the first build fetches the Node runtimes with `npm pack`), then measures. */
export async function measureBinary(options: BinaryOptions = {}): Promise<BinaryResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const runs = options.runs ?? (options.quick ? 3 : 20);
  const built = !ARCHES.every((arch) => existsSync(binaryPath(arch)));
  if (built) {
    log('binary: building with npm run build:binary');
    await run('npm', ['run', 'build:binary'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  }
  const sizes = await Promise.all(ARCHES.map(async (arch) => ({ arch, bytes: (await stat(binaryPath(arch))).size })));
  const time = async (file: string, args: string[]) => {
    const began = nowMs();
    await run(file, args, { cwd: ROOT });
    return nowMs() - began;
  };
  const binary: number[] = [];
  const node: number[] = [];
  const ratios: number[] = [];
  const commands = [() => time(binaryPath('x64'), ['--help']), () => time(process.execPath, ['bin/runner-sessions.mjs', '--help'])];
  await commands[0]!();
  await commands[1]!();
  for (let round = 0; round < runs; round++) {
    const first = round % 2 === 0;
    const a = first ? await commands[0]!() : await commands[1]!();
    const b = first ? await commands[1]!() : await commands[0]!();
    const [binaryMs, nodeMs] = first ? [a, b] : [b, a];
    binary.push(binaryMs);
    node.push(nodeMs);
    ratios.push(binaryMs / nodeMs);
  }
  log(`binary: --help ${fixed(median(binary), 0)} ms vs node ${fixed(median(node), 0)} ms`);
  return {
    sizes,
    built,
    runs,
    binaryMs: median(binary),
    nodeMs: median(node),
    ratio: median(ratios),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Section 11 of bench/RESULTS.md. */
export function binarySection(result: BinaryResult): Section {
  return {
    title: '11. Single-file executables',
    intro: [
      `\`dist/runner-sessions-linux-*\`, built by \`npm run build:binary\`${result.built ? ' in this run (they were absent)' : ' (already built)'}. ` +
        `Start-up: wall time of \`--help\` from the x64 executable and from \`node bin/runner-sessions.mjs --help\` (the same Node.js as the bench), ` +
        `one unrecorded run each, then ${result.runs} pairs alternating which goes first; medians, and the median of the ratios within a pair.`,
    ],
    tables: [
      {
        headers: ['executable', 'size'],
        rows: result.sizes.map((row) => [
          `runner-sessions-linux-${row.arch}`,
          `${fixed(row.bytes / 1024 ** 2, 1)} MiB (${integer(row.bytes)} B)`,
        ]),
      },
      {
        headers: ['`--help`', 'median wall time'],
        rows: [
          ['x64 executable', `${fixed(result.binaryMs, 1)} ms`],
          ['node bin/runner-sessions.mjs', `${fixed(result.nodeMs, 1)} ms`],
          ['executable / node', times(result.ratio)],
        ],
      },
    ],
  };
}
