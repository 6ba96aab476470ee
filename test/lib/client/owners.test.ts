import { describe, expect, it } from 'vitest';
import { ExitCode, main } from '#lib/client/cli/main.ts';
import { SessionsClient } from '#lib/client/client.ts';
import { LeaseHeldError, LeaseLoss, LeaseLostError, SessionsApiError } from '#lib/client/errors.ts';
import { holdLease } from '#lib/client/held-lease.ts';
import { type CliRun, errorBody, type ScriptedAnswer, useScriptedServer, wireSession } from './scripted-server.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const VERSION = '3HL1nTt.wjWS7W0tG7x_dYkBZTrTTTTT';
const OWNER = 'arn:aws:iam::123456789012:role/runner';
const LEASE = { holder: 'build-7:4711', epoch: 4, seconds: 60, expires_at: 1763942520 };
const { start, clientFor, received, sent, cli } = useScriptedServer();

const forbidden = (): ScriptedAnswer => ({
  status: 403,
  body: errorBody('forbidden', `session ${ID} is not yours to change`, { id: ID }),
});

describe('owners in the client', () => {
  it('adoptSession POSTs the owner to /sessions/{id}/owner and answers the session', async () => {
    const client = await clientFor(() => ({ status: 200, headers: { etag: '"v3"' }, body: wireSession({ owner: OWNER }) }));

    const { session, etag } = await client.adoptSession(ID, OWNER, { ifMatch: '"v2"' });

    expect(sent(0)).toMatchObject({ method: 'POST', url: `/sessions/${ID}/owner` });
    expect(JSON.parse(sent(0).body)).toEqual({ owner: OWNER });
    expect(sent(0).headers['if-match']).toBe('"v2"');
    expect([session.owner, etag]).toEqual([OWNER, '"v3"']);
  });

  it('listSessions({ owner: "me" }) and sessions({ owner: "me" }) send owner=me', async () => {
    const client = await clientFor(() => ({ status: 200, body: { sessions: [wireSession({ owner: OWNER })], next_cursor: null } }));

    const page = await client.listSessions({ owner: 'me', limit: 5 });
    const all = [];
    for await (const session of client.sessions({ owner: 'me' })) all.push(session);

    expect(sent(0).url).toBe('/sessions?limit=5&owner=me');
    expect(sent(1).url).toBe('/sessions?owner=me');
    expect(page.sessions[0]!.owner).toBe(OWNER);
    expect(all).toHaveLength(1);
  });

  it('a 403 forbidden with the contract body keeps its code (not access_denied) and is not retried', async () => {
    const client = await clientFor(forbidden);

    const error = await client.addJob(ID, 'job-1').catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(SessionsApiError);
    expect(error).toMatchObject({ code: 'forbidden', status: 403 });
    expect(received()).toHaveLength(1);
  });
});

describe('restore with force, and the restored lease loss', () => {
  it('restoreSession sends force only when asked', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession({ restored_from: VERSION }) }));

    await client.restoreSession(ID, VERSION, { force: true });
    await client.restoreSession(ID, VERSION);
    await client.restore(ID, VERSION, { ifMatch: '"v1"' });

    expect(received().map((request) => JSON.parse(request.body))).toEqual([
      { version_id: VERSION, force: true },
      { version_id: VERSION },
      { version_id: VERSION },
    ]);
    expect(sent(2).headers['if-match']).toBe('"v1"');
  });

  it('lease_lost with reason restored is a LeaseLostError with that reason', async () => {
    const client = await clientFor(() => ({
      status: 409,
      body: errorBody('lease_lost', 'restored', { id: ID, reason: 'restored', epoch: 4 }),
    }));

    const error = await client.heartbeat(ID, 4).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ reason: 'restored', epoch: 4 });
  });

  it('a held lease ended by a forced restore is lost with reason restored, and says so', async () => {
    const client = await clientFor(() => ({
      status: 409,
      body: errorBody('lease_lost', 'restored', { id: ID, reason: 'restored', epoch: 4 }),
    }));

    const held = await holdLease(client, ID, { lease: { ...LEASE, expires_at: Math.floor(Date.now() / 1000) + 60 }, seconds: 6 });
    const loss = await new Promise<LeaseLoss>((resolve) => held.signal.addEventListener('abort', () => resolve(held.signal.reason)));

    expect(loss).toBeInstanceOf(LeaseLoss);
    expect(loss.reason).toBe('restored');
    expect(loss.message).toBe(`lease on session ${ID} lost: ended by an operator's restore`);
  });

  it('restore --force sends force; without it a live lease is lease_held, exit 4, and the message says --force', async () => {
    const server = await start((request) =>
      JSON.parse(request.body).force === true
        ? { status: 200, body: wireSession({ restored_from: VERSION }) }
        : { status: 409, body: errorBody('lease_held', 'held', { id: ID, holder: 'build-7:4711', expires_at: 1763942520 }) },
    );

    const refused = await cli(['restore', ID, VERSION]);
    const forced = await cli(['restore', ID, VERSION, '--force']);

    expect(refused.code).toBe(ExitCode.Conflict);
    expect(refused.stderr).toBe(
      `runner-sessions: session ${ID} is held by build-7:4711 until 2025-11-24 00:02:00 UTC; wait for that lease to run out, or run restore again with --force (the holder is then fenced out).\n`,
    );
    expect(forced.code).toBe(ExitCode.Ok);
    expect(forced.stdout).toContain(`restored from version ${VERSION}\n`);
    expect(server.requests.map((request) => JSON.parse(request.body))).toEqual([
      { version_id: VERSION },
      { version_id: VERSION, force: true },
    ]);
  });

  it('restore --help says a live lease needs --force and that its holder is fenced', async () => {
    await start(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['restore', '--help']);

    expect(run.stdout).toContain('Usage: runner-sessions restore ID VERSION [--force] [--if-match ETAG]');
    expect(run.stdout).toContain('A session whose lease is live is restored only with --force');
    expect(run.stdout).toContain('the holder is fenced');
  });

  it('a change whose lease an operator restored away exits 75 and says so', async () => {
    await start(() => ({
      status: 409,
      body: errorBody('lease_lost', 'restored', { id: ID, reason: 'restored', epoch: 4 }),
    }));

    const run = await cli(['add-job', ID, 'job-1', '--epoch', '4']);

    expect(run.code).toBe(ExitCode.LeaseLost);
    expect(run.stderr).toContain(`the lease on session ${ID} is lost: ended by an operator's restore.`);
  });

  it('the client keeps LeaseHeldError for a restore refused by a live lease', async () => {
    const client = await clientFor(() => ({ status: 409, body: errorBody('lease_held', 'held', { id: ID, holder: 'h', expires_at: 1 }) }));

    await expect(client.restoreSession(ID, VERSION)).rejects.toBeInstanceOf(LeaseHeldError);
  });
});

describe('owners in the CLI', () => {
  it.each([
    [['add-job', ID, 'job-1']],
    [['pause', ID]],
    [['terminate', ID]],
    [['acquire', ID, '--force']],
    [['heartbeat', ID, '--epoch', '2']],
    [['restore', ID, VERSION]],
  ])('%j answered 403 forbidden: "you do not own session ID; ask an operator", exit 6', async (args) => {
    await start(forbidden);

    const run = await cli(args);

    expect(run.code).toBe(ExitCode.Forbidden);
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(
      `runner-sessions: you do not own session ${ID}; ask an operator (only its owner and operators may change it).\n`,
    );
  });

  it('forbidden names the session from the command line when the details do not', async () => {
    await start(() => ({ status: 403, body: errorBody('forbidden', 'not yours') }));

    const run = await cli(['complete', ID]);

    expect(run.stderr).toContain(`you do not own session ${ID}; ask an operator`);
  });

  it('--json: the failure as JSON with code forbidden, exit 6', async () => {
    await start(forbidden);

    const run = await cli(['add-job', ID, 'job-1', '--json']);

    expect(run.code).toBe(6);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'forbidden', status: 403, details: { id: ID } } });
  });

  it("a gateway's own 403 (no contract body) is still access denied, exit 1", async () => {
    await start(() => ({ status: 403, body: { message: 'User is not authorized' } }));

    const run = await cli(['get', ID]);

    expect(run.code).toBe(ExitCode.Failure);
    expect(run.stderr).toContain('Check the AWS credentials');
  });

  it('adopt ID OWNER posts the owner and prints the session with it', async () => {
    await start(() => ({ status: 200, body: wireSession({ owner: OWNER }) }));

    const run = await cli(['adopt', ID, OWNER]);

    expect(run.code).toBe(ExitCode.Ok);
    expect(sent(0)).toMatchObject({ method: 'POST', url: `/sessions/${ID}/owner` });
    expect(JSON.parse(sent(0).body)).toEqual({ owner: OWNER });
    expect(run.stdout).toContain(`owner    ${OWNER}\n`);
  });

  it('adopt by a runner: only operators may, exit 6', async () => {
    await start(forbidden);

    const run = await cli(['adopt', ID, OWNER]);

    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`runner-sessions: only operators may change who owns session ${ID}; ask an operator.\n`);
  });

  it('adopt --help says it is for operators; the top-level help lists exit code 6', async () => {
    await start(() => ({ status: 200, body: wireSession() }));

    const adopt = await cli(['adopt', '--help']);
    const top = await cli(['--help']);

    expect(adopt.stdout).toContain('Usage: runner-sessions adopt ID OWNER');
    expect(adopt.stdout).toContain('Operators only.');
    expect(top.stdout).toContain('6  forbidden: you do not own the session (and are not an operator); ask an operator\n');
  });

  it('list --mine sends owner=me, and its next-page hint keeps --mine', async () => {
    await start(() => ({ status: 200, body: { sessions: [wireSession()], next_cursor: 'c2' } }));

    const run = await cli(['list', '--mine', '--limit', '1']);

    expect(sent(0).url).toBe('/sessions?limit=1&owner=me');
    expect(run.stderr).toBe('more: runner-sessions list --mine --limit 1 --cursor c2   (or --all)\n');
  });

  it('list --mine --all sends owner=me on every page', async () => {
    const server = await start((_request, count) => ({
      status: 200,
      body: { sessions: [wireSession()], next_cursor: count === 1 ? 'c2' : null },
    }));

    await cli(['list', '--mine', '--all']);

    expect(server.requests.map((request) => request.url)).toEqual(['/sessions?owner=me', '/sessions?cursor=c2&owner=me']);
  });
});

describe("a local server's bearer token", () => {
  it('is sent as Authorization: Bearer, unsigned, and never shown in messages', async () => {
    const server = await start(() => ({ status: 400, body: errorBody('invalid_request', 'bad token runner-a-token-0123456789') }));
    const client = new SessionsClient({ baseUrl: server.url, token: 'runner-a-token-0123456789', retry: { maxAttempts: 1 } });

    const error = await client.getSession(ID).catch((thrown: unknown) => thrown);

    expect(sent(0).headers.authorization).toBe('Bearer runner-a-token-0123456789');
    expect(sent(0).headers['x-amz-date']).toBeUndefined();
    expect((error as Error).message).toBe('bad token [token]');
  });

  it('cannot be combined with signing, nor hold spaces', () => {
    expect(() => new SessionsClient({ baseUrl: 'http://127.0.0.1:9', token: 't', sign: true })).toThrow(/cannot be used together/);
    expect(() => new SessionsClient({ baseUrl: 'http://127.0.0.1:9', token: 'a b' })).toThrow(/printable ASCII/);
  });

  it('the CLI reads it from RUNNER_SESSIONS_TOKEN', async () => {
    const server = await start(() => ({ status: 200, body: wireSession() }));
    const run: CliRun = { code: -1, stdout: '', stderr: '' };

    await main(['get', ID], {
      stdout: { write: (text: string) => (run.stdout += text) },
      stderr: { write: (text: string) => (run.stderr += text) },
      env: { RUNNER_SESSIONS_URL: server.url, RUNNER_SESSIONS_TOKEN: 'operator-token-0123456789' },
    });

    expect(sent(0).headers.authorization).toBe('Bearer operator-token-0123456789');
  });
});
