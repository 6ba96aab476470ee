import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsoleAssets } from '#lib/console/assets.ts';
import { buildCli } from '../../scripts/build-cli.ts';
import { type RunningApi, startApi } from '../lib/client/local-api.ts';

const run = promisify(execFile);

describe('the single-file CLI a runner installs', () => {
  let directory: string;
  let bundle: string;
  let api: RunningApi;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'runner-sessions-cli-'));
    bundle = path.join(directory, 'runner-sessions.mjs');
    api = await startApi();
    await buildCli(bundle);
  });
  afterAll(async () => {
    await api.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('is executable', async () => {
    expect((await stat(bundle)).mode & 0o111).toBe(0o111);
  });

  it('runs from a directory without node_modules and drives the API', async () => {
    const env = { PATH: process.env.PATH, RUNNER_SESSIONS_URL: api.url };

    const created = await run(process.execPath, [bundle, 'create', '--name', 'bundled', '--json'], { cwd: directory, env });
    const { session } = JSON.parse(created.stdout) as { session: { id: string } };
    const added = await run(process.execPath, [bundle, 'add-job', session.id, 'job-1'], { cwd: directory, env });

    expect(session.id).toMatch(/^[0-9a-f]{32}$/);
    expect(added.stdout).toContain('jobs     1  (job-1)');
  });

  it('carries the operator console built, and no esbuild: `console --url` serves the page from a directory without node_modules', {
    timeout: 30_000,
  }, async () => {
    const text = await readFile(bundle, 'utf-8');
    expect(text).not.toMatch(/from ["']esbuild["']|import\(["']esbuild["']\)|require\(["']esbuild["']\)/);
    const child = spawn(process.execPath, [bundle, 'console', '--url', api.url, '--region', 'eu-west-1', '--port', '0'], {
      cwd: directory,
      env: { PATH: process.env.PATH, HOME: directory },
    });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf-8');
      const base = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk;
          const url = /^console on (http:\/\/127\.0\.0\.1:\d+)\/console /.exec(stdout);
          if (url !== null) resolve(url[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${stdout}`)));
      });
      const expected = await buildConsoleAssets();
      const script = await fetch(`${base}/console/app.js`);

      expect((await fetch(`${base}/console`)).status).toBe(200);
      expect(script.status).toBe(200);
      expect(await script.text()).toBe(expected.script);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits with the documented codes', async () => {
    const failure = await run(process.execPath, [bundle, 'get', 'f'.repeat(32)], {
      cwd: directory,
      env: { RUNNER_SESSIONS_URL: api.url },
    }).catch((error: { code: number; stderr: string }) => error);

    expect(failure).toMatchObject({ code: 3 });
    expect(failure.stderr).toContain(`no session ${'f'.repeat(32)}`);
  });
});
