import { describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE, SERVICE_NAME } from '#lib/http/telemetry.ts';
import { invoke, request, TEST_CALLER } from '../../helpers/api-event.ts';
import { useFakeS3Service } from '../../helpers/handlers.ts';
import { s3Error } from '../../helpers/s3-fake.ts';
import { seedSession } from '../../helpers/sessions.ts';
import { captureTelemetry } from '../../helpers/telemetry.ts';

const telemetry = captureTelemetry();
const s3 = useFakeS3Service();
const { addJob, createSession, getSession, listSessions, setStatus } = s3;

const preconditionFailed = () => s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');

describe('metrics', () => {
  it('defaults to the RunnerSessions namespace and the runner-sessions service', () => {
    expect(METRICS_NAMESPACE).toBe('RunnerSessions');
    expect(SERVICE_NAME).toBe('runner-sessions');
  });

  it('a change that lost two compare-and-swaps: CasConflicts 2, CasRetries 2, CasRetriesExhausted 0, by service', async () => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('PutObject', preconditionFailed, { times: 2 });

    const response = await invoke(addJob, request.addJob(session.id, { body: { job_id: 'job-1' } }));

    expect(response.statusCode).toBe(200);
    const [blob, ...others] = telemetry.metrics();
    expect(others).toEqual([]);
    expect(blob).toMatchObject({ service: 'runner-sessions', CasConflicts: 2, CasRetries: 2, CasRetriesExhausted: 0 });
    expect(blob!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'RunnerSessions',
        Dimensions: [['service']],
        Metrics: [
          { Name: 'CasConflicts', Unit: 'Count' },
          { Name: 'CasRetries', Unit: 'Count' },
          { Name: 'CasRetriesExhausted', Unit: 'Count' },
        ],
      },
    ]);
  });

  it('a change that ran out of attempts: CasRetriesExhausted 1 by service, and Errors by code conflict_retry', async () => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('PutObject', preconditionFailed, { times: 100 });

    const response = await invoke(setStatus, request.setStatus(session.id, { body: { status: 'paused' } }));

    expect(response.statusCode).toBe(503);
    expect(telemetry.metric('CasRetriesExhausted')).toEqual([expect.objectContaining({ value: 1, dimensions: [['service']] })]);
    expect(telemetry.metric('CasRetries')).toEqual([expect.objectContaining({ value: 7 })]);
    expect(telemetry.metric('Errors')).toEqual([expect.objectContaining({ value: 1, dimensions: [['service', 'code']] })]);
    expect(telemetry.metric('Errors')[0]!.blob.code).toBe('conflict_retry');
  });

  it('a read publishes no metric and no warning about it', async () => {
    const { session } = seedSession(s3.fake);

    await invoke(getSession, request.getSession(session.id));

    expect(telemetry.metrics()).toEqual([]);
    expect(telemetry.logs().filter((line) => line.level !== 'INFO')).toEqual([]);
  });

  it('a refused request counts one error under its code', async () => {
    await invoke(getSession, request.getSession('NOT-AN-ID'));

    expect(telemetry.metric('Errors').map((entry) => entry.blob.code)).toEqual(['invalid_request']);
  });
});

describe('logs', () => {
  it('one line per completed change: route, request and session IDs, actor, outcome and S3 write attempts', async () => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('PutObject', preconditionFailed, { times: 1 });
    const event = request.addJob(session.id, { body: { job_id: 'job-1' } });

    await invoke(addJob, event);

    expect(telemetry.logs()).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'request completed',
        service: 'runner-sessions',
        route: 'POST /sessions/{id}/jobs',
        request_id: event.requestContext.requestId,
        function_request_id: expect.stringMatching(/^lambda-/),
        function_name: 'runner-sessions-test',
        session_id: session.id,
        actor: TEST_CALLER,
        status_code: 200,
        outcome: 'changed',
        s3_write_attempts: 2,
        cas_conflicts: 1,
      }),
    ]);
  });

  it('concurrent requests each log their own request and session IDs', async () => {
    const events = [seedSession(s3.fake), seedSession(s3.fake), seedSession(s3.fake)].map(({ session }) =>
      request.addJob(session.id, { body: { job_id: 'job-1' } }),
    );
    s3.fake.latency = 1;

    await Promise.all(events.map((event) => invoke(addJob, event)));

    const completed = telemetry.logs().filter((line) => line.message === 'request completed');
    expect(completed.map((line) => [line.request_id, line.session_id]).sort()).toEqual(
      events.map((event) => [event.requestContext.requestId, event.pathParameters!.id]).sort(),
    );
  });

  it.each([
    ['a create', 'created', () => invoke(createSession, request.createSession())],
    [
      'a no-op change',
      'unchanged',
      () => invoke(setStatus, request.setStatus(seedSession(s3.fake).session.id, { body: { status: 'active' } })),
    ],
    ['a read', 'ok', () => invoke(getSession, request.getSession(seedSession(s3.fake).session.id))],
    ['a listing', 'ok', () => invoke(listSessions, request.listSessions())],
  ])('the outcome of %s is %s', async (_, outcome, act) => {
    await act();

    expect(telemetry.logs().map((line) => line.outcome)).toEqual([outcome]);
  });

  it('has no actor without an IAM authorizer, and keys do not carry over to the next request', async () => {
    const { session } = seedSession(s3.fake);

    await invoke(getSession, request.getSession(session.id));
    await invoke(listSessions, request.listSessions(undefined, { caller: null }));

    const [read, list] = telemetry.logs();
    expect(read).toMatchObject({ route: 'GET /sessions/{id}', session_id: session.id, actor: TEST_CALLER });
    expect(list).toMatchObject({ route: 'GET /sessions' });
    expect(list).not.toHaveProperty('session_id');
    expect(list).not.toHaveProperty('actor');
  });
});
