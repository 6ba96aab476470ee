import { afterEach, describe, expect, it } from 'vitest';
import { SessionsClient } from '#lib/client/client.ts';
import {
  JobFinishedError,
  LeaseHeldError,
  LeaseLostError,
  LeaseRequiredError,
  SessionsApiError,
  SessionsConfigError,
  SessionsNetworkError,
} from '#lib/client/errors.ts';
import { ERROR_CODES, ERROR_STATUS } from '#lib/client/schemas.ts';
import { errorBody, type ScriptedAnswer, type ScriptedServer, startScriptedServer, wireSession } from './scripted-server.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientAnswering(answer: ScriptedAnswer, options: { timeoutMs?: number } = {}): Promise<SessionsClient> {
  server = await startScriptedServer(() => answer);
  return new SessionsClient({ baseUrl: server.url, retry: { maxAttempts: 1 }, ...options });
}

async function rejection(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => expect.unreachable('the call should have failed'),
    (error: unknown) => error,
  );
}

/** The codes that have a subclass of their own; every other code is a plain SessionsApiError. */
const ERROR_CLASSES: Partial<Record<string, typeof SessionsApiError>> = {
  lease_held: LeaseHeldError,
  lease_lost: LeaseLostError,
  lease_required: LeaseRequiredError,
  job_finished: JobFinishedError,
};

describe('every code of the contract becomes a SessionsApiError', () => {
  it.each(ERROR_CODES)('%s', async (code) => {
    const errorClass = ERROR_CLASSES[code] ?? SessionsApiError;
    const status = ERROR_STATUS[code];
    const client = await clientAnswering({
      status,
      headers: { 'apigw-requestid': 'req-from-header', ...(status === 503 ? { 'retry-after': '2' } : {}) },
      body: errorBody(code, `the ${code} message`, { id: ID }),
    });

    const error = await rejection(client.getSession(ID));

    expect(error).toBeInstanceOf(SessionsApiError);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject({
      name: errorClass.name,
      code,
      status,
      message: `the ${code} message`,
      details: { id: ID },
      requestId: 'req-from-header',
      retryAfter: status === 503 ? 2 : undefined,
      attempts: 1,
    });
  });
});

describe('the request ID', () => {
  it('comes from details.request_id first (500 internal_error carries it)', async () => {
    const client = await clientAnswering({
      status: 500,
      headers: { 'apigw-requestid': 'gateway-id' },
      body: errorBody('internal_error', 'internal error', { request_id: 'lambda-id' }),
    });

    const error = (await rejection(client.getSession(ID))) as SessionsApiError;

    expect(error.requestId).toBe('lambda-id');
  });

  it('falls back to x-amzn-requestid', async () => {
    const client = await clientAnswering({
      status: 404,
      headers: { 'x-amzn-requestid': 'amzn-id' },
      body: errorBody('session_not_found', 'no session'),
    });

    const error = (await rejection(client.getSession(ID))) as SessionsApiError;

    expect(error.requestId).toBe('amzn-id');
  });
});

describe('answers without a contract error body', () => {
  it.each([
    ['403 from the IAM authorizer', 403, { message: 'Forbidden' }, 'access_denied', 'Forbidden'],
    ['401', 401, { message: 'Unauthorized' }, 'access_denied', 'Unauthorized'],
    ['429 from API Gateway throttling', 429, { message: 'Too Many Requests' }, 'throttled', 'Too Many Requests'],
    ['404 for a route the API does not have', 404, { message: 'Not Found' }, 'unexpected_response', 'Not Found'],
    ['502 with an HTML page', 502, '<html>Bad Gateway</html>', 'unexpected_response', 'HTTP 502 Bad Gateway'],
  ])('%s', async (_what, status, body, code, message) => {
    const client = await clientAnswering({ status, headers: { 'apigw-requestid': 'gw-1' }, body });

    const error = await rejection(client.getSession(ID));

    expect(error).toBeInstanceOf(SessionsApiError);
    expect(error).toMatchObject({ code, status, message, requestId: 'gw-1' });
  });

  it('a 200 whose body is not a session is unexpected_response, naming the field', async () => {
    const client = await clientAnswering({ status: 200, body: wireSession({ status: 'sleeping' }) });

    const error = await rejection(client.getSession(ID));

    expect(error).toMatchObject({ code: 'unexpected_response', status: 200 });
    expect((error as Error).message).toContain('status');
  });

  it('a list whose next_cursor is missing is unexpected_response', async () => {
    const client = await clientAnswering({ status: 200, body: { sessions: [] } });

    const error = await rejection(client.listSessions());

    expect(error).toMatchObject({ code: 'unexpected_response', status: 200 });
  });
});

describe('what the client accepts from the API', () => {
  it('keeps fields it does not know (readers ignore them, writers keep them)', async () => {
    const client = await clientAnswering({ status: 200, headers: { etag: '"v1"' }, body: wireSession({ labels: { team: 'ci' } }) });

    const { session, etag } = await client.getSession(ID);

    expect(session).toMatchObject({ id: ID, labels: { team: 'ci' } });
    expect(etag).toBe('"v1"');
  });

  it('passes an unknown error code through unchanged', async () => {
    const client = await clientAnswering({ status: 409, body: errorBody('session_locked', 'locked by an operator') });

    const error = await rejection(client.getSession(ID));

    expect(error).toMatchObject({ code: 'session_locked', status: 409, message: 'locked by an operator' });
  });
});

describe('no answer at all', () => {
  it('a refused connection is a SessionsNetworkError naming the request and the system error', async () => {
    const closed = await startScriptedServer(() => ({ status: 200 }));
    const url = closed.url;
    await closed.close();
    const client = new SessionsClient({ baseUrl: url, retry: { maxAttempts: 1 } });

    const error = await rejection(client.getSession(ID));

    expect(error).toBeInstanceOf(SessionsNetworkError);
    expect(error).toMatchObject({ request: `GET /sessions/${ID}`, errno: 'ECONNREFUSED', attempts: 1 });
  });

  it('a dropped connection is a SessionsNetworkError', async () => {
    const client = await clientAnswering('drop');

    const error = await rejection(client.getSession(ID));

    expect(error).toBeInstanceOf(SessionsNetworkError);
  });

  it('a request that outlives timeoutMs is a SessionsNetworkError (TimeoutError)', async () => {
    const hangingFetch: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
      });
    const client = new SessionsClient({ baseUrl: 'http://127.0.0.1:9', retry: { maxAttempts: 1 }, timeoutMs: 20, fetch: hangingFetch });

    const error = await rejection(client.getSession(ID));

    expect(error).toMatchObject({ name: 'SessionsNetworkError', errno: 'TimeoutError' });
  });
});

describe('configuration', () => {
  it.each([
    ['a URL that is not http(s)', 'ftp://example.com'],
    ['a URL with a password', 'https://user:secret@abc.execute-api.eu-west-1.amazonaws.com'],
  ])('refuses %s', (_what, baseUrl) => {
    expect(() => new SessionsClient({ baseUrl })).toThrow(SessionsConfigError);
  });

  it('keeps a path prefix (a stage) in front of every route', async () => {
    server = await startScriptedServer(() => ({ status: 200, body: wireSession() }));

    await new SessionsClient({ baseUrl: `${server.url}/prod/` }).getSession(ID);

    expect(server.requests[0]!.url).toBe(`/prod/sessions/${ID}`);
  });

  it('sends the body as JSON and If-Match when asked', async () => {
    server = await startScriptedServer(() => ({ status: 200, body: wireSession() }));

    await new SessionsClient({ baseUrl: server.url }).addJob(ID, 'job-9', { ifMatch: '"v7"' });

    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      url: `/sessions/${ID}/jobs`,
      body: '{"job_id":"job-9"}',
      headers: expect.objectContaining({ 'content-type': 'application/json', 'if-match': '"v7"', accept: 'application/json' }),
    });
  });

  it('sends no If-Match unless asked', async () => {
    server = await startScriptedServer(() => ({ status: 200, body: wireSession() }));

    await new SessionsClient({ baseUrl: server.url }).setStatus(ID, 'paused');

    expect(server.requests[0]!.headers['if-match']).toBeUndefined();
    expect(server.requests[0]).toMatchObject({ method: 'PATCH', body: '{"status":"paused"}' });
  });
});
