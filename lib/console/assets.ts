/**
 * The console page's assets: `index.html`, and its script and stylesheet
 * bundled by esbuild in memory. The CLI bundle (`scripts/build-cli.ts`)
 * replaces this module with one that holds the assets already built, so
 * the CLI and its executables carry no esbuild.
 *
 * @module
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** Where the page's sources are. */
export const PAGE_DIR = path.join(import.meta.dirname, 'page');

/** The bundled page assets and what building them cost. */
export interface ConsoleAssets {
  html: string;
  script: string;
  stylesheet: string;
  /** Time the esbuild bundle took, in milliseconds. */
  buildMillis: number;
}

/**
 * Bundles the page (TypeScript and CSS) with esbuild, in memory.
 * @throws the esbuild error when the page source does not build.
 */
export async function buildConsoleAssets(): Promise<ConsoleAssets> {
  const started = performance.now();
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [
      { in: path.join(PAGE_DIR, 'main.ts'), out: 'app' },
      { in: path.join(PAGE_DIR, 'console.css'), out: 'app' },
    ],
    outdir: '/console',
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  const output = (extension: string) => {
    const file = result.outputFiles.find((candidate) => candidate.path.endsWith(extension));
    if (file === undefined) throw new Error(`the console bundle has no ${extension} output`);
    return file.text;
  };
  const html = await readFile(path.join(PAGE_DIR, 'index.html'), 'utf-8');
  return { html, script: output('.js'), stylesheet: output('.css'), buildMillis: performance.now() - started };
}
