import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('the runner-sessions bin of a fresh checkout', () => {
  it('package.json points it at the launcher, which needs no build', async () => {
    const { bin } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf-8')) as { bin: Record<string, string> };

    expect(bin['runner-sessions']).toBe('bin/runner-sessions.mjs');
    expect((await stat(path.join(ROOT, bin['runner-sessions']!))).mode & 0o111).toBe(0o111);
  });

  it('npx runner-sessions --help works with what npm ci leaves (no dist/)', async () => {
    // npm exec runs the project's own bin from package.json; node is the one running the tests.
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };

    const { stdout, stderr } = await run('npx', ['--offline', '--no-install', 'runner-sessions', '--help'], { cwd: ROOT, env });

    expect(stdout).toMatch(/^runner-sessions - record a runner's session of jobs/);
    expect(stdout).toContain('Usage: runner-sessions <command>');
    expect(stderr).toBe('');
  });
});
