import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CONSOLE = path.join(ROOT, 'lib/console');
const PAGE = path.join(CONSOLE, 'page');

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

describe('the console page’s own type check', () => {
  it('has a tsconfig with the DOM library, and the Node tsconfig leaves the page out', async () => {
    const page = JSON.parse(await readFile(path.join(PAGE, 'tsconfig.json'), 'utf-8'));
    const root = JSON.parse(await readFile(path.join(ROOT, 'tsconfig.json'), 'utf-8'));

    expect(page.compilerOptions.lib).toContain('DOM');
    expect(page.compilerOptions.types).toEqual([]);
    expect(root.exclude).toContain('lib/console/page');
    expect(root.compilerOptions.lib).not.toContain('DOM');
  });

  it('declares the DOM in its tsconfig, not file by file', async () => {
    const sources = (await files(PAGE)).filter((file) => file.endsWith('.ts'));
    const referencing = [];
    for (const file of sources) if ((await readFile(file, 'utf-8')).includes('<reference lib="dom"')) referencing.push(file);

    expect(sources.length).toBeGreaterThan(10);
    expect(referencing).toEqual([]);
  });

  it('type-checks with that tsconfig', async () => {
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');

    const { stdout } = await promisify(execFile)(tsc, ['--noEmit', '-p', PAGE], { cwd: ROOT });

    expect(stdout).toBe('');
  }, 60_000);

  it('keeps every console source file within 350 lines', async () => {
    const long: string[] = [];
    for (const file of await files(CONSOLE)) {
      if (!/\.(ts|css|html)$/.test(file)) continue;
      const lines = (await readFile(file, 'utf-8')).split('\n').length;
      if (lines > 350) long.push(`${path.relative(ROOT, file)}: ${lines}`);
    }

    expect(long).toEqual([]);
  });
});
