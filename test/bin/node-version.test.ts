import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OLD_NODE = '/usr/bin/node';
const OLD_NPM = '/usr/bin/npm';
const OLD_NPX = '/usr/bin/npx';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with /usr/bin first on PATH, so that `node` is the machine's old one, and npm's cache in `cache`. */
function runOld(file: string, args: string[], cwd: string, cache: string): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { PATH: '/usr/bin:/bin', HOME: cache, npm_config_cache: cache }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

const oldMajor = existsSync(OLD_NODE)
  ? Number(/^v(\d+)/.exec(await runOld(OLD_NODE, ['--version'], ROOT, tmpdir()).then((o) => o.stdout))?.[1])
  : NaN;
const haveOldNode = oldMajor > 0 && oldMajor < 22 && existsSync(OLD_NPM) && existsSync(OLD_NPX);

describe.skipIf(!haveOldNode)(`on an old Node (${OLD_NODE}, v${oldMajor})`, () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'old-node-'));
    await mkdir(path.join(scratch, 'scripts'));
    await mkdir(path.join(scratch, 'bin'));
    for (const file of ['package.json', 'package-lock.json', '.npmrc', 'scripts/require-node.cjs', 'bin/runner-sessions.mjs']) {
      await copyFile(path.join(ROOT, file), path.join(scratch, file));
    }
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('npm ci refuses first, before downloading anything, naming the Node it needs', async () => {
    const cache = path.join(scratch, 'npm-cache');

    const outcome = await runOld(OLD_NPM, ['ci', '--no-audit', '--no-fund'], scratch, cache);

    expect(outcome.code).not.toBe(0);
    const first = outcome.stderr.split('\n')[0];
    expect(first).toMatch(/EBADENGINE/);
    expect(outcome.stderr).toContain('Required: {"node":">=22.18"}');
    expect(outcome.stderr).not.toMatch(/npm warn/);
    expect(existsSync(path.join(scratch, 'node_modules'))).toBe(false);
  });

  it('bin/runner-sessions.mjs refuses in one line before importing anything', async () => {
    const outcome = await runOld(OLD_NODE, [path.join(ROOT, 'bin/runner-sessions.mjs'), '--help'], scratch, scratch);

    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toBe('');
    expect(outcome.stderr.split('\n')).toEqual([
      expect.stringMatching(/^runner-sessions: Node\.js >= 22\.18 is required; this is Node\.js v\d+/),
      '',
    ]);
    expect(outcome.stderr).toContain('npm install --prefix ~/.local/node24 node@24');
  });

  it('npx runner-sessions refuses first, and leaves npx able to run it once Node is new enough', async () => {
    const cache = path.join(scratch, 'npx-cache');

    const old = await runOld(OLD_NPX, ['--offline', 'runner-sessions', '--help'], ROOT, cache);
    const again = await runOld(OLD_NPX, ['--offline', 'runner-sessions', '--help'], ROOT, cache);

    expect(old.code).toBe(1);
    expect(old.stderr.split('\n')[0]).toMatch(/EBADENGINE/);
    expect(old.stderr).toContain('Required: {"node":">=22.18"}');
    expect(again.stderr).not.toContain('ENOENT');
  });
});
