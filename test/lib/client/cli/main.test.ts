import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CliIo, ExitCode, main } from '#lib/client/cli/main.ts';
import { type RunningApi, startApi, TEST_MAX_JOBS } from '../local-api.ts';
import { errorBody, type ScriptedAnswer, type ScriptedServer, startScriptedServer, wireSession } from '../scripted-server.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let api: RunningApi;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

/** Runs the CLI in-process against `url` (the test API unless given), with retries kept short. */
async function cli(
  args: string[],
  { url = api.url, env = {}, fetch }: { url?: string | null; env?: Record<string, string>; fetch?: typeof globalThis.fetch } = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { ...(url === null ? {} : { RUNNER_SESSIONS_URL: url }), ...env },
    fetch,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

async function createdId(name = 'cli-test'): Promise<string> {
  const run = await cli(['create', '--name', name, '--json']);
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { session: { id: string } }).session.id;
}

describe('help', () => {
  it('--help at the top level lists every command and the exit codes, on stdout, exit 0', async () => {
    const run = await cli(['--help']);

    expect(run.code).toBe(ExitCode.Ok);
    for (const command of [
      'create',
      'get ID',
      'add-job ID JOB',
      'pause ID',
      'resume ID',
      'complete ID',
      'terminate ID',
      'list',
      'resume-by-name NAME',
    ]) {
      expect(run.stdout).toContain(`  ${command}`);
    }
    expect(run.stdout).toMatch(
      /Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*\n {2}4 .*\n {2}5 .*\n {2}6 {2}forbidden: you do not own the session/,
    );
    expect(run.stderr).toBe('');
  });

  it.each(['create', 'get', 'add-job', 'pause', 'resume', 'complete', 'terminate', 'list', 'resume-by-name'])(
    '%s --help and -h show the command usage',
    async (command) => {
      const long = await cli([command, '--help']);
      const short = await cli([command, '-h']);

      expect(long.code).toBe(ExitCode.Ok);
      expect(long.stdout).toMatch(new RegExp(`^Usage: runner-sessions ${command}\\b`));
      expect(long.stdout).toContain('Exit codes:');
      expect(short).toEqual(long);
    },
  );

  it('help COMMAND is the same as COMMAND --help', async () => {
    expect((await cli(['help', 'list'])).stdout).toBe((await cli(['list', '--help'])).stdout);
  });

  it('no command at all prints the usage to stderr, exit 2', async () => {
    const run = await cli([]);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain('Usage: runner-sessions <command>');
    expect(run.stdout).toBe('');
  });
});

describe('usage errors exit 2 and point at the help', () => {
  it.each([
    [
      'an unknown command',
      ['launch'],
      /unknown command 'launch'; the commands are acquire, add-job, adopt, check-store, complete, console, create, exec, export, get/,
    ],
    ['an unknown option', ['list', '--colour'], /Unknown option '--colour'/],
    ['an option of another command', ['get', '0'.repeat(32), '--name', 'x'], /Unknown option '--name'/],
    ['a missing argument', ['add-job', 'fffe6a1c2b3d4e5f60718293a4b5c6d7'], /add-job takes ID JOB, got 'fffe6a1c2b3d4e5f60718293a4b5c6d7'/],
    ['an extra argument', ['get', 'fffe6a1c2b3d4e5f60718293a4b5c6d7', 'more'], /get takes ID, got/],
    ['an ID that is not one', ['pause', 'fffe-not-an-id'], /'fffe-not-an-id' is not a session ID: expected 32 lowercase hex characters/],
    [
      'a job ID with a control character',
      ['add-job', 'fffe6a1c2b3d4e5f60718293a4b5c6d7', 'job\u0001'],
      /JOB must be 1-256 characters without control characters/,
    ],
    ['a name that is too long', ['create', '--name', 'n'.repeat(257)], /--name must be 1-256 characters/],
    [
      'an unknown status',
      ['list', '--status', 'sleeping'],
      /--status must be one of active, paused, completed, terminated; got 'sleeping'/,
    ],
    ['a limit out of range', ['list', '--limit', '101'], /--limit must be an integer from 1 to 100; got '101'/],
    ['a limit that is not a number', ['list', '--limit', 'ten'], /--limit must be an integer from 1 to 100; got 'ten'/],
    ['a --url that is not a URL', ['list', '--url', 'not a url'], /'not a url' is not a URL/],
    ['an option without its value', ['create', '--name'], /--name/],
  ])('%s', async (_what, args, message) => {
    const run = await cli(args);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/See 'runner-sessions( [a-z-]+)? --help'\.\n$/);
    expect(run.stdout).toBe('');
  });

  it('a region that cannot be determined for a signed URL', async () => {
    const run = await cli(['list', '--url', 'https://sessions.example.com']);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain('pass a region or set AWS_REGION');
  });
});

describe('the commands, against the API', () => {
  it('create prints the new session; --json prints {session, etag}', async () => {
    const human = await cli(['create', '--name', 'ssh-import']);
    const json = await cli(['create', '--json']);

    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^session {2}[0-9a-f]{32}\nname {5}ssh-import\nstatus {3}active\njobs {5}0\ncreated {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/,
    );
    expect(human.stdout).toMatch(/\netag {5}"[^"]+"\n$/);
    const parsed = JSON.parse(json.stdout) as { session: Record<string, unknown>; etag: string };
    expect(parsed.session).toMatchObject({ name: null, job_ids: [], status: 'active' });
    expect(parsed.etag).toMatch(/^"[^"]+"$/);
    expect(json.stdout.endsWith('}\n')).toBe(true);
  });

  it('get shows the session', async () => {
    const id = await createdId('shown');

    const run = await cli(['get', id]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`session  ${id}\nname     shown\nstatus   active\n`);
  });

  it('add-job appends and shows the jobs; repeating it changes nothing', async () => {
    const id = await createdId();
    await cli(['add-job', id, 'job-1']);

    const run = await cli(['add-job', id, 'job-2']);
    const again = await cli(['add-job', id, 'job-2', '--json']);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('jobs     2  (job-1, job-2)\n');
    expect(JSON.parse(again.stdout).session.job_ids).toEqual(['job-1', 'job-2']);
  });

  it('add-job --if-match with the current etag', async () => {
    const id = await createdId();
    const { etag } = JSON.parse((await cli(['get', id, '--json'])).stdout) as { etag: string };

    const run = await cli(['add-job', id, 'job-1', '--if-match', etag]);

    expect(run.code).toBe(0);
  });

  it.each([
    ['pause', 'paused'],
    ['complete', 'completed'],
    ['terminate', 'terminated'],
  ])('%s moves the session to %s', async (command, status) => {
    const id = await createdId();

    const run = await cli([command, id]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`status   ${status}\n`);
  });

  it('resume moves a paused session back to active', async () => {
    const id = await createdId();
    await cli(['pause', id]);

    const run = await cli(['resume', id, '--json']);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).session.status).toBe('active');
  });

  describe('list', () => {
    let ids: string[];
    beforeAll(async () => {
      ids = [];
      for (let i = 0; i < 5; i++) {
        ids.unshift(await createdId(`listed-${i}`));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    });

    it('prints a table, newest first, and how to get the next page', async () => {
      const run = await cli(['list', '--limit', '2']);

      const lines = run.stdout.split('\n');
      expect(run.code).toBe(0);
      expect(lines[0]).toMatch(/^ID {32}STATUS {2}JOBS {2}UPDATED {18}NAME$/);
      expect(lines[1]).toMatch(new RegExp(`^${ids[0]}  active  +0  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC  listed-4$`));
      expect(lines[2]).toContain(ids[1]);
      expect(lines).toHaveLength(4);
      // The hint is not data: it goes to stderr, so stdout is only the table.
      expect(run.stderr).toMatch(/^more: runner-sessions list --limit 2 --cursor [A-Za-z0-9_-]+ {3}\(or --all\)\n$/);
    });

    it('--cursor continues where the previous page ended', async () => {
      const first = JSON.parse((await cli(['list', '--limit', '2', '--json'])).stdout) as { next_cursor: string };

      const run = await cli(['list', '--limit', '2', '--cursor', first.next_cursor, '--json']);

      expect(JSON.parse(run.stdout).sessions.map((s: { id: string }) => s.id)).toEqual(ids.slice(2, 4));
    });

    it('--all --json fetches every page', async () => {
      const run = await cli(['list', '--all', '--limit', '2', '--json']);

      const listed = JSON.parse(run.stdout) as { sessions: { id: string }[]; next_cursor: null };
      expect(listed.next_cursor).toBeNull();
      expect(listed.sessions.map((s) => s.id).filter((id) => ids.includes(id))).toEqual(ids);
    });

    it('--status filters', async () => {
      await cli(['pause', ids[2]!]);

      const run = await cli(['list', '--status', 'paused', '--all', '--json']);

      const listed = JSON.parse(run.stdout) as { sessions: { id: string; status: string }[] };
      expect(listed.sessions.map((s) => s.id)).toContain(ids[2]);
      expect(listed.sessions.every((s) => s.status === 'paused')).toBe(true);
    });

    it('says so when there are none', async () => {
      const none = await startScriptedServer(() => ({ status: 200, body: { sessions: [], next_cursor: null } }));

      const run = await cli(['list'], { url: none.url });
      await none.close();

      expect(run.stdout).toBe('no sessions\n');
    });
  });
});

describe('resuming after a disconnect', () => {
  const unique = (label: string) => `${label} ${Math.random().toString(36).slice(2)}`;

  it('create --name, pause, resume-by-name, list --name: the transcript of a runner that reconnects', async () => {
    const name = unique('ssh-import');
    const created = await cli(['create', '--name', name]);
    const id = /^session {2}([0-9a-f]{32})$/m.exec(created.stdout)![1]!;
    const paused = await cli(['pause', id]);

    const resumed = await cli(['resume-by-name', name]);
    const again = await cli(['resume-by-name', name, '--json']);
    const listed = await cli(['list', '--name', name]);

    // A second process reconnecting under the same holder name does not take the live lease of the first (409 lease_held).
    expect([created.code, paused.code, resumed.code, again.code, listed.code]).toEqual([0, 0, 0, 4, 0]);
    expect(paused.stdout).toContain('status   paused\n');
    expect(resumed.stderr).toBe(`resumed paused session ${id}
`);
    expect(resumed.stdout).toMatch(
      new RegExp(`^session  ${id}
name     ${name}
status   active
`),
    );
    expect(`${again.stdout}${again.stderr}`).toContain('held by');
    expect(listed.stdout.split('\n')[1]).toMatch(new RegExp(`^${id}  active  +0  .* UTC  ${name}$`));
    expect(listed.stdout.split('\n')).toHaveLength(3);
  });

  it('resume-by-name picks the newest session of the name that is paused or active', async () => {
    const name = unique('fleet');
    const oldest = JSON.parse((await cli(['create', '--name', name, '--json'])).stdout).session.id as string;
    await cli(['pause', oldest]);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const middle = JSON.parse((await cli(['create', '--name', name, '--json'])).stdout).session.id as string;
    await cli(['pause', middle]);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const newest = JSON.parse((await cli(['create', '--name', name, '--json'])).stdout).session.id as string;
    await cli(['complete', newest]);

    const run = await cli(['resume-by-name', name, '--json']);

    expect(JSON.parse(run.stdout)).toMatchObject({ session: { id: middle, status: 'active' }, was_paused: true });
    expect(JSON.parse((await cli(['get', oldest, '--json'])).stdout).session.status).toBe('paused');
  });

  it('resume-by-name exits 3 and says what to do when nothing of that name can be resumed', async () => {
    const name = unique("o'done");
    const id = JSON.parse((await cli(['create', '--name', name, '--json'])).stdout).session.id as string;
    await cli(['terminate', id]);

    const run = await cli(['resume-by-name', name]);
    const json = await cli(['resume-by-name', name, '--json']);

    const quoted = `'${name.replace("'", "'\\''")}'`;
    expect(run.code).toBe(ExitCode.NotFound);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `runner-sessions: no paused or active session named ${quoted} at ${api.url}. 'runner-sessions list --name ${quoted}' shows every session of that name; 'runner-sessions create --name ${quoted}' opens a new one.\n`,
    );
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'no_resumable_session' } });
  });

  it('create --idempotency-key twice opens one session and says the second was replayed', async () => {
    const key = unique('boot');
    const first = await cli(['create', '--name', 'keyed', '--idempotency-key', key, '--json']);
    const second = await cli(['create', '--name', 'keyed', '--idempotency-key', key]);
    const misused = await cli(['create', '--name', 'other', '--idempotency-key', key]);

    const { session, replayed } = JSON.parse(first.stdout) as { session: { id: string }; replayed: boolean };
    expect(replayed).toBe(false);
    expect(second.stdout).toContain(`session  ${session.id}\n`);
    expect(second.stdout).toMatch(/\nreplayed yes: an earlier create with this --idempotency-key opened this session\n$/);
    expect(misused.code).toBe(ExitCode.Usage);
    expect(misused.stderr).toContain('headers.idempotency-key: was already used for a different request');
  });

  it('list --name pages with the name in the hint for the next page', async () => {
    const name = unique('paged name');
    for (let i = 0; i < 3; i++) await cli(['create', '--name', name]);

    const run = await cli(['list', '--name', name, '--limit', '2']);

    expect(run.stderr).toMatch(
      new RegExp(`^more: runner-sessions list --name '${name}' --limit 2 --cursor [A-Za-z0-9_-]+ {3}\\(or --all\\)\n$`),
    );
  });

  it.each([
    [['resume-by-name'], 'resume-by-name takes NAME'],
    [['resume-by-name', ''], 'NAME must be 1-256 characters'],
    [['list', '--name', 'a\tb'], '--name must be 1-256 characters'],
    [['create', '--idempotency-key', 'clé'], '--idempotency-key must be 1-255 printable ASCII characters'],
    [['create', '--idempotency-key', 'k'.repeat(256)], '--idempotency-key must be 1-255 printable ASCII characters'],
  ])('%j is a usage error', async (args, message) => {
    const run = await cli(args);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain(message);
  });
});

describe('API errors: exit code and what to do next', () => {
  const UNKNOWN = 'fffffffffffffaaaaaaaaaaaaaaaaaaa';

  it('not found → 3', async () => {
    const run = await cli(['get', UNKNOWN]);

    expect(run.code).toBe(ExitCode.NotFound);
    expect(run.stderr).toBe(
      `runner-sessions: no session ${UNKNOWN} at ${api.url}. Check the ID and the URL (--url or RUNNER_SESSIONS_URL); 'runner-sessions list' shows the sessions there.\n`,
    );
  });

  it('a job for a paused session → 4, and how to resume it', async () => {
    const id = await createdId();
    await cli(['pause', id]);

    const run = await cli(['add-job', id, 'job-1']);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toBe(
      `runner-sessions: session ${id} is paused; resume it with 'runner-sessions resume ${id}' before adding jobs.\n`,
    );
  });

  it('a job for a completed session → 4, and to open a new one', async () => {
    const id = await createdId();
    await cli(['complete', id]);

    const run = await cli(['add-job', id, 'job-1']);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain(`session ${id} is completed and takes no more jobs; open a new one with 'runner-sessions create'`);
  });

  it('a full session → 4, and to continue in a new one', async () => {
    const id = await createdId();
    for (let i = 0; i < TEST_MAX_JOBS; i++) await cli(['add-job', id, `job-${i}`]);

    const run = await cli(['add-job', id, 'one-more']);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain(`already holds the maximum of ${TEST_MAX_JOBS} jobs; complete it ('runner-sessions complete ${id}')`);
  });

  it('resuming a completed session → 4, final states explained', async () => {
    const id = await createdId();
    await cli(['complete', id]);

    const run = await cli(['resume', id]);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain(`session ${id} is completed and cannot become active: completed and terminated are final`);
  });

  it('a stale --if-match → 4, and how to get the current etag', async () => {
    const id = await createdId();
    const { etag } = JSON.parse((await cli(['get', id, '--json'])).stdout) as { etag: string };
    await cli(['add-job', id, 'job-1']);

    const run = await cli(['pause', id, '--if-match', etag]);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain(`session ${id} has changed since version ${etag}; read the current etag with 'runner-sessions get ${id}'`);
  });

  it('a request the API refuses as invalid → 2', async () => {
    const run = await cli(['add-job', 'fffe6a1c2b3d4e5f60718293a4b5c6d7', 'job', '--if-match', 'two, tags']);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toMatch(/the API refused the request: headers\.if-match/);
  });

  it('--json errors are one JSON document on stderr', async () => {
    const run = await cli(['get', UNKNOWN, '--json']);

    expect(run.code).toBe(ExitCode.NotFound);
    expect(run.stdout).toBe('');
    expect(JSON.parse(run.stderr)).toEqual({
      error: {
        code: 'session_not_found',
        message: expect.stringContaining(`no session ${UNKNOWN}`),
        status: 404,
        details: { id: UNKNOWN },
        request_id: expect.any(String),
      },
    });
  });
});

describe('failures the API cannot be made to produce on demand', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function against(answer: ScriptedAnswer, args: string[]): Promise<Run> {
    server = await startScriptedServer(() => answer);
    return cli(args, { url: server.url });
  }

  const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

  it.each<[string, ScriptedAnswer, RegExp]>([
    [
      '503 storage_unavailable',
      { status: 503, headers: { 'retry-after': '0', 'apigw-requestid': 'r-9' }, body: errorBody('storage_unavailable', 'x') },
      /storage is unavailable \(tried 3 times\) \(request id r-9\); try again/,
    ],
    [
      '503 conflict_retry',
      { status: 503, headers: { 'retry-after': '0' }, body: errorBody('conflict_retry', 'x', { id: ID }) },
      /is being changed by many writers at once \(tried 3 times\)/,
    ],
    [
      '500 internal_error',
      { status: 500, body: errorBody('internal_error', 'internal error', { request_id: 'req-42' }) },
      /the service failed \(request id req-42\); try again, and report the request id/,
    ],
    ['429 throttled', { status: 429, body: { message: 'Too Many Requests' } }, /throttling requests \(tried 3 times\)/],
    ['502 from a proxy', { status: 502, body: '<html>bad gateway</html>' }, /unexpected answer from .*: HTTP 502/],
  ])('%s → 5', async (_what, answer, message) => {
    const run = await against(answer, ['get', ID]);

    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toMatch(message);
  });

  it('an unreachable API → 5, and how to point at it', async () => {
    const closed = await startScriptedServer(() => ({ status: 200 }));
    await closed.close();

    const run = await cli(['get', ID], { url: closed.url });

    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toBe(
      `runner-sessions: cannot reach the API at ${closed.url} (ECONNREFUSED) after 3 attempts. Is it running ('npm start' serves it locally)? Set its URL with --url or RUNNER_SESSIONS_URL.\n`,
    );
  });

  it('create is retried with one Idempotency-Key, and says how to find the session when every answer was lost', async () => {
    const run = await against('drop', ['create', '--name', 'lost', '--idempotency-key', 'boot-42']);

    expect(run.code).toBe(ExitCode.Unavailable);
    expect(server!.requests.map((request) => request.headers['idempotency-key'])).toEqual(['boot-42', 'boot-42', 'boot-42']);
    expect(run.stderr).toContain(
      "a session may have been opened: find it with 'runner-sessions list --name NAME', or run create again with the same --idempotency-key to get it.",
    );
  });

  it('an answer that is not a session → 1', async () => {
    const run = await against({ status: 200, body: { hello: 'world' } }, ['get', ID]);

    expect(run.code).toBe(ExitCode.Failure);
    expect(run.stderr).toMatch(/unexpected answer from .*the body is not a session/);
  });

  it('415 → 2', async () => {
    const run = await against({ status: 415, body: errorBody('unsupported_media_type', 'must be json') }, ['create']);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain("refused the request's content type");
  });

  it('--url wins over RUNNER_SESSIONS_URL', async () => {
    server = await startScriptedServer(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['get', ID, '--url', server.url], { url: 'http://127.0.0.1:9' });

    expect(run.code).toBe(0);
    expect(server.requests).toHaveLength(1);
  });

  describe('with AWS credentials in the environment', () => {
    const secret = 'cli-secret-key-EXAMPLE';
    const token = 'cli-session-token-EXAMPLE';
    beforeEach(() => {
      vi.stubEnv('AWS_PROFILE', undefined);
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDCLIEXAMPLE');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', secret);
      vi.stubEnv('AWS_SESSION_TOKEN', token);
    });
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('access denied → 1, and what to check', async () => {
      const run = await against({ status: 403, body: { message: 'Forbidden' } }, ['get', ID, '--sign', '--region', 'eu-west-1']);

      expect(run.code).toBe(ExitCode.Failure);
      expect(run.stderr).toContain('the API refused the request (HTTP 403: Forbidden). Check the AWS credentials');
      expect(server!.requests[0]!.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDCLIEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, /,
      );
    });

    it.each<[string, string[], (request: { headers: Record<string, unknown> }) => ScriptedAnswer]>([
      [
        'a 403 that quotes the token and signature',
        [],
        (request) => ({
          status: 403,
          body: {
            message: `mismatch: x-amz-security-token:${token} ${secret} Signature=${/Signature=(\w+)/.exec(String(request.headers.authorization))?.[1]}`,
          },
        }),
      ],
      [
        'the same, with --json',
        ['--json'],
        (request) => ({
          status: 403,
          body: {
            message: `mismatch: x-amz-security-token:${token} ${secret} Signature=${/Signature=(\w+)/.exec(String(request.headers.authorization))?.[1]}`,
          },
        }),
      ],
      ['a 500', [], () => ({ status: 500, body: errorBody('internal_error', 'internal error') })],
      ['a dropped connection', [], () => 'drop'],
    ])('never prints the credentials or the signature: %s', async (_what, extra, answer) => {
      server = await startScriptedServer((request) => answer(request));

      const run = await cli(['add-job', ID, 'job-1', '--sign', '--region', 'eu-west-1', ...extra], { url: server.url });

      const printed = run.stdout + run.stderr;
      const signatures = server.requests.map((request) => /Signature=(\w+)/.exec(String(request.headers.authorization))![1]!);
      expect(run.code).not.toBe(ExitCode.Ok);
      expect(run.stderr).not.toBe('');
      expect(printed).not.toContain(secret);
      expect(printed).not.toContain(token);
      for (const signature of signatures) expect(printed).not.toContain(signature);
    });
  });
});

describe('the executable', () => {
  it('bin/runner-sessions.ts runs main with the process arguments and exit code', async () => {
    const run = await promisify(execFile)(process.execPath, ['bin/runner-sessions.ts', 'get', 'nope'], {
      env: { ...process.env, RUNNER_SESSIONS_URL: api.url },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);

    expect(run).toMatchObject({ code: ExitCode.Usage, stdout: '' });
    expect(run.stderr).toContain("'nope' is not a session ID");
  });
});
