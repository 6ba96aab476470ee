import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, ExitCode, main } from '#lib/client/cli/main.ts';
import { type ReceivedRequest, type ScriptedAnswer, type ScriptedServer, startScriptedServer, wireSession } from '../scripted-server.ts';

const LAUNCHER = path.resolve(import.meta.dirname, '../../../../bin/runner-sessions.mjs');
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(script: (request: ReceivedRequest, count: number) => ScriptedAnswer): Promise<string> {
  server = await startScriptedServer(script);
  return server.url;
}

/** Page `n` of a listing that never ends: every page has a next cursor. */
function endlessSessions(_request: ReceivedRequest, count: number): ScriptedAnswer {
  return { status: 200, body: { sessions: [wireSession({ name: `page-${count}` })], next_cursor: `c${count}` } };
}

function wireVersion(versionId: string): Record<string, unknown> {
  return { version_id: versionId, at: 1763942400, actor: null, change: 'created', session: wireSession() };
}

function endlessHistory(_request: ReceivedRequest, count: number): ScriptedAnswer {
  return { status: 200, body: { versions: [wireVersion(`v${count}`)], next_cursor: `c${count}` } };
}

/** Three pages of one session each, then the end. */
function threePages(_request: ReceivedRequest, count: number): ScriptedAnswer {
  return { status: 200, body: { sessions: [wireSession({ name: `page-${count}` })], next_cursor: count < 3 ? `c${count}` : null } };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Each write to stdout with the number of requests the server had received when it was made. */
  writes: { text: string; requestsSoFar: number }[];
}

async function cli(
  args: string[],
  url: string,
  {
    stdoutWrite,
    retry = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
  }: { stdoutWrite?: (text: string) => void; retry?: CliIo['retry'] } = {},
): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '', writes: [] };
  const io: CliIo = {
    stdout: {
      write: (text: string) => {
        stdoutWrite?.(text);
        run.stdout += text;
        run.writes.push({ text, requestsSoFar: server?.requests.length ?? 0 });
      },
    },
    stderr: { write: (text: string) => (run.stderr += text) },
    env: { RUNNER_SESSIONS_URL: url },
    retry,
  };
  run.code = await main(args, io);
  return run;
}

/** Runs the launcher, reads stdout until its first line, then closes the pipe the way `| head -1` does. */
function firstLineThenClose(
  args: string[],
  url: string,
): Promise<{ code: number | null; signal: string | null; firstLine: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      env: { PATH: process.env.PATH, RUNNER_SESSIONS_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let firstLine = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (firstLine === '' && stdout.includes('\n')) {
        firstLine = stdout.slice(0, stdout.indexOf('\n'));
        child.stdout.destroy();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, firstLine, stderr });
    });
  });
}

describe('--all prints each page as it arrives', () => {
  it('list --all writes the first page before it asks for the second', async () => {
    const url = await serve(threePages);

    const run = await cli(['list', '--all'], url);

    expect(run.code).toBe(ExitCode.Ok);
    const firstRow = run.writes.find((write) => write.text.includes('page-1'));
    expect(firstRow?.requestsSoFar).toBe(1);
    expect(run.stdout.match(/^ID +STATUS/gm)).toHaveLength(1);
    expect(run.stdout.split('\n').filter((line) => line.startsWith(ID))).toHaveLength(3);
  });

  it('list --all --json is still one document with every session', async () => {
    const url = await serve(threePages);

    const run = await cli(['list', '--all', '--json'], url);

    expect(run.code).toBe(ExitCode.Ok);
    const document = JSON.parse(run.stdout) as { sessions: { name: string }[]; next_cursor: null };
    expect(document.sessions.map((session) => session.name)).toEqual(['page-1', 'page-2', 'page-3']);
    expect(document.next_cursor).toBeNull();
    expect(run.writes.find((write) => write.text.includes('page-1'))?.requestsSoFar).toBe(1);
  });

  it('list --all --json of nothing is an empty list', async () => {
    const url = await serve(() => ({ status: 200, body: { sessions: [], next_cursor: null } }));

    const run = await cli(['list', '--all', '--json'], url);

    expect(JSON.parse(run.stdout)).toEqual({ sessions: [], next_cursor: null });
  });

  it('history --all --cursor starts where the given page ended', async () => {
    const url = await serve((_request, count) => ({
      status: 200,
      body: { versions: [wireVersion(`v${count}`)], next_cursor: count < 2 ? `c${count}` : null },
    }));

    const run = await cli(['history', ID, '--all', '--cursor', 'start-here'], url);

    expect(run.code).toBe(ExitCode.Ok);
    expect(server!.requests[0]!.url).toContain('cursor=start-here');
    expect(run.stdout).toMatch(/^VERSION +AT +BY +CHANGE\nv1 .*\nv2 /);
  });
});

describe('a closed stdout ends the command quietly, with exit status 0', () => {
  it('in-process: a write that fails with EPIPE stops the listing', async () => {
    const url = await serve(endlessSessions);
    let writes = 0;
    const stdoutWrite = (): void => {
      if (++writes > 1) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    };

    const run = await cli(['list', '--all'], url, { stdoutWrite });

    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stderr).toBe('');
    expect(server!.requests.length).toBeLessThanOrEqual(2);
  });

  it.each([
    ['list --all', ['list', '--all'], endlessSessions, /^ID +STATUS/],
    ['history --all', ['history', ID, '--all'], endlessHistory, /^VERSION +AT/],
  ])('%s | head -1, on an endless listing', async (_what, args, script, header) => {
    const url = await serve(script);

    const run = await firstLineThenClose(args, url);

    expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(run.firstLine).toMatch(header);
  });
});

describe('--timeout bounds the whole command, retries included', () => {
  it('a server that never answers: exit 5 after --timeout, saying so', async () => {
    const url = await serve(() => 'hang');
    const started = performance.now();

    const run = await cli(['get', ID, '--timeout', '0.5'], url);

    const elapsed = performance.now() - started;
    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toContain(`no answer from the API at ${url} within --timeout 0.5 s`);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('the deadline also cuts a backoff short: a 503 asking to retry in 60 s', async () => {
    const url = await serve(() => ({
      status: 503,
      headers: { 'retry-after': '60' },
      body: { error: { code: 'storage_unavailable', message: 'busy', details: {} } },
    }));
    const started = performance.now();

    const run = await cli(['get', ID, '--timeout', '0.3'], url, { retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 60_000 } });

    expect(run.code).toBe(ExitCode.Unavailable);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(server!.requests).toHaveLength(1);
  });

  it('--timeout 0 sets no deadline', async () => {
    const url = await serve((_request, count) => (count === 1 ? 'drop' : { status: 200, body: wireSession() }));

    const run = await cli(['get', ID, '--timeout', '0'], url);

    expect(run.code).toBe(ExitCode.Ok);
  });

  it.each(['-1', 'soon', '1e3', ''])('--timeout %j is a usage error', async (value) => {
    const run = await cli(['get', ID, `--timeout=${value}`], 'http://127.0.0.1:9');

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain(`--timeout must be a number of seconds (0 for no limit); got '${value}'`);
  });

  it('by default a server that never answers is given up on after 30 s, not after four 30 s attempts', async () => {
    const url = await serve(() => 'hang');
    const started = performance.now();

    const run = await cli(['get', ID], url);

    const elapsed = performance.now() - started;
    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toContain('within --timeout 30 s');
    expect(elapsed).toBeGreaterThanOrEqual(29_500);
    expect(elapsed).toBeLessThan(35_000);
    // Attempts of 10 s each: three fit in the deadline.
    expect(server!.requests).toHaveLength(3);
  }, 45_000);
});
