import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionsClient } from '#lib/client/client.ts';
import { SessionsConfigError } from '#lib/client/errors.ts';
import { isLoopback, regionFromHostname, resolveRegion } from '#lib/client/signing.ts';
import { errorBody, type ScriptedAnswer, type ScriptedServer, startScriptedServer, wireSession } from './scripted-server.ts';
import { type ReferenceScope, referenceAuthorization, sha256Hex } from './sigv4-reference.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

/** The example credentials of AWS's SigV4 test suite. */
const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE-session-token/with+odd=chars';

describe('the reference signer used by these tests', () => {
  const suiteScope: ReferenceScope = { ...EXAMPLE, region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z' };
  const suiteHeaders = { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' };

  // Published in AWS's SigV4 test suite (aws-sig-v4-test-suite): get-vanilla, post-vanilla, get-vanilla-query-order-key-case.
  it.each([
    ['get-vanilla', 'GET', [], '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    ['post-vanilla', 'POST', [], '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'],
    [
      'get-vanilla-query-order-key-case',
      'GET',
      [
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ],
      'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    ],
  ] as [string, string, [string, string][], string][])('reproduces the AWS test vector %s', (_name, method, query, signature) => {
    const authorization = referenceAuthorization({ method, path: '/', query, headers: suiteHeaders, payload: '' }, suiteScope);

    expect(authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    );
  });
});

interface Captured {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch that records the request and answers `answer` without any network. */
function capturingFetch(answer: () => Response): { fetch: typeof fetch; requests: Captured[] } {
  const requests: Captured[] = [];
  return {
    requests,
    fetch: async (input, init) => {
      requests.push({
        url: String(input),
        method: init?.method ?? 'GET',
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        body: typeof init?.body === 'string' ? init.body : '',
      });
      return answer();
    },
  };
}

const sessionResponse = () =>
  new Response(JSON.stringify(wireSession()), { status: 200, headers: { 'content-type': 'application/json', etag: '"v2"' } });

describe('a request signed by the client, against a fixed known answer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2015-08-30T12:36:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('POST /sessions/{id}/jobs with If-Match and temporary credentials', async () => {
    const host = 'abc123defg.execute-api.eu-west-1.amazonaws.com';
    const { fetch, requests } = capturingFetch(sessionResponse);
    const client = new SessionsClient({ baseUrl: `https://${host}`, credentials: { ...EXAMPLE, sessionToken: SESSION_TOKEN }, fetch });

    await client.addJob(ID, 'job-1', { ifMatch: '"v1"' });

    const payload = '{"job_id":"job-1"}';
    const signedHeaders = {
      accept: 'application/json',
      'content-type': 'application/json',
      host,
      'if-match': '"v1"',
      'x-amz-content-sha256': sha256Hex(payload),
      'x-amz-date': '20150830T123600Z',
      'x-amz-security-token': SESSION_TOKEN,
    };
    const expected = referenceAuthorization(
      { method: 'POST', path: `/sessions/${ID}/jobs`, query: [], headers: signedHeaders, payload },
      { ...EXAMPLE, region: 'eu-west-1', service: 'execute-api', amzDate: '20150830T123600Z' },
    );
    const [sent] = requests;
    expect(expected).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/execute-api/aws4_request, ' +
        'SignedHeaders=accept;content-type;host;if-match;x-amz-content-sha256;x-amz-date;x-amz-security-token, ' +
        'Signature=8a123d936d75abdaa9feb61adde655d9cab663e1fc576c3abcc5d9821d105ffd',
    );
    expect(sent!.headers.authorization).toBe(expected);
    expect(sent!.headers).toMatchObject({
      'x-amz-date': '20150830T123600Z',
      'x-amz-security-token': SESSION_TOKEN,
      'x-amz-content-sha256': sha256Hex(payload),
    });
    expect(sent).toMatchObject({ url: `https://${host}/sessions/${ID}/jobs`, method: 'POST', body: payload });
  });

  it('GET /sessions with a query and long-term credentials: no security token', async () => {
    const host = 'abc123defg.execute-api.us-west-2.amazonaws.com';
    const listResponse = () => new Response(JSON.stringify({ sessions: [], next_cursor: null }), { status: 200 });
    const { fetch, requests } = capturingFetch(listResponse);
    const client = new SessionsClient({ baseUrl: `https://${host}`, credentials: EXAMPLE, fetch });

    await client.listSessions({ status: 'paused', limit: 10, cursor: 'eyJhZnRlciI6IngifQ' });

    const expected = referenceAuthorization(
      {
        method: 'GET',
        path: '/sessions',
        query: [
          ['limit', '10'],
          ['cursor', 'eyJhZnRlciI6IngifQ'],
          ['status', 'paused'],
        ],
        headers: { accept: 'application/json', host, 'x-amz-content-sha256': sha256Hex(''), 'x-amz-date': '20150830T123600Z' },
        payload: '',
      },
      { ...EXAMPLE, region: 'us-west-2', service: 'execute-api', amzDate: '20150830T123600Z' },
    );
    expect(requests[0]!.headers.authorization).toBe(expected);
    expect(requests[0]!.headers['x-amz-security-token']).toBeUndefined();
  });
});

describe('signed requests over real HTTP, verified by the receiving server', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    vi.unstubAllEnvs();
  });

  /** A server that answers 200 only when the Authorization header is the one SigV4 gives the request it received. */
  async function verifyingServer(
    answer: ScriptedAnswer,
    credentials: { accessKeyId: string; secretAccessKey: string },
  ): Promise<ScriptedServer> {
    return startScriptedServer((request) => {
      const authorization = String(request.headers.authorization ?? '');
      const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
      const url = new URL(request.url, 'http://unused');
      const amzDate = String(request.headers['x-amz-date'] ?? '');
      const expected = referenceAuthorization(
        {
          method: request.method,
          path: url.pathname,
          query: [...url.searchParams],
          headers: Object.fromEntries(signed.map((name) => [name, String(request.headers[name] ?? '')])),
          payload: request.body,
        },
        { ...credentials, region: 'eu-central-1', service: 'execute-api', amzDate },
      );
      const required = ['host', 'x-amz-date'].every((name) => signed.includes(name));
      return required && authorization === expected ? answer : { status: 403, body: { message: 'Forbidden' } };
    });
  }

  it.each<[string, (client: SessionsClient) => Promise<unknown>, ScriptedAnswer]>([
    ['createSession', (c) => c.createSession({ name: 'signed' }), { status: 201, body: wireSession() }],
    ['getSession', (c) => c.getSession(ID), { status: 200, body: wireSession() }],
    ['addJob with If-Match', (c) => c.addJob(ID, 'job 1/ä', { ifMatch: '"abc"' }), { status: 200, body: wireSession() }],
    ['setStatus', (c) => c.terminate(ID), { status: 200, body: wireSession() }],
    [
      'listSessions',
      (c) => c.listSessions({ limit: 5, status: 'active', cursor: 'abc-_123' }),
      { status: 200, body: { sessions: [], next_cursor: null } },
    ],
  ])('%s', async (_name, call, answer) => {
    server = await verifyingServer(answer, EXAMPLE);
    const client = new SessionsClient({
      baseUrl: server.url,
      sign: true,
      region: 'eu-central-1',
      credentials: EXAMPLE,
      retry: { maxAttempts: 1 },
    });

    await expect(call(client)).resolves.toBeDefined();

    expect(server.requests[0]!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/execute-api\/aws4_request, /,
    );
  });

  it('takes credentials from the standard chain (here, the environment) when none are given', async () => {
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAENVIRONMENT');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'environment-secret-key');
    vi.stubEnv('AWS_SESSION_TOKEN', 'environment-session-token');
    server = await verifyingServer(
      { status: 200, body: wireSession() },
      { accessKeyId: 'AKIAENVIRONMENT', secretAccessKey: 'environment-secret-key' },
    );

    await new SessionsClient({ baseUrl: server.url, sign: true, region: 'eu-central-1' }).getSession(ID);

    expect(server.requests[0]!.headers.authorization).toContain('Credential=AKIAENVIRONMENT/');
    expect(server.requests[0]!.headers['x-amz-security-token']).toBe('environment-session-token');
  });

  it('fails with a SessionsConfigError, before sending anything, when no credentials can be found', async () => {
    server = await startScriptedServer(() => ({ status: 200, body: wireSession() }));
    const noCredentials = async () => {
      throw new Error('Could not load credentials from any providers');
    };
    const client = new SessionsClient({ baseUrl: server.url, sign: true, region: 'eu-central-1', credentials: noCredentials });

    const error = await client.getSession(ID).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SessionsConfigError);
    expect((error as Error).message).toMatch(/no AWS credentials found.*AWS_PROFILE/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('when the client signs', () => {
  it.each(['http://127.0.0.1:3000', 'http://localhost:3000', 'http://127.0.0.2', 'http://[::1]:3000', 'http://runner.localhost'])(
    'not for the local server at %s',
    async (baseUrl) => {
      const { fetch, requests } = capturingFetch(sessionResponse);

      await new SessionsClient({ baseUrl, fetch }).getSession(ID);

      expect(requests[0]!.headers.authorization).toBeUndefined();
      expect(requests[0]!.headers['x-amz-date']).toBeUndefined();
    },
  );

  it('not with sign: false', async () => {
    const { fetch, requests } = capturingFetch(sessionResponse);

    await new SessionsClient({ baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com', sign: false, fetch }).getSession(ID);

    expect(requests[0]!.headers.authorization).toBeUndefined();
  });

  it('by default for any other host', async () => {
    const { fetch, requests } = capturingFetch(sessionResponse);

    await new SessionsClient({ baseUrl: 'https://sessions.example.com', region: 'eu-west-1', credentials: EXAMPLE, fetch }).getSession(ID);

    expect(requests[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });
});

describe('the signing region', () => {
  const apiUrl = new URL('https://abc123.execute-api.ap-southeast-2.amazonaws.com');
  const customDomain = new URL('https://sessions.example.com');

  it.each([
    ['abc123.execute-api.eu-west-1.amazonaws.com', 'eu-west-1'],
    ['abc123.execute-api.cn-north-1.amazonaws.com.cn', 'cn-north-1'],
    ['abc123-vpce-0a1b2c.execute-api.us-gov-west-1.vpce.amazonaws.com', 'us-gov-west-1'],
    ['ABC123.EXECUTE-API.US-EAST-2.AMAZONAWS.COM', 'us-east-2'],
    ['sessions.example.com', undefined],
    ['execute-api.eu-west-1.amazonaws.com.evil.example', undefined],
  ])('is read from the hostname %s → %s', (hostname, region) => {
    expect(regionFromHostname(hostname)).toBe(region);
  });

  it('is the explicit option first', () => {
    expect(resolveRegion(apiUrl, 'eu-north-1', { AWS_REGION: 'us-east-1' })).toBe('eu-north-1');
  });

  it('then the one the execute-api hostname names, over the environment', () => {
    expect(resolveRegion(apiUrl, undefined, { AWS_REGION: 'us-east-1' })).toBe('ap-southeast-2');
  });

  it.each([
    [{ AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'us-east-1' }, 'eu-west-3'],
    [{ AWS_DEFAULT_REGION: 'us-east-1' }, 'us-east-1'],
    [{ AWS_REGION: '', AWS_DEFAULT_REGION: 'sa-east-1' }, 'sa-east-1'],
  ])('then AWS_REGION, then AWS_DEFAULT_REGION for a custom domain: %o', (env, region) => {
    expect(resolveRegion(customDomain, undefined, env)).toBe(region);
  });

  it('is a SessionsConfigError, when the client is made, if nothing gives one', () => {
    expect(() => new SessionsClient({ baseUrl: customDomain, env: {} })).toThrow(SessionsConfigError);
    expect(() => new SessionsClient({ baseUrl: customDomain, env: {} })).toThrow(/pass a region or set AWS_REGION/);
  });

  it('is not needed for the local server', () => {
    expect(() => new SessionsClient({ baseUrl: 'http://127.0.0.1:3000', env: {} })).not.toThrow();
    expect(isLoopback(new URL('http://127.0.0.1:3000'))).toBe(true);
  });
});

describe('secrets stay out of errors', () => {
  const credentials = { ...EXAMPLE, sessionToken: SESSION_TOKEN };
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Everything an error can show: message, stack, every own and hidden property, its causes. */
  function everythingIn(error: unknown): string {
    return [inspect(error, { depth: Infinity, showHidden: true }), JSON.stringify(error), String((error as Error).stack)].join('\n');
  }

  /** What API Gateway answers to a bad signature: the canonical request it expected, token included. */
  function signatureMismatch(request: { headers: Record<string, unknown> }): ScriptedAnswer {
    const signature = /Signature=([0-9a-f]+)/.exec(String(request.headers.authorization))?.[1];
    return {
      status: 403,
      body: {
        message:
          'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.\n\n' +
          `The Canonical String for this request should have been\n'GET\n/sessions\n\nx-amz-security-token:${SESSION_TOKEN}\n'\n\n` +
          `Signature=${signature}`,
      },
    };
  }

  it.each<[string, (request: { headers: Record<string, unknown> }) => ScriptedAnswer]>([
    ['403 signature mismatch quoting the canonical request', signatureMismatch],
    [
      '403 whose first line quotes the token',
      () => ({ status: 403, body: { message: `bad token x-amz-security-token: ${SESSION_TOKEN} with secret ${EXAMPLE.secretAccessKey}` } }),
    ],
    ['500 internal_error', () => ({ status: 500, body: errorBody('internal_error', 'internal error', { request_id: 'r-1' }) })],
    [
      '503 after every retry',
      () => ({ status: 503, headers: { 'retry-after': '0' }, body: errorBody('storage_unavailable', 'retry shortly') }),
    ],
    ['a dropped connection', () => 'drop'],
    ['a body that is not a session', () => ({ status: 200, body: { hello: 'world' } })],
  ])('%s', async (_what, answer) => {
    server = await startScriptedServer((request) => answer(request));
    const client = new SessionsClient({
      baseUrl: server.url,
      sign: true,
      region: 'eu-west-1',
      credentials,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });

    const error = await client.getSession(ID).catch((e: unknown) => e);

    const signatures = server.requests.map((request) => /Signature=([0-9a-f]{64})/.exec(String(request.headers.authorization))![1]!);
    const shown = everythingIn(error);
    expect(error).toBeInstanceOf(Error);
    expect(shown).not.toContain(EXAMPLE.secretAccessKey);
    expect(shown).not.toContain(SESSION_TOKEN);
    for (const signature of signatures) expect(shown).not.toContain(signature);
  });

  it('a credentials provider that fails', async () => {
    const client = new SessionsClient({
      baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com',
      credentials: async () => {
        throw new Error('profile runner: expired');
      },
    });

    const error = await client.getSession(ID).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SessionsConfigError);
    expect(everythingIn(error)).not.toContain(EXAMPLE.secretAccessKey);
  });
});
