import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execIdempotencyKey } from '#lib/client/cli/exec-run.ts';
import { type CliIo, ExitCode, main } from '#lib/client/cli/main.ts';
import { API_ROUTES } from '#lib/http/route-table.ts';
import {
  errorBody,
  type ReceivedRequest,
  type ScriptedAnswer,
  type ScriptedServer,
  startScriptedServer,
  wireSession,
} from '../scripted-server.ts';

const LAUNCHER = path.resolve(import.meta.dirname, '../../../../bin/runner-sessions.mjs');
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const NODE = process.execPath;
const HAVE_LEASE_ROUTES = API_ROUTES.some((route) => (route.routeKey as string) === 'POST /sessions/{id}/lease');

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface FakeOptions {
  /** What `GET /sessions?name=` finds: one paused session, or nothing. */
  existing?: 'paused' | 'none';
  /** Heartbeats accepted before the next ones answer `lease_lost` (superseded by epoch 5). */
  heartbeatsBeforeLoss?: number;
  /** After the loss, whether the new holder's lease is live (a change without Lease-Epoch hears 428) or no lease is. */
  afterLoss?: 'held' | 'free';
  /** Outcomes recorded before exec runs, by job ID (a final one makes another final one 409 `job_finished`). */
  outcomes?: Record<string, Record<string, unknown>>;
}

/** The lease routes as the contract describes them, for one session: enough state for exec to run against. */
function leaseApi({
  existing = 'paused',
  heartbeatsBeforeLoss = Infinity,
  afterLoss = 'held',
  outcomes = {},
}: FakeOptions = {}): (request: ReceivedRequest) => ScriptedAnswer {
  let epoch = 2;
  let heartbeats = 0;
  const jobs: string[] = [];
  const lease = (seconds: number) => ({ holder: 'exec', epoch, seconds, expires_at: Math.floor(Date.now() / 1000) + seconds });
  return (request) => {
    const body = request.body === '' ? {} : (JSON.parse(request.body) as Record<string, unknown>);
    const route = `${request.method} ${request.url.replace(ID, '{id}').replace(/\?.*$/, '')}`;
    switch (route) {
      case 'GET /sessions':
        return {
          status: 200,
          body: { sessions: existing === 'paused' ? [wireSession({ status: 'paused', job_ids: [] })] : [], next_cursor: null },
        };
      case 'POST /sessions':
        epoch = 1;
        return { status: 201, body: wireSession({ job_ids: [], lease: { ...lease(Number(body.lease_seconds)), holder: body.holder } }) };
      case 'POST /sessions/{id}/lease':
        epoch += 1;
        return { status: 200, body: wireSession({ job_ids: [], lease: { ...lease(Number(body.seconds ?? 60)), holder: body.holder } }) };
      case 'POST /sessions/{id}/jobs': {
        const lost = heartbeats > heartbeatsBeforeLoss;
        if (lost && request.headers['lease-epoch'] !== undefined)
          return { status: 409, body: errorBody('lease_lost', 'superseded', { id: ID, reason: 'superseded', epoch: 5 }) };
        if (lost && afterLoss === 'held') return { status: 428, body: errorBody('lease_required', 'held', { id: ID, epoch: 5 }) };
        const job = String(body.job_id);
        const recorded = outcomes[job];
        if (recorded !== undefined && recorded.state !== 'running' && body.state !== undefined && body.state !== recorded.state)
          return { status: 409, body: errorBody('job_finished', 'finished', { id: ID, job_id: job, recorded }) };
        if (!jobs.includes(job)) jobs.push(job);
        if (typeof body.state === 'string')
          outcomes[job] = { state: body.state, exit_code: body.exit_code ?? null, signal: body.signal ?? null };
        const appended = wireSession({ job_ids: jobs, lease: lease(5) });
        if (request.headers.prefer !== 'return=minimal') return { status: 200, body: appended };
        return {
          status: 200,
          body: {
            id: appended.id,
            status: appended.status,
            job_count: jobs.length,
            updated_at: appended.updated_at,
            lease: appended.lease,
          },
        };
      }
      case 'POST /sessions/{id}/heartbeat':
        if (++heartbeats > heartbeatsBeforeLoss)
          return { status: 409, body: errorBody('lease_lost', 'superseded', { id: ID, reason: 'superseded', epoch: 5 }) };
        return { status: 200, body: { lease: lease(Number(body.seconds ?? 60)) } };
      case 'PATCH /sessions/{id}':
        return { status: 200, body: wireSession({ status: body.status, job_ids: jobs }) };
      default:
        return { status: 404, body: errorBody('route_not_found', `no route for ${route}`) };
    }
  };
}

interface Exited {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs `runner-sessions exec ARGS` as a process; `child` is there to signal it. */
function exec(args: string[], url: string, onStdout?: (text: string, child: ChildProcess) => void): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [LAUNCHER, 'exec', ...args], {
      env: { PATH: process.env.PATH, RUNNER_SESSIONS_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Whether process `pid` still runs (a zombie, dead but not yet reaped, does not). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf-8'));
  } catch {
    return false;
  }
}

/** `node -e SCRIPT`, as the command exec runs. */
const nodeScript = (script: string): string[] => ['--', NODE, '-e', script];

function routesSent(): string[] {
  return server!.requests.map((request) => `${request.method} ${request.url.replace(ID, '{id}').replace(/\?.*$/, '')}`);
}

function requestsTo(route: string): ReceivedRequest[] {
  return server!.requests.filter((request) => `${request.method} ${request.url.replace(ID, '{id}').replace(/\?.*$/, '')}` === route);
}

describe('exec: a normal run', () => {
  it('takes the lease, adds the job with its epoch, runs the command, completes with the epoch', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(
      ['--name', 'ssh-import', '--job', 'job-9', '--complete', ...nodeScript('console.log("the command ran")')],
      server.url,
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toBe('the command ran\n');
    expect(routesSent()).toEqual([
      'GET /sessions',
      'POST /sessions/{id}/lease',
      'POST /sessions/{id}/jobs',
      'POST /sessions/{id}/jobs',
      'PATCH /sessions/{id}',
    ]);
    expect(server.requests[0]!.url).toBe('/sessions?name=ssh-import');
    expect(JSON.parse(requestsTo('POST /sessions/{id}/lease')[0]!.body)).toEqual({ holder: expect.stringMatching(/:\d+$/), seconds: 60 });
    expect(requestsTo('POST /sessions/{id}/jobs').map((request) => [request.headers['lease-epoch'], request.headers.prefer])).toEqual([
      ['3', 'return=minimal'],
      ['3', 'return=minimal'],
    ]);
    const patch = requestsTo('PATCH /sessions/{id}')[0]!;
    expect([JSON.parse(patch.body), patch.headers['lease-epoch']]).toEqual([{ status: 'completed' }, '3']);
  });

  it("passes the command's exit status on, and pauses (releasing the lease) instead of completing after a failure", async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--name', 'ssh-import', '--complete', ...nodeScript('process.exit(7)')], server.url);

    expect(run.code).toBe(7);
    const patch = requestsTo('PATCH /sessions/{id}')[0]!;
    expect([JSON.parse(patch.body), patch.headers['lease-epoch']]).toEqual([{ status: 'paused' }, '3']);
  });

  it('opens a session held from its creation when none of the name can be resumed, with an idempotency key of the name', async () => {
    server = await startScriptedServer(leaseApi({ existing: 'none' }));

    const run = await exec(
      ['--name', 'fresh', '--lease', '30', '--holder', 'ci-7', '--invocation-id', 'run-1', ...nodeScript('')],
      server.url,
    );

    expect(run.code).toBe(0);
    expect(routesSent()).toEqual(['GET /sessions', 'POST /sessions', 'PATCH /sessions/{id}']);
    const create = requestsTo('POST /sessions')[0]!;
    expect(JSON.parse(create.body)).toEqual({ name: 'fresh', lease_seconds: 30, holder: 'ci-7' });
    expect(create.headers['idempotency-key']).toMatch(/^exec-[0-9a-f]{64}$/);
    expect(requestsTo('PATCH /sessions/{id}')[0]!.headers['lease-epoch']).toBe('1');
  });

  it('the idempotency key is the same for the same name, host and invocation, and differs otherwise', () => {
    const key = execIdempotencyKey('fresh', 'build-7', 'run-1');

    expect(execIdempotencyKey('fresh', 'build-7', 'run-1')).toBe(key);
    expect(
      new Set([
        key,
        execIdempotencyKey('fresh', 'build-8', 'run-1'),
        execIdempotencyKey('fresh', 'build-7', 'run-2'),
        execIdempotencyKey('other', 'build-7', 'run-1'),
      ]).size,
    ).toBe(4);
  });

  it('heartbeats while a long command runs', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--name', 'ssh-import', '--lease', '5', ...nodeScript('setTimeout(() => {}, 2500)')], server.url);

    expect(run.code).toBe(0);
    const heartbeats = requestsTo('POST /sessions/{id}/heartbeat');
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(heartbeats.map((request) => request.headers['lease-epoch'])).toEqual(heartbeats.map(() => '3'));
  });

  it('a command that is not there exits 127, one that cannot be run 126; the session is released either way', async () => {
    server = await startScriptedServer(leaseApi());

    const missing = await exec(['--name', 'ssh-import', '--', '/nonexistent/command'], server.url);
    const notExecutable = await exec(['--name', 'ssh-import', '--', path.join(import.meta.dirname, '../scripted-server.ts')], server.url);
    const onPath = await exec(['--name', 'ssh-import', '--', 'no-such-command-on-path'], server.url);

    expect([missing.code, notExecutable.code, onPath.code]).toEqual([127, 126, 127]);
    expect(missing.stderr).toContain('cannot run /nonexistent/command: no such file');
    expect(notExecutable.stderr).toContain('cannot run ');
    expect(onPath.stderr).toContain('cannot run no-such-command-on-path: not found on PATH');
    expect(requestsTo('PATCH /sessions/{id}').map((request) => JSON.parse(request.body))).toEqual([
      { status: 'paused' },
      { status: 'paused' },
      { status: 'paused' },
    ]);
  });

  it('says on stderr which session and epoch it runs under; --json adds a summary as the last line of stderr', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--name', 'ssh-import', '--job', 'job-9', '--json', ...nodeScript('process.exit(3)')], server.url);

    expect(run.code).toBe(3);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`runner-sessions: running under session ${ID}, lease epoch 3`);
    expect(JSON.parse(lines.at(-1)!)).toEqual({
      exec: {
        session_id: ID,
        epoch: 3,
        job: 'job-9',
        command_exit_code: 3,
        command_signal: null,
        job_outcome: { state: 'failed', exit_code: 3, signal: null, recorded: true },
        session: 'paused',
        exit_code: 3,
      },
    });
    expect(run.stdout).toBe('');
  });

  it('--session ID --epoch N runs under a lease already held: confirmed by a heartbeat, never acquired', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--session', ID, '--epoch', '2', '--complete', ...nodeScript('')], server.url);

    expect(run.code).toBe(0);
    expect(routesSent()).toEqual(['POST /sessions/{id}/heartbeat', 'PATCH /sessions/{id}']);
    expect(server.requests.map((request) => request.headers['lease-epoch'])).toEqual(['2', '2']);
    expect(JSON.parse(requestsTo('PATCH /sessions/{id}')[0]!.body)).toEqual({ status: 'completed' });
  });

  it('its own failures exit 125, never an exit status the command could have given', async () => {
    server = await startScriptedServer(() => ({ status: 404, body: errorBody('session_not_found', 'no session', { id: ID }) }));

    const run = await exec(['--session', ID, '--epoch', '2', ...nodeScript('console.log("ran")')], server.url);

    expect(run.code).toBe(125);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`no session ${ID} at`);
  });

  it.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/setpriv'))(
    'kill -9 of exec kills its command too (setpriv --pdeathsig)',
    async () => {
      server = await startScriptedServer(leaseApi());
      let commandPid: number | undefined;

      const run = await exec(
        ['--name', 'ssh-import', ...nodeScript('console.log(process.pid); setInterval(() => {}, 1000)')],
        server.url,
        (text, child) => {
          if (commandPid !== undefined || !text.includes('\n')) return;
          commandPid = Number(text.trim());
          child.kill('SIGKILL');
        },
      );

      expect(run.signal).toBe('SIGKILL');
      expect(commandPid).toBeGreaterThan(0);
      await expect.poll(() => isRunning(commandPid!), { timeout: 5000 }).toBe(false);
    },
  );
});

/** The bodies of the job appends exec sent, with the Lease-Epoch each carried. */
function jobReports(): [Record<string, unknown>, string | undefined][] {
  return requestsTo('POST /sessions/{id}/jobs').map((request) => [
    JSON.parse(request.body),
    request.headers['lease-epoch'] as string | undefined,
  ]);
}

function execSummary(run: Exited): Record<string, unknown> {
  return (JSON.parse(run.stderr.trimEnd().split('\n').at(-1)!) as { exec: Record<string, unknown> }).exec;
}

describe('exec: how the job ended', () => {
  it.each([
    ['exit 0 is succeeded, with exit code 0', 'exit 0', 0, { state: 'succeeded', exit_code: 0 }],
    ['a non-zero exit is failed, with its exit code', 'exit 3', 3, { state: 'failed', exit_code: 3 }],
    ['death by a signal is failed, with the signal', 'kill -TERM $$', 143, { state: 'failed', signal: 'SIGTERM' }],
  ] as const)('%s: running when it starts, the outcome when it ends, both under the epoch', async (_title, script, status, report) => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--name', 'ssh-import', '--job', 'job-9', '--json', '--', 'sh', '-c', script], server.url);

    expect(run.code).toBe(status);
    expect(jobReports()).toEqual([
      [{ job_id: 'job-9', state: 'running' }, '3'],
      [{ job_id: 'job-9', ...report }, '3'],
    ]);
    expect(execSummary(run).job_outcome).toEqual({ exit_code: null, signal: null, ...report, recorded: true });
    expect(routesSent().at(-1)).toBe('PATCH /sessions/{id}');
  });

  it('a command that cannot be found fails with 127', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(['--name', 'ssh-import', '--job', 'job-9', '--', '/nonexistent/command'], server.url);

    expect(run.code).toBe(127);
    expect(jobReports().at(-1)).toEqual([{ job_id: 'job-9', state: 'failed', exit_code: 127 }, '3']);
  });

  it('stopped because the lease was lost: cancelled, sent without the lost epoch, recorded when no lease is live; exit 75', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0, afterLoss: 'free' }));

    const run = await exec(
      ['--name', 'ssh-import', '--lease', '5', '--job', 'job-9', '--json', ...nodeScript('setInterval(() => {}, 1000)')],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(jobReports()).toEqual([
      [{ job_id: 'job-9', state: 'running' }, '3'],
      [{ job_id: 'job-9', state: 'cancelled', signal: 'SIGTERM' }, undefined],
    ]);
    expect(execSummary(run)).toMatchObject({
      session: 'lease_lost',
      exit_code: 75,
      job_outcome: { state: 'cancelled', exit_code: null, signal: 'SIGTERM', recorded: true },
    });
    expect(requestsTo('PATCH /sessions/{id}')).toHaveLength(0);
  });

  it('stopped because the lease was lost while another holder holds it: not recorded, and said so; exit 75', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0, afterLoss: 'held' }));

    const run = await exec(
      ['--name', 'ssh-import', '--lease', '5', '--job', 'job-9', '--json', ...nodeScript('setInterval(() => {}, 1000)')],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stderr).toContain(
      'runner-sessions: job job-9 was not recorded as cancelled (another holder holds the lease now); the session shows it as it last was\n',
    );
    expect(execSummary(run)).toMatchObject({ exit_code: 75, job_outcome: { state: 'cancelled', recorded: false } });
  });

  it("--on-lease-lost continue: the outcome is the command's own, not cancelled", async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0, afterLoss: 'free' }));

    const run = await exec(
      [
        '--name',
        'ssh-import',
        '--lease',
        '5',
        '--job',
        'job-9',
        '--on-lease-lost',
        'continue',
        ...nodeScript('setTimeout(() => process.exit(4), 2500)'),
      ],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(jobReports().at(-1)).toEqual([{ job_id: 'job-9', state: 'failed', exit_code: 4 }, undefined]);
  });

  it('a job that already ended is not run again: job_finished says how it ended, and exec exits 125', async () => {
    const recorded = { state: 'succeeded', exit_code: 0, signal: null, started_at: 1763942400, finished_at: 1763942460 };
    server = await startScriptedServer(leaseApi({ outcomes: { 'job-9': recorded } }));

    const run = await exec(['--name', 'ssh-import', '--job', 'job-9', ...nodeScript('console.log("ran")')], server.url);

    expect(run.code).toBe(125);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      `runner-sessions: job job-9 of session ${ID} already ended: succeeded; an outcome once recorded is kept. Nothing was changed.\n`,
    );
  });
});

describe('exec: the lease is lost while the command runs', () => {
  it('kill (the default): one line naming the reason and the new epoch, SIGTERM to the command, exit 75, not completed', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0 }));
    const started = performance.now();

    const run = await exec(
      ['--name', 'ssh-import', '--lease', '5', '--complete', ...nodeScript('setInterval(() => {}, 1000)')],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stderr).toBe(
      `runner-sessions: running under session ${ID}, lease epoch 3\n` +
        `runner-sessions: lease on session ${ID} lost: superseded by epoch 5; stopping the command\n`,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(requestsTo('PATCH /sessions/{id}')).toHaveLength(0);
  });

  it('kill: a command that ignores SIGTERM gets SIGKILL after --grace', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0 }));

    const run = await exec(
      [
        '--name',
        'ssh-import',
        '--lease',
        '5',
        '--grace',
        '0.5',
        ...nodeScript('process.on("SIGTERM", () => console.log("ignored")); setInterval(() => {}, 1000)'),
      ],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stdout).toBe('ignored\n');
  });

  it('continue: the command finishes, exec still exits 75 and does not complete the session', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 0 }));

    const run = await exec(
      [
        '--name',
        'ssh-import',
        '--lease',
        '5',
        '--complete',
        '--on-lease-lost',
        'continue',
        ...nodeScript('setTimeout(() => console.log("finished"), 2500)'),
      ],
      server.url,
    );

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stdout).toBe('finished\n');
    expect(run.stderr).toBe(
      `runner-sessions: running under session ${ID}, lease epoch 3\n` +
        `runner-sessions: lease on session ${ID} lost: superseded by epoch 5; letting the command finish (--on-lease-lost continue)\n`,
    );
    expect(requestsTo('PATCH /sessions/{id}')).toHaveLength(0);
  });
});

describe('exec: signals', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s is passed on to the command; its death by that signal is exit %i', async (signal, status) => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(
      ['--name', 'ssh-import', ...nodeScript('console.log("ready"); setInterval(() => {}, 1000)')],
      server.url,
      (stdout, child) => {
        if (stdout === 'ready\n') child.kill(signal);
      },
    );

    expect(run).toMatchObject({ code: status, signal: null });
    expect(JSON.parse(requestsTo('PATCH /sessions/{id}')[0]!.body)).toEqual({ status: 'paused' });
  });

  it('a command that handles the signal and exits 0 makes exec exit 0', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await exec(
      [
        '--name',
        'ssh-import',
        ...nodeScript(
          'process.on("SIGTERM", () => { console.log("cleaned up"); process.exit(0); }); console.log("ready"); setInterval(() => {}, 1000)',
        ),
      ],
      server.url,
      (stdout, child) => {
        if (stdout === 'ready\n') child.kill('SIGTERM');
      },
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toBe('ready\ncleaned up\n');
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], url: string): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '' };
  const io: CliIo = {
    stdout: { write: (text: string) => (run.stdout += text) },
    stderr: { write: (text: string) => (run.stderr += text) },
    env: { RUNNER_SESSIONS_URL: url },
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
  };
  run.code = await main(args, io);
  return run;
}

describe('the lease commands', () => {
  it('acquire --holder --seconds --force prints the session with its lease', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await cli(['acquire', ID, '--holder', 'ops', '--seconds', '30', '--force'], server.url);

    expect(run.code).toBe(0);
    expect(JSON.parse(server.requests[0]!.body)).toEqual({ holder: 'ops', seconds: 30, force: true });
    expect(run.stdout).toMatch(/^lease {4}epoch 3, ops, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m);
  });

  it('heartbeat --epoch sends Lease-Epoch; a lost lease exits 75 and says by which epoch', async () => {
    server = await startScriptedServer(leaseApi({ heartbeatsBeforeLoss: 1 }));

    const kept = await cli(['heartbeat', ID, '--epoch', '3', '--json'], server.url);
    const lost = await cli(['heartbeat', ID, '--epoch', '3'], server.url);

    expect(kept.code).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({ lease: { epoch: 2 } });
    expect(server.requests[0]!.headers['lease-epoch']).toBe('3');
    expect(lost.code).toBe(ExitCode.LeaseLost);
    expect(lost.stderr).toContain(`the lease on session ${ID} is lost: superseded by epoch 5.`);
  });

  it.each([
    [['add-job', ID, 'job-1', '--epoch', '3'], 'POST'],
    [['pause', ID, '--epoch', '3'], 'PATCH'],
    [['complete', ID, '--epoch', '3'], 'PATCH'],
    [['terminate', ID, '--epoch', '3'], 'PATCH'],
  ])('%j sends Lease-Epoch', async (args, method) => {
    server = await startScriptedServer(leaseApi());

    const run = await cli(args, server.url);

    expect(run.code).toBe(0);
    expect(server.requests[0]).toMatchObject({ method, headers: expect.objectContaining({ 'lease-epoch': '3' }) });
  });

  it('lease_held exits 4 and says who holds it and how to take it over', async () => {
    server = await startScriptedServer(() => ({
      status: 409,
      body: errorBody('lease_held', 'held', { id: ID, holder: 'build-7:4711', expires_at: 1763942520 }),
    }));

    const run = await cli(['acquire', ID], server.url);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toBe(
      `runner-sessions: session ${ID} is held by build-7:4711 until 2025-11-24 00:02:00 UTC; wait for that lease to run out, or take it over with 'runner-sessions acquire ${ID} --force' (the holder is then fenced out).\n`,
    );
  });

  it('lease_required exits 4 and asks for --epoch', async () => {
    server = await startScriptedServer(() => ({ status: 428, body: errorBody('lease_required', 'held', { id: ID, epoch: 3 }) }));

    const run = await cli(['add-job', ID, 'job-1'], server.url);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain('is held under a lease (epoch 3); pass --epoch');
  });

  it('resume-by-name takes the lease', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await cli(['resume-by-name', 'ssh-import', '--holder', 'me'], server.url);

    expect(run.code).toBe(0);
    expect(routesSent()).toEqual(['GET /sessions', 'POST /sessions/{id}/lease']);
    expect(run.stderr).toBe(`resumed paused session ${ID}\n`);
    expect(run.stdout).toContain('lease    epoch 3, me, until');
  });

  it('resume ID takes the lease too, as resume-by-name does, with HOST:PID as the holder', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await cli(['resume', ID, '--seconds', '30'], server.url);

    expect(run.code).toBe(0);
    expect(routesSent()).toEqual(['POST /sessions/{id}/lease']);
    expect(JSON.parse(server.requests[0]!.body)).toEqual({ holder: `${hostname()}:${process.pid}`, seconds: 30 });
    expect(run.stdout).toContain('lease    epoch 3, ');
  });

  it('acquire --epoch re-acquires the lease held, presenting its epoch as Lease-Epoch', async () => {
    server = await startScriptedServer(leaseApi());

    const run = await cli(['acquire', ID, '--epoch', '2'], server.url);

    expect(run.code).toBe(0);
    expect(server.requests[0]!.headers['lease-epoch']).toBe('2');
  });

  it('acquire against an API without lease routes says so', async () => {
    server = await startScriptedServer(() => ({ status: 404, body: errorBody('route_not_found', 'no route for POST /sessions/x/lease') }));

    const run = await cli(['acquire', ID], server.url);

    expect(run.code).toBe(ExitCode.Failure);
    expect(run.stderr).toContain(`the API at ${server.url} does not serve leases`);
  });

  it.each([
    [['exec', '--', 'true'], 'exec needs --name NAME, or --session ID --epoch N'],
    [['exec', '--name', 'x'], 'exec needs a command to run after --'],
    [['exec', '--name', 'x', '--lease', '4', '--', 'true'], '--lease must be a whole number of seconds from 5 to 3600'],
    [['exec', '--name', 'x', '--on-lease-lost', 'wait', '--', 'true'], '--on-lease-lost must be kill or continue'],
    [['exec', '--session', ID, '--', 'true'], '--session ID needs --epoch N'],
    [['exec', '--session', ID, '--epoch', '2', '--name', 'x', '--', 'true'], 'exec takes --name NAME or --session ID, not both'],
    [['exec', '--name', 'x', '--epoch', '2', '--', 'true'], '--epoch goes with --session ID'],
    [['exec', '--name', 'x', '--no-such-option', '--', 'true'], "Unknown option '--no-such-option'"],
  ])('%j is a usage error of exec: exit 125', async (args, message) => {
    const run = await cli(args, 'http://127.0.0.1:9');

    expect(run.code).toBe(125);
    expect(run.stderr).toContain(message);
  });

  it.each([
    [['heartbeat', ID], 'heartbeat needs --epoch N'],
    [['add-job', ID, 'job-1', '--epoch=-1'], '--epoch must be the lease'],
    [['add-job', ID, 'job-1', '--epoch', '2.5'], '--epoch must be the lease'],
  ])('%j is a usage error', async (args, message) => {
    const run = await cli(args, 'http://127.0.0.1:9');

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain(message);
  });

  it('exec --help documents the exit codes', async () => {
    const run = await cli(['exec', '--help'], 'http://127.0.0.1:9');

    expect(run.stdout).toMatch(/^Usage: runner-sessions exec --name NAME/);
    expect(run.stdout).toContain('  runner-sessions exec --session ID --epoch N [--job JOB] [--complete] -- COMMAND [ARGS...]\n');
    expect(run.stdout).toContain('75   the lease was lost while the command ran (EX_TEMPFAIL)');
    expect(run.stdout).toContain('125  exec itself failed');
    expect(run.stdout).toContain('126  the command was found but cannot be run');
    expect(run.stdout).toContain('127  the command was not found');
    expect(run.stdout).toContain(
      existsSync('/usr/bin/setpriv') && process.platform === 'linux'
        ? 'If exec itself is killed (kill -9), the command is killed too'
        : 'The command is NOT stopped if exec itself is killed',
    );
  });
});

describe.skipIf(!HAVE_LEASE_ROUTES)('exec against the local server', () => {
  it('a second client force-acquires while exec holds the lease: exec reports the loss and exits 75', async () => {
    const { startApi } = await import('../local-api.ts');
    const { SessionsClient } = await import('#lib/client/client.ts');
    const api = await startApi();
    try {
      const name = `exec-e2e-${Math.random().toString(36).slice(2)}`;
      const operator = new SessionsClient({ baseUrl: api.url });
      let taken: Promise<unknown> | undefined;

      const run = await exec(
        [
          '--name',
          name,
          '--lease',
          '5',
          '--job',
          'job-1',
          '--complete',
          ...nodeScript('console.log("ready"); setInterval(() => {}, 1000)'),
        ],
        api.url,
        (stdout) => {
          if (stdout !== 'ready\n' || taken !== undefined) return;
          taken = (async () => {
            const [session] = (await operator.listSessions({ name })).sessions;
            return operator.acquireLease(session!.id, { holder: 'operator', force: true });
          })();
        },
      );

      const { session } = (await taken) as { session: { id: string; lease: { epoch: number }; job_ids: string[] } };
      expect(run.code).toBe(ExitCode.LeaseLost);
      expect(run.stderr).toContain(
        `runner-sessions: lease on session ${session.id} lost: superseded by epoch ${session.lease.epoch}; stopping the command\n`,
      );
      expect(session.job_ids).toEqual(['job-1']);
      expect((await operator.getSession(session.id)).session).toMatchObject({ status: 'active', lease: { holder: 'operator', epoch: 2 } });
    } finally {
      await api.close();
    }
  }, 30_000);
});
