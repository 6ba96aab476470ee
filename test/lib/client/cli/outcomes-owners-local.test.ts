/**
 * The client and CLI against the local server, end to end: how exec records each job's outcome, and how a
 * runner's token is refused another tenant's session.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, ExitCode, main } from '#lib/client/cli/main.ts';
import { SessionsClient } from '#lib/client/client.ts';
import { type RunningApi, startApi } from '../local-api.ts';

const LAUNCHER = path.resolve(import.meta.dirname, '../../../../bin/runner-sessions.mjs');

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `runner-sessions exec ARGS` as a process; `onStdout` sees what the command printed so far. */
function exec(args: string[], url: string, onStdout?: (text: string) => void): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, 'exec', ...args], {
      env: { PATH: process.env.PATH, RUNNER_SESSIONS_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

function summaryOf(run: Exited): Record<string, unknown> {
  return (JSON.parse(run.stderr.trimEnd().split('\n').at(-1)!) as { exec: Record<string, unknown> }).exec;
}

const uniqueName = (): string => `e2e-${Math.random().toString(36).slice(2)}`;

describe('exec records how each job ended, on the local server', () => {
  let api: RunningApi;
  let client: SessionsClient;
  beforeAll(async () => {
    api = await startApi();
    client = new SessionsClient({ baseUrl: api.url });
  });
  afterAll(async () => {
    await api.close();
  });

  it.each([
    ['exit 0', 'exit 0', 0, { state: 'succeeded', exit_code: 0, signal: null }, 'succeeded'],
    ['exit 3', 'exit 3', 3, { state: 'failed', exit_code: 3, signal: null }, 'failed (exit 3)'],
    ['killed by SIGTERM', 'kill -TERM $$', 143, { state: 'failed', exit_code: null, signal: 'SIGTERM' }, 'failed (SIGTERM)'],
  ])(
    '%s: the session holds the outcome, its counts and its history say so',
    async (_title, script, status, outcome, said) => {
      const name = uniqueName();

      const run = await exec(['--name', name, '--job', 'job-1', '--json', '--', 'sh', '-c', script], api.url);

      expect(run.code).toBe(status);
      const [listed] = (await client.listSessions({ name })).sessions;
      const { session } = await client.getSession(listed!.id);
      expect(session.jobs?.['job-1']).toMatchObject(outcome);
      expect(session.jobs?.['job-1']?.finished_at).toEqual(expect.any(Number));
      expect(session.job_counts).toMatchObject({ total: 1, running: 0, [outcome.state]: 1 });
      expect(summaryOf(run)).toMatchObject({ job_outcome: { ...outcome, recorded: true }, session: 'paused', exit_code: status });
      const changes = (await client.history(session.id)).versions.map((version) => version.change);
      expect(changes).toContain(`job job-1 ${said}`);
      expect(changes).toContain('job job-1 started');
    },
    30_000,
  );

  it('get prints the counts and the failed job', async () => {
    const name = uniqueName();
    await exec(['--name', name, '--job', 'job-1', '--', 'sh', '-c', 'exit 3'], api.url);
    const [session] = (await client.listSessions({ name })).sessions;

    const shown = await cli(['get', session!.id], api.url);

    expect(shown.stdout).toContain('outcomes 0 running, 0 succeeded, 1 failed, 0 cancelled\n');
    expect(shown.stdout).toContain('failed   job-1 (exit 3)\n');
  }, 30_000);

  it("lease taken over by an operator's forced restore: the command is stopped, the job recorded cancelled, exit 75", async () => {
    const name = uniqueName();
    let taken: Promise<unknown> | undefined;

    const run = await exec(
      ['--name', name, '--lease', '5', '--job', 'job-1', '--json', '--', 'sh', '-c', 'echo ready; exec sleep 30'],
      api.url,
      (stdout) => {
        if (stdout !== 'ready\n' || taken !== undefined) return;
        taken = (async () => {
          const [session] = (await client.listSessions({ name })).sessions;
          const [newest] = (await client.history(session!.id, { limit: 1 })).versions;
          return client.restoreSession(session!.id, newest!.version_id, { force: true });
        })();
      },
    );

    await taken;
    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stderr).toContain("lost: ended by an operator's restore; stopping the command");
    const [listed] = (await client.listSessions({ name })).sessions;
    expect(listed!.jobs?.['job-1']).toMatchObject({ state: 'cancelled', signal: 'SIGTERM' });
    expect(summaryOf(run)).toMatchObject({ session: 'lease_lost', exit_code: 75, job_outcome: { state: 'cancelled', recorded: true } });
  }, 30_000);

  it('lease taken over by a forced acquire: exit 75; the new holder fences the cancel out, and exec says so', async () => {
    const name = uniqueName();
    let taken: Promise<unknown> | undefined;

    const run = await exec(
      ['--name', name, '--lease', '5', '--job', 'job-1', '--json', '--', 'sh', '-c', 'echo ready; exec sleep 30'],
      api.url,
      (stdout) => {
        if (stdout !== 'ready\n' || taken !== undefined) return;
        taken = (async () => {
          const [session] = (await client.listSessions({ name })).sessions;
          return client.acquireLease(session!.id, { holder: 'operator', force: true });
        })();
      },
    );

    await taken;
    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stderr).toContain('job job-1 was not recorded as cancelled (another holder holds the lease now)');
    expect(summaryOf(run)).toMatchObject({ exit_code: 75, job_outcome: { state: 'cancelled', signal: 'SIGTERM', recorded: false } });
    const [listed] = (await client.listSessions({ name })).sessions;
    expect(listed!.jobs?.['job-1']?.state).toBe('running');
  }, 30_000);

  it('add-job records outcomes; a different final outcome is job_finished, exit 4', async () => {
    const { session } = await client.createSession({ name: uniqueName() });

    const failed = await cli(['add-job', session.id, 'job-1', '--state', 'failed', '--exit-code', '2'], api.url);
    const again = await cli(['add-job', session.id, 'job-1', '--state', 'failed', '--exit-code', '2'], api.url);
    const other = await cli(['add-job', session.id, 'job-1', '--state', 'succeeded'], api.url);

    expect([failed.code, again.code, other.code]).toEqual([0, 0, ExitCode.Conflict]);
    expect(other.stderr).toBe(
      `runner-sessions: job job-1 of session ${session.id} already ended: failed (exit 2); an outcome once recorded is kept. Nothing was changed.\n`,
    );
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], url: string, token?: string): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '' };
  const io: CliIo = {
    stdout: { write: (text: string) => (run.stdout += text) },
    stderr: { write: (text: string) => (run.stderr += text) },
    env: { RUNNER_SESSIONS_URL: url, RUNNER_SESSIONS_TOKEN: token },
    retry: { maxAttempts: 1 },
  };
  run.code = await main(args, io);
  return run;
}

describe('owners, with runner and operator tokens, on the local server', () => {
  const TOKENS = {
    a: 'runner-a-token-0123456789',
    b: 'runner-b-token-0123456789',
    operator: 'operator-token-0123456789',
  };
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi({
      tokens: [
        { label: 'runner-a', token: TOKENS.a, tenant: 'team-a' },
        { label: 'runner-b', token: TOKENS.b, tenant: 'team-b' },
        { label: 'ops', token: TOKENS.operator },
      ],
    });
  });
  afterAll(async () => {
    await api.close();
  });

  const as = (who: keyof typeof TOKENS) => new SessionsClient({ baseUrl: api.url, token: TOKENS[who], retry: { maxAttempts: 1 } });

  it("a runner token changing another tenant's session: 'you do not own session ID; ask an operator', exit 6, nothing written", async () => {
    const { session, etag } = await as('a').createSession({ name: uniqueName() });

    const runs = [
      await cli(['add-job', session.id, 'job-1'], api.url, TOKENS.b),
      await cli(['add-job', session.id, 'job-1', '--state', 'failed', '--exit-code', '1'], api.url, TOKENS.b),
      await cli(['pause', session.id], api.url, TOKENS.b),
      await cli(['acquire', session.id, '--force'], api.url, TOKENS.b),
      await cli(['adopt', session.id, 'team-b'], api.url, TOKENS.b),
    ];

    expect(runs.map((run) => run.code)).toEqual([6, 6, 6, 6, 6]);
    expect(runs[0]!.stderr).toBe(
      `runner-sessions: you do not own session ${session.id}; ask an operator (only its owner and operators may change it).\n`,
    );
    expect(runs[4]!.stderr).toBe(`runner-sessions: only operators may change who owns session ${session.id}; ask an operator.\n`);
    expect((await as('a').getSession(session.id)).etag).toBe(etag);
  });

  it('the owner may change it; an operator adopts it for another tenant, whose runner then may; list --mine shows only your own', async () => {
    const { session } = await as('a').createSession({ name: uniqueName() });

    const own = await cli(['add-job', session.id, 'job-1'], api.url, TOKENS.a);
    const adopted = await cli(['adopt', session.id, 'team-b'], api.url, TOKENS.operator);
    const now = await cli(['add-job', session.id, 'job-2'], api.url, TOKENS.b);
    const mineA = await cli(['list', '--mine', '--json', '--limit', '100'], api.url, TOKENS.a);
    const mineB = await cli(['list', '--mine', '--json', '--limit', '100'], api.url, TOKENS.b);

    expect([own.code, adopted.code, now.code]).toEqual([0, 0, 0]);
    expect(adopted.stdout).toContain('owner    team-b\n');
    const ids = (run: Run) => (JSON.parse(run.stdout) as { sessions: { id: string; owner: string }[] }).sessions;
    expect(ids(mineA).every((listed) => listed.owner === 'team-a')).toBe(true);
    expect(ids(mineA).map((listed) => listed.id)).not.toContain(session.id);
    expect(ids(mineB).map((listed) => listed.id)).toContain(session.id);
  });

  it('without a token the server answers 401, which the CLI reports as access denied', async () => {
    const run = await cli(['list'], api.url);

    expect(run.code).toBe(ExitCode.Failure);
  });
});
