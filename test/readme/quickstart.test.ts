import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

/** The smoke subset the clone runs with `npm test`: the whole suite there would double CI time. */
const SMOKE_TESTS = ['test/lib/domain/lease.test.ts', 'test/functions'];

const ENABLED = process.env.RUN_QUICKSTART === '1';
const SKIP_REASON = 'the quick start clones and installs the repository (about a minute): set RUN_QUICKSTART=1 to run it, as .ci/run does';

/**
 * The commands of the README's quick start: the first `sh` block under
 * "## Quick start", each line split at `&&`, comments dropped.
 */
function quickStartCommands(readme: string): string[] {
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  const block = section === undefined ? undefined : /^```sh\n([\s\S]*?)^```/m.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md has no "## Quick start" section with a sh block');
  return block
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
    .flatMap((line) => line.split('&&').map((command) => command.trim()));
}

/** The environment of the clone's commands: this run's, without what vitest and the outer npm script set. */
function cloneEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const own = /^(VITEST|npm_lifecycle_|npm_package_|INIT_CWD$)/;
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !own.test(name))), ...extra };
}

/** The URL the server prints once it listens: `runner-sessions listening on http://127.0.0.1:PORT (…)`. */
async function listeningUrl(server: ChildProcess, timeoutMs: number): Promise<string> {
  let output = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no URL within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        resolve(url);
      }
    };
    server.stdout?.on('data', read);
    server.stderr?.on('data', read);
    server.once('exit', (code) => reject(new Error(`npm start exited (${String(code)}) before listening:\n${output}`)));
  });
}

describe(`README quick start, in a fresh clone of HEAD: npm ci, npm start, npm test on the smoke subset ${SMOKE_TESTS.join(' ')}`, () => {
  let clone: string | undefined;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    if (!ENABLED) return;
    clone = await mkdtemp(path.join(os.tmpdir(), 'runner-sessions-quickstart-'));
    await run('git', ['clone', '--quiet', '--no-checkout', ROOT, clone]);
    // HEAD itself, even when the checkout is detached or on a branch clone does not check out.
    await run('git', ['-C', clone, 'fetch', '--quiet', ROOT, 'HEAD']);
    await run('git', ['-C', clone, 'checkout', '--quiet', '--detach', 'FETCH_HEAD']);
  }, 60_000);

  afterAll(async () => {
    // npm start runs the server in a child of its own: end the whole group.
    if (server?.pid !== undefined && server.exitCode === null) {
      process.kill(-server.pid, 'SIGTERM');
      await once(server, 'exit');
    }
    if (clone !== undefined) await rm(clone, { recursive: true, force: true });
  }, 30_000);

  it('the README quick start is exactly `npm ci && npm start` and `npm test`', async () => {
    expect(quickStartCommands(await readFile(path.join(ROOT, 'README.md'), 'utf-8'))).toEqual(['npm ci', 'npm start', 'npm test']);
  });

  it('the clone is the commit of this checkout', async (context) => {
    context.skip(!ENABLED, SKIP_REASON);
    const [{ stdout: cloned }, { stdout: here }] = await Promise.all([
      run('git', ['-C', clone!, 'rev-parse', 'HEAD']),
      run('git', ['-C', ROOT, 'rev-parse', 'HEAD']),
    ]);

    expect(cloned).toBe(here);
  });

  it('npm ci installs, npm start serves the API (GET /sessions, POST /sessions), npm test passes the smoke subset', {
    timeout: 480_000,
  }, async (context) => {
    context.skip(!ENABLED, SKIP_REASON);
    const [install, start, test] = quickStartCommands(await readFile(path.join(clone!, 'README.md'), 'utf-8')).map((command) =>
      command.split(' ').slice(1),
    );

    await run('npm', [...install!, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: clone,
      env: cloneEnvironment({}),
    });

    // PORT=0: any free port; the URL the server prints says which.
    server = spawn('npm', start!, { cwd: clone, env: cloneEnvironment({ PORT: '0' }), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await listeningUrl(server, 60_000);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const empty = await fetch(`${url}/sessions`);
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ sessions: [], next_cursor: null });
    const created = await fetch(`${url}/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"ssh-import"}',
    });
    expect(created.status).toBe(201);
    const listed = (await (await fetch(`${url}/sessions`)).json()) as { sessions: { name: string }[] };
    expect(listed.sessions.map(({ name }) => name)).toEqual(['ssh-import']);

    const results = path.join(clone!, 'smoke-results.json');
    await run('npm', [...test!, '--', ...SMOKE_TESTS, '--reporter=json', `--outputFile=${results}`], {
      cwd: clone,
      env: cloneEnvironment({}),
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(await readFile(results, 'utf-8')) as {
      success: boolean;
      numFailedTests: number;
      numPassedTests: number;
      testResults: { name: string }[];
    };
    expect(report).toMatchObject({ success: true, numFailedTests: 0 });
    expect(report.numPassedTests).toBeGreaterThan(100);
    for (const file of SMOKE_TESTS)
      expect(
        report.testResults.some(({ name }) => path.relative(clone!, name).startsWith(file)),
        file,
      ).toBe(true);
  });
});
