/**
 * Builds the package's `runner-sessions/client` entry (run at `prepack`):
 * `dist/client/index.js`, lib/client/index.ts and what it imports bundled
 * into one ES module that leaves the package's dependencies (zod, the SigV4
 * signer, the AWS credential chain) to be imported, and its declarations
 * under `dist/client/types/`, so that a project using it needs neither
 * TypeScript nor this repository's sources. Nothing of the server or the CDK
 * app is reachable from the client, so nothing of it is built in.
 *
 *   node scripts/build-client.ts
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
export const CLIENT_DIR = path.join(ROOT, 'dist', 'client');

/** Bundles the client's JavaScript and emits its declarations; answers the bare modules the bundle imports. */
export async function buildClient(): Promise<string[]> {
  await rm(CLIENT_DIR, { recursive: true, force: true });
  const { metafile } = await build({
    entryPoints: [path.join(ROOT, 'lib', 'client', 'index.ts')],
    outfile: path.join(CLIENT_DIR, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // The package's dependencies are installed beside it: imported, not copied in.
    packages: 'external',
    sourcemap: true,
    legalComments: 'eof',
    logLevel: 'warning',
    metafile: true,
  });
  await promisify(execFile)(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', path.join(ROOT, 'tsconfig.client.json')], { cwd: ROOT });
  await rewriteDeclarationImports(path.join(CLIENT_DIR, 'types'));
  const imports = Object.values(metafile.outputs).flatMap((output) => output.imports.map((entry) => entry.path));
  return [...new Set(imports)].sort();
}

/** The sources import `./x.ts`; their declarations are `./x.d.ts`, which a project resolves from `./x.js`. */
async function rewriteDeclarationImports(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const text = await readFile(file, 'utf-8');
    await writeFile(file, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}

if (import.meta.main) {
  const imports = await buildClient();
  process.stdout.write(`wrote ${path.relative(process.cwd(), CLIENT_DIR)}/ (imports ${imports.join(', ')})\n`);
}
