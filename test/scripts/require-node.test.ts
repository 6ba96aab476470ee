import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OLD_NODE = '/usr/bin/node';
const OLD_NPM = '/usr/bin/npm';
const { isSupported } = createRequire(import.meta.url)('../../scripts/require-node.cjs') as { isSupported(version: string): boolean };

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with only /usr/bin and /bin on PATH, so `node` is the machine's old one. */
function runOld(file: string, args: string[], cwd: string = ROOT): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

function oldNodeVersion(): Promise<string | undefined> {
  if (!existsSync(OLD_NODE)) return Promise.resolve(undefined);
  return runOld(OLD_NODE, ['--version']).then((outcome) => outcome.stdout.trim());
}

const oldVersion = await oldNodeVersion();
const skipReason =
  oldVersion === undefined ? `${OLD_NODE} is missing` : isSupported(oldVersion) ? `${OLD_NODE} is ${oldVersion}, new enough` : undefined;

/** The refusal, with both versions and the fix, and no stack trace. */
function expectRefusal(outcome: Outcome): void {
  expect(outcome.code).toBe(1);
  expect(outcome.stderr).toContain(`runner-sessions: Node.js >= 22.18 is required; this is Node.js ${oldVersion} (${OLD_NODE}).`);
  expect(outcome.stderr).toContain(
    'npm install --prefix ~/.local/node24 node@24 && export PATH="$HOME/.local/node24/node_modules/.bin:$PATH"',
  );
  expect(outcome.stderr).not.toMatch(/\n\s+at |SyntaxError|ERR_/);
}

describe('the Node version check', () => {
  it.each([
    ['v20.20.2', false],
    ['v22.17.9', false],
    ['v22.18.0', true],
    ['22.18.1', true],
    ['v23.0.0', true],
    ['v24.21.0', true],
    ['v18.99.99', false],
  ])('%s is supported: %s', (version, supported) => {
    expect(isSupported(version)).toBe(supported);
  });

  it('passes quietly on the Node that runs the tests', async () => {
    const outcome = await new Promise<Outcome>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'scripts/require-node.cjs')], (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : 1, stdout, stderr }),
      );
    });

    expect(outcome).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe.skipIf(skipReason !== undefined)(`on an old Node (${skipReason ?? oldVersion})`, () => {
  it('the check script refuses with the versions and the fix', async () => {
    expectRefusal(await runOld(OLD_NODE, ['scripts/require-node.cjs']));
  });

  it('the runner-sessions launcher refuses before loading any TypeScript', async () => {
    expectRefusal(await runOld(OLD_NODE, ['bin/runner-sessions.mjs', '--help']));
  });

  it.skipIf(!existsSync(OLD_NPM)).each([['start'], ['test']])('npm %s refuses', async (script) => {
    const outcome = await runOld(OLD_NPM, [script, '--offline']);

    expectRefusal(outcome);
    expect(outcome.stderr).not.toContain('vitest');
  });

  describe.skipIf(!existsSync(OLD_NPM))('npm ci and npm install, in a copy of the project without dependencies', () => {
    let directory: string;

    beforeAll(async () => {
      directory = await mkdtemp(path.join(tmpdir(), 'runner-sessions-old-node-'));
      const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf-8')) as Record<string, unknown>;
      const { name, version } = manifest as { name: string; version: string };
      await writeFile(path.join(directory, 'package.json'), JSON.stringify({ ...manifest, dependencies: {}, devDependencies: {} }));
      await writeFile(
        path.join(directory, 'package-lock.json'),
        JSON.stringify({ name, version, lockfileVersion: 3, requires: true, packages: { '': { name, version } } }),
      );
      await mkdir(path.join(directory, 'scripts'));
      await copyFile(path.join(ROOT, 'scripts/require-node.cjs'), path.join(directory, 'scripts/require-node.cjs'));
    });
    afterAll(async () => {
      await rm(directory, { recursive: true, force: true });
    });

    it.each([['ci'], ['install']])('npm %s refuses in preinstall, before anything is installed', async (command) => {
      const outcome = await runOld(OLD_NPM, [command, '--offline', '--no-audit', '--no-fund'], directory);

      expectRefusal({ ...outcome, stderr: outcome.stderr.replace(/^npm (warn|error) .*\n/gm, '') });
      expect(outcome.code).not.toBe(0);
      expect(existsSync(path.join(directory, 'node_modules'))).toBe(false);
    });
  });
});
