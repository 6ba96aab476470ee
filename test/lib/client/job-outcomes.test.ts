import { describe, expect, it } from 'vitest';
import { ExitCode } from '#lib/client/cli/main.ts';
import { jobCountsOf } from '#lib/client/client.ts';
import { JobFinishedError } from '#lib/client/errors.ts';
import { errorBody, useScriptedServer, wireSession } from './scripted-server.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const COUNTS = { total: 3, running: 1, succeeded: 1, failed: 1, cancelled: 0 };
const FAILED = { state: 'failed', exit_code: 2, signal: null, started_at: 1763942400, finished_at: 1763942460 };
const { start, clientFor, received, sent, cli } = useScriptedServer();

describe('the client records how a job ends', () => {
  it('appendJob sends state, exit_code and signal with Prefer: return=minimal, and answers the job counts', async () => {
    const summary = { id: ID, status: 'active', job_count: 3, job_counts: COUNTS, updated_at: 1763942460, lease: null };
    const client = await clientFor(() => ({ status: 200, headers: { etag: '"v2"' }, body: summary }));

    const answer = await client.appendJob(ID, 'build-42', { state: 'failed', exitCode: 2, signal: 'SIGKILL', leaseEpoch: 3 });

    expect(sent(0)).toMatchObject({ method: 'POST', url: `/sessions/${ID}/jobs` });
    expect(JSON.parse(sent(0).body)).toEqual({ job_id: 'build-42', state: 'failed', exit_code: 2, signal: 'SIGKILL' });
    expect(sent(0).headers).toMatchObject({ prefer: 'return=minimal', 'lease-epoch': '3' });
    expect(answer).toEqual({ summary, jobCounts: COUNTS, etag: '"v2"' });
  });

  it('a bare append sends only the job ID, as before', async () => {
    const client = await clientFor(() => ({ status: 200, body: { id: ID, status: 'active', job_count: 1, updated_at: 1, lease: null } }));

    const { jobCounts } = await client.appendJob(ID, 'build-42');

    expect(JSON.parse(sent(0).body)).toEqual({ job_id: 'build-42' });
    expect(jobCounts).toBeUndefined();
  });

  it('addJob answers the whole session with its jobs and counts, typed', async () => {
    const client = await clientFor(() => ({
      status: 200,
      body: wireSession({
        job_ids: ['a', 'b', 'build-42'],
        jobs: { 'build-42': FAILED, a: { ...FAILED, state: 'running', exit_code: null, finished_at: null } },
        job_counts: COUNTS,
      }),
    }));

    const { session } = await client.addJob(ID, 'build-42', { state: 'running' });

    expect(JSON.parse(sent(0).body)).toEqual({ job_id: 'build-42', state: 'running' });
    expect(sent(0).headers.prefer).toBeUndefined();
    expect(session.jobs?.['build-42']).toEqual(FAILED);
    expect(session.job_counts).toEqual(COUNTS);
  });

  it('jobCountsOf counts the jobs of a session from a service that does not send counts', () => {
    const session = wireSession({ job_ids: ['a', 'b', 'c'], jobs: { b: FAILED } }) as Parameters<typeof jobCountsOf>[0];

    expect(jobCountsOf(session)).toEqual({ total: 3, running: 0, succeeded: 0, failed: 1, cancelled: 0 });
    expect(jobCountsOf({ ...session, job_counts: COUNTS })).toEqual(COUNTS);
  });

  it('409 job_finished is a JobFinishedError with the recorded outcome, not retried', async () => {
    const client = await clientFor(() => ({
      status: 409,
      body: errorBody('job_finished', 'job build-42 already failed', { id: ID, job_id: 'build-42', recorded: FAILED }),
    }));

    const error = await client.appendJob(ID, 'build-42', { state: 'succeeded' }).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(JobFinishedError);
    expect(error).toMatchObject({ code: 'job_finished', status: 409, jobId: 'build-42', recorded: FAILED });
    expect(received()).toHaveLength(1);
  });

  it('an answer whose outcome is not a valid one is unexpected_response', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession({ jobs: { 'job-123': { state: 'exploded' } } }) }));

    await expect(client.getSession(ID)).rejects.toMatchObject({ code: 'unexpected_response' });
  });
});

describe('runner-sessions add-job with an outcome, and get', () => {
  it('add-job --state failed --exit-code 2 sends them; get shows the counts and the failed jobs', async () => {
    await start(() => ({
      status: 200,
      body: wireSession({
        job_ids: ['a', 'build-42', 'build-43'],
        jobs: {
          a: { ...FAILED, state: 'succeeded', exit_code: 0 },
          'build-42': FAILED,
          'build-43': { ...FAILED, exit_code: null, signal: 'SIGKILL' },
        },
        job_counts: { total: 3, running: 0, succeeded: 1, failed: 2, cancelled: 0 },
      }),
    }));

    const added = await cli(['add-job', ID, 'build-42', '--state', 'failed', '--exit-code', '2']);
    const shown = await cli(['get', ID]);

    expect(added.code).toBe(ExitCode.Ok);
    expect(JSON.parse(sent(0).body)).toEqual({ job_id: 'build-42', state: 'failed', exit_code: 2 });
    expect(shown.stdout).toContain('outcomes 0 running, 1 succeeded, 2 failed, 0 cancelled\n');
    expect(shown.stdout).toContain('failed   build-42 (exit 2), build-43 (SIGKILL)\n');
  });

  it('get --json keeps the shape: {session, etag}, the session as the API sent it', async () => {
    const body = wireSession({ jobs: { 'job-123': FAILED }, job_counts: { ...COUNTS, total: 1, running: 0, succeeded: 0 } });
    await start(() => ({ status: 200, headers: { etag: '"v1"' }, body }));

    const run = await cli(['get', ID, '--json']);

    expect(JSON.parse(run.stdout)).toEqual({ session: body, etag: '"v1"' });
  });

  it('get of a session without outcomes prints no outcome rows', async () => {
    await start(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['get', ID]);

    expect(run.stdout).toContain('jobs     1  (job-123)\n');
    expect(run.stdout).not.toContain('outcomes');
    expect(run.stdout).not.toContain('failed');
  });

  it('add-job --signal SIGTERM --state cancelled, and --state running', async () => {
    const server = await start(() => ({ status: 200, body: wireSession() }));

    await cli(['add-job', ID, 'j', '--state', 'cancelled', '--signal', 'SIGTERM']);
    await cli(['add-job', ID, 'j', '--state', 'running']);

    expect(server.requests.map((request) => JSON.parse(request.body))).toEqual([
      { job_id: 'j', state: 'cancelled', signal: 'SIGTERM' },
      { job_id: 'j', state: 'running' },
    ]);
  });

  it('409 job_finished exits 4 and says how the job ended', async () => {
    await start(() => ({
      status: 409,
      body: errorBody('job_finished', 'finished', { id: ID, job_id: 'build-42', recorded: FAILED }),
    }));

    const run = await cli(['add-job', ID, 'build-42', '--state', 'succeeded']);

    expect(run.code).toBe(ExitCode.Conflict);
    expect(run.stderr).toBe(
      `runner-sessions: job build-42 of session ${ID} already ended: failed (exit 2); an outcome once recorded is kept. Nothing was changed.\n`,
    );
  });

  it.each([
    [['--state', 'done'], "--state must be one of running, succeeded, failed, cancelled; got 'done'"],
    [['--exit-code', '2'], '--exit-code and --signal go with a final --state'],
    [['--state', 'running', '--exit-code', '2'], 'not running'],
    [['--state', 'failed', '--exit-code', '2.5'], "--exit-code must be a 32-bit integer; got '2.5'"],
    [['--state', 'failed', '--exit-code', '2147483648'], '--exit-code must be a 32-bit integer'],
    [['--state', 'failed', '--signal', 'kill'], "--signal must be a signal name such as SIGKILL; got 'kill'"],
  ])('add-job %j is a usage error, and sends nothing', async (options, message) => {
    const server = await start(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['add-job', ID, 'j', ...options]);

    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain(message);
    expect(server.requests).toHaveLength(0);
  });

  it('add-job accepts a negative exit code (Windows uses the whole 32-bit range)', async () => {
    await start(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['add-job', ID, 'j', '--state', 'failed', '--exit-code=-1073741819']);

    expect(run.code).toBe(ExitCode.Ok);
    expect(JSON.parse(sent(0).body)).toEqual({ job_id: 'j', state: 'failed', exit_code: -1073741819 });
  });

  it('add-job --help documents the flags and job_finished', async () => {
    await start(() => ({ status: 200, body: wireSession() }));

    const run = await cli(['add-job', '--help']);

    expect(run.stdout).toContain('Usage: runner-sessions add-job ID JOB [--state S] [--exit-code N] [--signal NAME]');
    expect(run.stdout).toContain('--state S         running, succeeded, failed, cancelled');
    expect(run.stdout).toContain('another one is refused (job_finished, exit 4)');
  });
});
