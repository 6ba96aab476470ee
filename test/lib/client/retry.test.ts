import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionsClient } from '#lib/client/client.ts';
import { SessionsNetworkError } from '#lib/client/errors.ts';
import { DEFAULT_RETRY, parseRetryAfter, retryDelay } from '#lib/client/retry.ts';
import { errorBody, type ScriptedAnswer, type ScriptedServer, startScriptedServer, wireSession } from './scripted-server.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const FAST = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 20 };
let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const unavailable: ScriptedAnswer = { status: 503, body: errorBody('storage_unavailable', 'retry shortly') };

/** A server that answers `failures` in turn, then `success` for good. */
async function flakyServer(failures: ScriptedAnswer[], success: ScriptedAnswer): Promise<ScriptedServer> {
  server = await startScriptedServer((_request, count) => failures[count - 1] ?? success);
  return server;
}

const listBody = { sessions: [wireSession()], next_cursor: null };

describe('calls that are safe to repeat are retried on 503, then succeed', () => {
  it.each<[string, (client: SessionsClient) => Promise<unknown>, ScriptedAnswer]>([
    ['getSession', (client) => client.getSession(ID), { status: 200, body: wireSession() }],
    ['addJob (idempotent by job ID)', (client) => client.addJob(ID, 'job-1'), { status: 200, body: wireSession() }],
    ['setStatus (idempotent)', (client) => client.pause(ID), { status: 200, body: wireSession({ status: 'paused' }) }],
    ['listSessions', (client) => client.listSessions(), { status: 200, body: listBody }],
  ])('%s: 503 twice then 200 → success on the third request', async (_name, call, success) => {
    const flaky = await flakyServer([unavailable, unavailable], success);
    const client = new SessionsClient({ baseUrl: flaky.url, retry: FAST });

    await expect(call(client)).resolves.toBeDefined();

    expect(flaky.requests).toHaveLength(3);
  });
});

describe('what is retried', () => {
  it('429 (API Gateway throttling)', async () => {
    const flaky = await flakyServer([{ status: 429, body: { message: 'Too Many Requests' } }], { status: 200, body: wireSession() });

    await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).getSession(ID);

    expect(flaky.requests).toHaveLength(2);
  });

  it('503 conflict_retry on add-job', async () => {
    const conflict: ScriptedAnswer = { status: 503, headers: { 'retry-after': '0' }, body: errorBody('conflict_retry', 'busy') };
    const flaky = await flakyServer([conflict], { status: 200, body: wireSession() });

    await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).addJob(ID, 'job-1');

    expect(flaky.requests).toHaveLength(2);
  });

  it('a dropped connection', async () => {
    const flaky = await flakyServer(['drop', 'drop'], { status: 200, body: wireSession() });

    await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).getSession(ID);

    expect(flaky.requests).toHaveLength(3);
  });

  it('sends the same request each time, If-Match included', async () => {
    const flaky = await flakyServer([unavailable], { status: 200, body: wireSession() });

    await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).addJob(ID, 'job-1', { ifMatch: '"v3"' });

    const [first, second] = flaky.requests;
    expect(second).toMatchObject({ method: first!.method, url: first!.url, body: first!.body });
    expect(second!.headers['if-match']).toBe('"v3"');
  });
});

describe('creates are retried with the Idempotency-Key of their first attempt', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it.each<[string, ScriptedAnswer]>([
    ['a 503', unavailable],
    ['a 429', { status: 429, body: { message: 'Too Many Requests' } }],
    ['a dropped connection', 'drop'],
  ])('after %s twice, the third request gets the session; all three carry one random key', async (_what, failure) => {
    const flaky = await flakyServer([failure, failure], { status: 201, body: wireSession() });

    const created = await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).createSession({ name: 'x' });

    const keys = flaky.requests.map((request) => request.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(UUID);
    expect(new Set(keys).size).toBe(1);
    expect(created).toMatchObject({ idempotencyKey: keys[0], replayed: false });
  });

  it('sends the key it is given, and a new random one for every other create', async () => {
    const flaky = await flakyServer([], { status: 201, body: wireSession() });
    const client = new SessionsClient({ baseUrl: flaky.url, retry: FAST });

    await client.createSession({ idempotencyKey: 'runner-7/boot-42' });
    await client.createSession();
    await client.createSession();

    const keys = flaky.requests.map((request) => request.headers['idempotency-key']);
    expect(keys[0]).toBe('runner-7/boot-42');
    expect(keys[1]).toMatch(UUID);
    expect(keys[2]).toMatch(UUID);
    expect(keys[1]).not.toBe(keys[2]);
  });

  it('reports a 200 marked Idempotent-Replayed as replayed', async () => {
    const flaky = await flakyServer([], {
      status: 200,
      headers: { 'idempotent-replayed': 'true', location: `/sessions/${ID}` },
      body: wireSession(),
    });

    const created = await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).createSession({ idempotencyKey: 'k' });

    expect(created).toMatchObject({ replayed: true, location: `/sessions/${ID}`, idempotencyKey: 'k' });
  });

  it('does not retry a 400: the key was used for another request', async () => {
    const flaky = await flakyServer([{ status: 400, body: errorBody('invalid_request', 'headers.idempotency-key: was already used') }], {
      status: 201,
      body: wireSession(),
    });

    const error = await new SessionsClient({ baseUrl: flaky.url, retry: FAST })
      .createSession({ idempotencyKey: 'k' })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'invalid_request', attempts: 1 });
    expect(flaky.requests).toHaveLength(1);
  });
});

describe('what is not retried', () => {
  it.each([
    [500, 'internal_error'],
    [409, 'session_not_active'],
    [412, 'precondition_failed'],
    [400, 'invalid_request'],
  ])('%i %s', async (status, code) => {
    const flaky = await flakyServer([{ status, body: errorBody(code, 'no') }], { status: 200, body: wireSession() });

    const error = await new SessionsClient({ baseUrl: flaky.url, retry: FAST }).addJob(ID, 'job-1').catch((e: unknown) => e);

    expect(error).toMatchObject({ code, attempts: 1 });
    expect(flaky.requests).toHaveLength(1);
  });
});

describe('giving up', () => {
  it('after maxAttempts requests, with the last answer and the count', async () => {
    const flaky = await flakyServer([], unavailable);

    const error = await new SessionsClient({ baseUrl: flaky.url, retry: { ...FAST, maxAttempts: 3 } })
      .getSession(ID)
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'storage_unavailable', status: 503, attempts: 3 });
    expect(flaky.requests).toHaveLength(3);
  });

  it('after maxAttempts network failures, as a SessionsNetworkError with the count', async () => {
    const flaky = await flakyServer([], 'drop');

    const error = await new SessionsClient({ baseUrl: flaky.url, retry: { ...FAST, maxAttempts: 2 } })
      .getSession(ID)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SessionsNetworkError);
    expect(error).toMatchObject({ attempts: 2 });
    expect(flaky.requests).toHaveLength(2);
  });
});

describe('Retry-After', () => {
  it('is waited for, up to maxDelayMs', async () => {
    const busy: ScriptedAnswer = { status: 503, headers: { 'retry-after': '1' }, body: errorBody('conflict_retry', 'busy') };
    const flaky = await flakyServer([busy], { status: 200, body: wireSession() });
    const maxDelayMs = 150;

    await new SessionsClient({ baseUrl: flaky.url, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs } }).getSession(ID);

    const [first, second] = flaky.requests;
    // Without Retry-After the wait would be under baseDelayMs (1 ms); with it, min(1 s, maxDelayMs).
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(maxDelayMs - 5);
  });

  it.each([
    ['delta-seconds', '3', 3],
    ['zero', '0', 0],
    ['an HTTP date 2.5 s ahead', new Date(1_000_000 + 2_500).toUTCString(), 2],
    ['an HTTP date in the past', new Date(1_000_000 - 60_000).toUTCString(), 0],
    ['garbage', 'soon', undefined],
    ['absent', null, undefined],
  ])('parses %s', (_what, header, seconds) => {
    expect(parseRetryAfter(header, 1_000_000)).toBe(seconds);
  });
});

describe('retryDelay', () => {
  it('is full jitter under a ceiling that doubles per attempt and stops at maxDelayMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, random) => {
        const ceiling = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempt - 1));
        const delay = retryDelay(attempt, undefined, DEFAULT_RETRY, () => random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.max(1, ceiling));
      }),
    );
  });

  it('waits at least Retry-After, never more than maxDelayMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 120 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, seconds, random) => {
          const delay = retryDelay(attempt, seconds, DEFAULT_RETRY, () => random);
          expect(delay).toBeGreaterThanOrEqual(Math.min(seconds * 1000, DEFAULT_RETRY.maxDelayMs));
          expect(delay).toBeLessThanOrEqual(DEFAULT_RETRY.maxDelayMs);
        },
      ),
    );
  });
});
