import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, ExitCode, main } from '#lib/client/cli/main.ts';
import { SessionsClient } from '#lib/client/client.ts';
import { SessionsApiError } from '#lib/client/errors.ts';
import { type RunningApi, startApi } from './local-api.ts';
import { errorBody, type ScriptedServer, startScriptedServer } from './scripted-server.ts';

let api: RunningApi;
let client: SessionsClient;

beforeAll(async () => {
  api = await startApi();
  client = new SessionsClient({ baseUrl: api.url, retry: { maxAttempts: 1 } });
});
afterAll(async () => {
  await api.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], url = api.url): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { RUNNER_SESSIONS_URL: url },
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
  };
  return { code: await main(args, io), stdout, stderr };
}

/** A runner's session on the local server: created, two jobs, paused, resumed. */
async function runnerSession(): Promise<string> {
  const { session } = await client.createSession({ name: 'ssh-import' });
  await client.addJob(session.id, 'job-1');
  await client.addJob(session.id, 'job-2');
  await client.pause(session.id);
  await client.resume(session.id);
  return session.id;
}

async function failure(call: Promise<unknown>): Promise<SessionsApiError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(SessionsApiError);
  return error as SessionsApiError;
}

describe('client.history, client.versions and client.restore, against the local server', () => {
  it('history: a page of versions newest first, each with version_id, at, actor (local) and change', async () => {
    const id = await runnerSession();

    const page = await client.history(id);

    expect(page.versions.map((entry) => [entry.change, entry.actor])).toEqual([
      ['status paused→active', 'local'],
      ['status active→paused', 'local'],
      ['job_added job-2', 'local'],
      ['job_added job-1', 'local'],
      ['created', 'local'],
    ]);
    expect(page.nextCursor).toBeNull();
    expect(page.versions[0]!.session).toEqual((await client.getSession(id)).session);
  });

  it('versions(): every entry across pages of two, newest first', async () => {
    const id = await runnerSession();

    const changes = [];
    for await (const entry of client.versions(id, { pageSize: 2 })) changes.push(entry.change);

    expect(changes).toEqual(['status paused→active', 'status active→paused', 'job_added job-2', 'job_added job-1', 'created']);
  });

  it('restore: the version’s content, now current, with a new ETag; the history then says restored', async () => {
    const id = await runnerSession();
    const { versions } = await client.history(id);
    const oneJob = versions[3]!.version_id;
    const before = await client.getSession(id);

    const restored = await client.restore(id, oneJob, { ifMatch: before.etag });

    expect(restored.session).toMatchObject({ job_ids: ['job-1'], status: 'active', updated_by: 'local', restored_from: oneJob });
    expect(restored.etag).not.toBe(before.etag);
    expect((await client.history(id, { limit: 1 })).versions[0]!.change).toBe(`restored ${oneJob}`);
  });

  it('restore with a stale If-Match: 412 precondition_failed', async () => {
    const id = await runnerSession();
    const { versions } = await client.history(id);
    const stale = (await client.getSession(id)).etag;
    await client.addJob(id, 'job-3');

    const error = await failure(client.restore(id, versions[4]!.version_id, { ifMatch: stale }));

    expect(error).toMatchObject({ code: 'precondition_failed', status: 412 });
  });

  it.each<[string, (id: string) => Promise<unknown>, string, number]>([
    ['a version the session does not have', (id) => client.restore(id, 'no-such-version'), 'invalid_request', 400],
    ['a history limit out of range', (id) => client.history(id, { limit: 0 }), 'invalid_request', 400],
    ['a history cursor this API did not issue', (id) => client.history(id, { cursor: 'bm90LWEtY3Vyc29y' }), 'invalid_request', 400],
    ['the history of a session that does not exist', () => client.history('fffffffffffffaaaaaaaaaaaaaaaaaaa'), 'session_not_found', 404],
  ])('%s: %s', async (_, call, code, status) => {
    const id = await runnerSession();

    const error = await failure(call(id));

    expect(error).toMatchObject({ code, status });
  });
});

describe('runner-sessions history and restore, against the local server', () => {
  it('history prints a table of version, time, who and change, newest first', async () => {
    const id = await runnerSession();

    const run = await cli(['history', id]);

    expect(run.code).toBe(ExitCode.Ok);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION +AT +BY +CHANGE$/);
    expect(lines.slice(1).map((line) => line.replace(/^\S+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +/, ''))).toEqual([
      'local  status paused→active',
      'local  status active→paused',
      'local  job_added job-2',
      'local  job_added job-1',
      'local  created',
    ]);
    expect(run.stderr).toBe('');
  });

  it('history --limit shows one page and the command for the next; --all every version; --json the API’s document', async () => {
    const id = await runnerSession();

    const page = await cli(['history', id, '--limit', '2']);
    const all = await cli(['history', id, '--all', '--limit', '2']);
    const json = await cli(['history', id, '--json', '--all']);

    expect(page.stdout.trimEnd().split('\n')).toHaveLength(1 + 2);
    expect(page.stderr).toMatch(new RegExp(`^more: runner-sessions history ${id} --limit 2 --cursor \\S+   \\(or --all\\)\\n$`));
    expect(all.stdout.trimEnd().split('\n')).toHaveLength(6);
    const document = JSON.parse(json.stdout) as { versions: Array<{ change: string }>; next_cursor: null };
    expect(document.versions.map((entry) => entry.change)).toEqual([
      'status paused→active',
      'status active→paused',
      'job_added job-2',
      'job_added job-1',
      'created',
    ]);
    expect(document.next_cursor).toBeNull();
  });

  it('restore ID VERSION prints the restored session; its history then shows the restore', async () => {
    const id = await runnerSession();
    const { versions } = await client.history(id);
    const created = versions[4]!.version_id;

    const run = await cli(['restore', id, created]);
    const history = await cli(['history', id, '--limit', '1']);

    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stdout).toMatch(/^session +\S+\n.*\nstatus +active\njobs +0\n/s);
    expect(run.stdout).toContain(`restored from version ${created}\n`);
    expect(history.stdout).toContain(`restored ${created}\n`);
  });

  it('restore --if-match with a stale ETag exits 4 and says how to get the current one', async () => {
    const id = await runnerSession();
    const { versions } = await client.history(id);

    const run = await cli(['restore', id, versions[1]!.version_id, '--if-match', '"0123456789abcdef0123456789abcdef"']);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toContain(`read the current etag with 'runner-sessions get ${id}'`);
  });

  it.each([
    [['restore', 'fffffffffffffaaaaaaaaaaaaaaaaaaa'], 'restore takes ID VERSION'],
    [['restore', 'fffffffffffffaaaaaaaaaaaaaaaaaaa', 'has space'], 'VERSION must be a version id'],
    [['history', 'not-an-id'], "'not-an-id' is not a session ID"],
    [['history', 'fffffffffffffaaaaaaaaaaaaaaaaaaa', '--limit', '0'], '--limit must be an integer from 1 to 100'],
  ])('%j is a usage error: exit 2', async (args, message) => {
    const run = await cli(args);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain(message);
  });

  it('restore of a version the session does not have exits 2 with the API’s reason', async () => {
    const id = await runnerSession();

    const run = await cli(['restore', id, 'no-such-version']);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toBe(
      `runner-sessions: the API refused the request: body.version_id: is not a version of session ${id}. See 'runner-sessions restore --help'.\n`,
    );
  });

  it('history and restore --help describe the commands', async () => {
    const history = await cli(['history', '--help']);
    const restore = await cli(['restore', '--help']);

    expect(history.stdout).toMatch(/^Usage: runner-sessions history ID /);
    expect(restore.stdout).toMatch(/^Usage: runner-sessions restore ID VERSION /);
    expect((await cli(['--help'])).stdout).toMatch(/ {2}history ID .*\n {2}restore ID VERSION/s);
  });
});

describe('on a service whose storage keeps no versions', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('history exits 4 and passes on the service’s explanation', async () => {
    const message = 'the session store does not keep versions; history and restore need a versioned bucket';
    server = await startScriptedServer(() => ({ status: 409, body: errorBody('versioning_disabled', message) }));

    const run = await cli(['history', 'fffe6a1c2b3d4e5f60718293a4b5c6d7'], server.url);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toBe(`runner-sessions: ${message}.\n`);
    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      'GET /sessions/fffe6a1c2b3d4e5f60718293a4b5c6d7/history',
    ]);
  });
});
