import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleCli } from './build-cli.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');

/** The CPU architectures `npm run build:binary` builds for, as Node and its npm packages name them. */
export const BINARY_ARCHES = ['x64', 'arm64'] as const;
export type BinaryArch = (typeof BINARY_ARCHES)[number];

/** Where the Node runtimes fetched from the npm registry are kept between builds (git-ignored). */
export const RUNTIME_CACHE = path.join(ROOT, '.cache', 'node-runtimes');

/** Where `npm run build:binary` writes the executables and their `SHA256SUMS`. */
export const BINARY_DIR = path.join(ROOT, 'dist');

/** The marker Node looks for to know a blob was injected (Node's documented SEA fuse). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The path of the executable for `arch` in `directory`. */
export function binaryPath(arch: BinaryArch, directory: string = BINARY_DIR): string {
  return path.join(directory, `runner-sessions-linux-${arch}`);
}

/**
 * The `node` of the npm registry's `node-linux-<arch>@<version>` package, fetched once
 * with `npm pack` (which checks the registry's integrity hash) into `RUNTIME_CACHE`.
 * Packed rather than installed: npm refuses to install the package of another CPU.
 */
export async function nodeRuntime(arch: BinaryArch, version: string, cache: string = RUNTIME_CACHE): Promise<string> {
  const node = path.join(cache, `node-linux-${arch}-${version}`, 'node');
  if (existsSync(node)) return node;
  const tarball = path.join(cache, `node-linux-${arch}-${version}.tgz`);
  await mkdir(cache, { recursive: true });
  if (!existsSync(tarball))
    await run('npm', ['pack', `node-linux-${arch}@${version}`, '--pack-destination', cache, '--silent'], { cwd: cache });
  const unpacked = await mkdtemp(path.join(cache, 'unpack-'));
  try {
    await run('tar', ['-xzf', tarball, '-C', unpacked, 'package/bin/node']);
    await mkdir(path.dirname(node), { recursive: true });
    await copyFile(path.join(unpacked, 'package', 'bin', 'node'), node);
  } finally {
    await rm(unpacked, { recursive: true, force: true });
  }
  return node;
}

/** Options of `buildBinaries`. */
export interface BuildBinariesOptions {
  arches?: readonly BinaryArch[];
  /** Where the executables and `SHA256SUMS` go (default `dist/`). */
  outDir?: string;
  /** The runtimes' Node version; the one running the build, whose blob format they must share. */
  nodeVersion?: string;
}

/**
 * Builds the CLI as Node single executable applications for Linux runner
 * hosts: the CLI bundled into one CommonJS script, turned into a SEA blob by
 * the running Node, and injected with postject into the registry's Node
 * runtime of each architecture. Writes `SHA256SUMS` beside them and returns
 * the executables' paths.
 */
export async function buildBinaries({
  arches = BINARY_ARCHES,
  outDir = BINARY_DIR,
  nodeVersion = process.versions.node,
}: BuildBinariesOptions = {}): Promise<string[]> {
  if (nodeVersion !== process.versions.node) {
    throw new Error(
      `the SEA blob is made by the running Node ${process.versions.node}, so the runtimes must be that version, not ${nodeVersion}`,
    );
  }
  const work = await mkdtemp(path.join(tmpdir(), 'runner-sessions-sea-'));
  try {
    const script = path.join(work, 'runner-sessions.cjs');
    const blob = path.join(work, 'runner-sessions.blob');
    await bundleCli(script, 'cjs');
    const config = path.join(work, 'sea-config.json');
    // No snapshot and no code cache: both are specific to one CPU, and the one blob serves both architectures.
    // Paths relative to the temporary directory: the blob records `main`, and the same sources must give the same bytes.
    const seaConfig = {
      main: path.basename(script),
      output: path.basename(blob),
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: false,
    };
    await writeFile(config, JSON.stringify(seaConfig));
    await run(process.execPath, ['--experimental-sea-config', config], { cwd: work });
    const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
    await mkdir(outDir, { recursive: true });
    const built: string[] = [];
    for (const arch of arches) {
      const runtime = await nodeRuntime(arch, nodeVersion);
      const binary = binaryPath(arch, outDir);
      await rm(binary, { force: true });
      await copyFile(runtime, binary);
      await chmod(binary, 0o755);
      // Its own process, so that the ELF parser's warnings about the runtime's notes section are shown only if injecting fails.
      await run(process.execPath, [postject, binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { maxBuffer: 16 * 1024 * 1024 });
      built.push(binary);
    }
    await writeChecksums(outDir, built);
    return built;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `SHA256SUMS` in the format `sha256sum -c` reads: every executable in `directory` named `runner-sessions-linux-*`, sorted. */
async function writeChecksums(directory: string, built: string[]): Promise<void> {
  const binaries = BINARY_ARCHES.map((arch) => binaryPath(arch, directory)).filter(
    (binary) => built.includes(binary) || existsSync(binary),
  );
  const lines = await Promise.all(
    binaries.map(
      async (binary) =>
        `${createHash('sha256')
          .update(await readFile(binary))
          .digest('hex')}  ${path.basename(binary)}\n`,
    ),
  );
  await writeFile(path.join(directory, 'SHA256SUMS'), lines.join(''));
}

if (import.meta.main) {
  const built = await buildBinaries();
  for (const binary of built) process.stdout.write(`wrote ${path.relative(process.cwd(), binary)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), path.join(BINARY_DIR, 'SHA256SUMS'))}\n`);
}
