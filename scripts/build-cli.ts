import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { buildConsoleAssets } from '../lib/console/assets.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Where `npm run build:cli` writes the runner's single-file CLI. */
export const CLI_BUNDLE_PATH = path.join(ROOT, 'dist', 'runner-sessions.mjs');

/**
 * Replaces `lib/console/assets.ts` with a module holding the console page
 * built now, so that `runner-sessions console` serves it without esbuild.
 */
const builtConsoleAssets: Plugin = {
  name: 'built-console-assets',
  setup(bundle) {
    bundle.onLoad({ filter: /[\\/]lib[\\/]console[\\/]assets\.ts$/ }, async () => {
      const { html, script, stylesheet } = await buildConsoleAssets();
      const assets = JSON.stringify({ html, script, stylesheet, buildMillis: 0 });
      return { loader: 'js', contents: `export async function buildConsoleAssets() { return ${assets}; }` };
    });
  },
};

/**
 * Bundles bin/runner-sessions.ts and everything it imports (zod, the SigV4
 * signer, the AWS credential chain) into one file that needs only Node.js:
 * an ES module for `node runner-sessions.mjs`, or CommonJS for a single
 * executable application, which runs only a CommonJS script.
 */
export async function bundleCli(outfile: string, format: 'esm' | 'cjs'): Promise<void> {
  await mkdir(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(ROOT, 'bin', 'runner-sessions.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node22',
    legalComments: 'eof',
    logLevel: 'warning',
    plugins: [builtConsoleAssets],
    // Some bundled AWS SDK modules are CommonJS and call require() for Node built-ins; CommonJS output has require already.
    ...(format === 'esm'
      ? {
          banner: {
            js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
          },
        }
      : {}),
  });
}

/**
 * The single-file CLI as an executable ES module: no npm install on the
 * runner, and no TypeScript under node_modules, which Node refuses to strip.
 */
export async function buildCli(outfile: string = CLI_BUNDLE_PATH): Promise<void> {
  await bundleCli(outfile, 'esm');
  await chmod(outfile, 0o755);
}

if (import.meta.main) {
  await buildCli();
  process.stdout.write(`wrote ${path.relative(process.cwd(), CLI_BUNDLE_PATH)}\n`);
}
