import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_ID_MAX_BYTES, LABEL_MAX_BYTES } from '#lib/domain/limits.ts';
import type { HttpEvent } from '#lib/http/event.ts';
import { API_ROUTES } from '#lib/http/route-table.ts';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { type ApiResponse, apiEvent, invoke } from '../helpers/api-event.ts';
import { TEST_BUCKET, testService } from '../helpers/handlers.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';
import {
  anyString,
  garbageCursor,
  invalidSessionId,
  invalidUtf8Body,
  isIssuedCursor,
  queryParameters,
  type RawBody,
  rawHeaderLines,
  requestBody,
  requestHeaders,
  requestTarget,
  wellFormedId,
} from './arbitraries.ts';
import {
  expectContractError,
  expectListAnswer,
  expectSessionAnswer,
  IDEMPOTENCY_KEY,
  isSentLabel,
  STATUSES,
  sessionProblem,
} from './contract.ts';
import { storedVersions, useAuditedS3Fake } from './s3-audit.ts';

captureTelemetry();
const s3 = useAuditedS3Fake(TEST_BUCKET);

/** Every route the API serves (the list the CDK app and the local server are built from), with its handler. */
const { byRouteKey } = testService();
const ROUTES = API_ROUTES.map(({ routeKey }) => ({ routeKey, hasId: routeKey.includes('{id}'), handler: byRouteKey.get(routeKey)! }));
const route = (routeKey: string) => ROUTES.find((candidate) => candidate.routeKey === routeKey)!;

const RUNS_PER_ROUTE = 500;
const ORACLE_RUNS = 200;
const JSON_HEADERS = { 'content-type': 'application/json' };

/** An API Gateway (payload 2.0) event with exactly these parts. */
function eventOf(
  routeKey: string,
  {
    id,
    query,
    headers = {},
    body = { body: undefined, isBase64Encoded: false },
  }: { id?: string | undefined; query?: Record<string, string> | undefined; headers?: Record<string, string>; body?: RawBody },
): HttpEvent {
  const event = apiEvent(routeKey, id === undefined ? {} : { id }, query === undefined ? {} : { query });
  event.headers = { host: 'api.example.test', 'user-agent': 'runner-sessions-fuzz', ...headers };
  if (body.body === undefined) delete event.body;
  else event.body = body.body;
  event.isBase64Encoded = body.isBase64Encoded;
  return event;
}

/** True when a JSON text has, at any depth, a key that invites prototype pollution: `__proto__`, or a `constructor` holding a `prototype`. */
function hasPrototypeKey(text: string): boolean {
  let found = false;
  JSON.parse(text, function (this: unknown, key, value: unknown) {
    if (key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')))
      found = true;
    return value;
  });
  return found;
}

/**
 * True when valid JSON `text` gives a key twice in one object, or nests arrays and objects deeper
 * than 32 levels: JSON.parse would keep the last value, so the service refuses both.
 */
function refusedShape(text: string): boolean {
  let at = 0;
  const space = () => {
    while (' \t\n\r'.includes(text[at] ?? 'x')) at++;
  };
  const string = (): string => {
    const start = at++;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const refused = (depth: number): boolean => {
    space();
    const opening = text[at];
    if (opening === '{' || opening === '[') {
      if (depth >= 32) return true;
      at++;
      space();
      const closing = opening === '{' ? '}' : ']';
      if (text[at] === closing) {
        at++;
        return false;
      }
      const keys = new Set<string>();
      for (;;) {
        if (opening === '{') {
          space();
          const key = string();
          if (keys.has(key)) return true;
          keys.add(key);
          space();
          at++;
        }
        if (refused(depth + 1)) return true;
        space();
        if (text[at++] === closing) return false;
      }
    }
    if (opening === '"') string();
    else while (at < text.length && !',]} \t\n\r'.includes(text[at]!)) at++;
    return false;
  };
  return refused(0);
}

/** The JSON value of a body text, or `invalid` when a JSON API must refuse it. */
function parsedBody(text: string): { value: unknown } | 'invalid' {
  try {
    const value: unknown = JSON.parse(text);
    return hasPrototypeKey(text) || refusedShape(text) ? 'invalid' : { value };
  } catch {
    return 'invalid';
  }
}

/** True when every string in a JSON value, keys included, is well-formed UTF-16 (no lone surrogate). */
function wellFormedThroughout(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormedThroughout);
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).every(([key, item]) => key.isWellFormed() && wellFormedThroughout(item));
  return true;
}

/** Leaves out bodies with a lone surrogate: what they get is the subject of the lone-surrogate test at the end of this file. */
function settled(text: string): boolean {
  const parsed = parsedBody(text);
  return parsed === 'invalid' || wellFormedThroughout(parsed.value);
}

function isPlainObjectWithKeys(value: unknown, allowed: readonly string[], required: readonly string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.every((key) => allowed.includes(key)) && required.every((key) => keys.includes(key));
}

/** Asserts what a route answers when it accepts a request, as the contract shapes it. */
function expectAnswer(routeKey: string, response: ApiResponse): void {
  if (routeKey === 'GET /sessions') {
    expect(response.statusCode).toBe(200);
    expectListAnswer(response, 100);
  } else if (routeKey === 'POST /sessions') {
    // 201, or 200 when it replays an earlier request's Idempotency-Key.
    expect([200, 201]).toContain(response.statusCode);
    expectSessionAnswer(response);
  } else if (routeKey.endsWith('/history')) {
    expect(response.statusCode).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(['next_cursor', 'versions']);
    for (const version of response.body.versions) {
      expect(version).toEqual(expect.objectContaining({ version_id: expect.any(String), session: expect.any(Object) }));
      expect(sessionProblem(version.session)).toBeUndefined();
    }
  } else {
    expect(response.statusCode).toBe(200);
    expectSessionAnswer(response);
  }
}

function expectNoPrototypePollution(): void {
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(probe.job_id).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
}

describe.each(ROUTES)('$routeKey under random and adversarial requests', ({ routeKey, hasId, handler }) => {
  it(`never answers 5xx; every refusal has the contract's shape, code and status, and writes nothing (${RUNS_PER_ROUTE} runs)`, async () => {
    const { fake } = s3;
    const seeded = seedSession(fake, { job_ids: ['job-0'] });
    const id = hasId
      ? fc.oneof(
          { weight: 3, arbitrary: fc.constant(seeded.session.id) },
          { weight: 1, arbitrary: wellFormedId },
          { weight: 3, arbitrary: invalidSessionId(seeded.session.id) },
        )
      : fc.constant(undefined);
    const outcomes = new Map<string, number>();
    let refused = 0;
    // The route's own kind of body now and then, so that the rest of the request is what decides.
    const accepted = {
      'POST /sessions/{id}/jobs': '{"job_id":"job-9"}',
      'PATCH /sessions/{id}': '{"status":"paused"}',
      'POST /sessions': '{"name":"fuzz"}',
      'POST /sessions/{id}/restore': JSON.stringify({ version_id: fake.versions.get(seeded.key)?.at(-1)?.versionId }),
    }[routeKey as string];
    const body =
      accepted === undefined
        ? requestBody
        : fc.oneof(
            { weight: 1, arbitrary: fc.constant<RawBody>({ body: accepted, isBase64Encoded: false }) },
            { weight: 3, arbitrary: requestBody },
          );

    await fc.assert(
      fc.asyncProperty(id, queryParameters(seeded.session.id), requestHeaders, body, async (pathId, query, headers, raw) => {
        const writesBefore = fake.puts.length;
        const storedBefore = storedVersions(fake);

        const response = await invoke(handler, eventOf(routeKey, { id: pathId, query, headers, body: raw }));

        expect(response.statusCode, response.raw.slice(0, 300)).toBeLessThan(500);
        const outcome = response.statusCode >= 400 ? `${response.statusCode} ${response.body?.error?.code}` : String(response.statusCode);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (response.statusCode >= 400) {
          refused++;
          expectContractError(response);
          expect(storedVersions(fake), 'a refused request wrote').toEqual(storedBefore);
          // The one PutObject a refusal may send: the create-only claim of an Idempotency-Key, refused because the key was used before.
          expect(
            fake.puts.slice(writesBefore).filter((put) => !IDEMPOTENCY_KEY.test(put.Key ?? '')),
            'a refused request sent a PutObject',
          ).toEqual([]);
        } else {
          expectAnswer(routeKey, response);
        }
        expectNoPrototypePollution();
      }),
      { numRuns: RUNS_PER_ROUTE },
    );

    console.info(
      `${routeKey}: ${[...outcomes]
        .sort()
        .map(([outcome, count]) => `${outcome} ×${count}`)
        .join(', ')}`,
    );
    expect(refused, 'the generators should mostly produce bad requests').toBeGreaterThan(RUNS_PER_ROUTE / 2);
    expect(storedSession(fake, seeded.session.id)?.id).toBe(seeded.session.id);
  });
});

describe('bodies, against an oracle written from the contract', () => {
  const fieldBody = (field: string) =>
    fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify({ [field]: value })),
      anyString(30).map((value) => JSON.stringify({ [field]: value })),
      fc
        .constantFrom('', '1', 'true', 'null', 'ACTIVE', 'Paused', ' active', 'completed ', ...STATUSES)
        .map((value) => JSON.stringify({ [field]: value })),
      fc.integer({ min: 250, max: 260 }).map((length) => JSON.stringify({ [field]: 'x'.repeat(length) })),
      fc.tuple(anyString(10), fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => JSON.stringify({ [field]: 'ok', [key]: value })),
      fc.constantFrom(
        `{"${field}":"a","${field}":1}`,
        `{"${field}":1,"${field}":"active"}`,
        `{"${field}":"x","__proto__":{}}`,
        `{"${field}":"x","constructor":{"prototype":{}}}`,
        `{"${field}":"x","constructor":"y"}`,
        `[{"${field}":"x"}]`,
        `{"${field}":["x"]}`,
        `{"${field}":{"${field}":"x"}}`,
        `{"${field}":"\\ud800"}`,
      ),
    );

  it(`POST /sessions/{id}/jobs: 200 with the job stored once iff the body is exactly {"job_id": 1–256 characters, no control characters}; else 400 and nothing written (${ORACLE_RUNS} runs)`, async () => {
    const { fake } = s3;
    const { session } = seedSession(fake);

    await fc.assert(
      fc.asyncProperty(fieldBody('job_id').filter(settled), async (text) => {
        const parsed = parsedBody(text);
        const valid =
          parsed !== 'invalid' &&
          isPlainObjectWithKeys(parsed.value, ['job_id'], ['job_id']) &&
          isSentLabel(parsed.value.job_id, JOB_ID_MAX_BYTES);
        const writesBefore = fake.puts.length;

        const response = await invoke(
          route('POST /sessions/{id}/jobs').handler,
          eventOf('POST /sessions/{id}/jobs', { id: session.id, headers: JSON_HEADERS, body: { body: text, isBase64Encoded: false } }),
        );

        if (valid) {
          const jobId = (parsed as { value: { job_id: string } }).value.job_id;
          expect(response.statusCode, text).toBe(200);
          expect(storedSession(fake, session.id)!.job_ids.filter((job) => job === jobId)).toEqual([jobId]);
        } else {
          expect(response.statusCode, text).toBe(400);
          expect(expectContractError(response)).toBe('invalid_request');
          expect(fake.puts.length).toBe(writesBefore);
        }
      }),
      { numRuns: ORACLE_RUNS },
    );
  });

  it(`PATCH /sessions/{id}: only exactly {"status": one of the four} reaches the status machine, which then answers as the contract's machine does (${ORACLE_RUNS} runs)`, async () => {
    const { fake } = s3;
    const { session } = seedSession(fake);
    let status: (typeof STATUSES)[number] = 'active';
    const moves: Record<string, readonly string[]> = {
      active: ['paused', 'completed', 'terminated'],
      paused: ['active', 'completed', 'terminated'],
      completed: [],
      terminated: [],
    };

    await fc.assert(
      fc.asyncProperty(fieldBody('status'), async (text) => {
        const parsed = parsedBody(text);
        const wanted =
          parsed !== 'invalid' &&
          isPlainObjectWithKeys(parsed.value, ['status'], ['status']) &&
          STATUSES.includes(parsed.value.status as never)
            ? (parsed.value.status as (typeof STATUSES)[number])
            : undefined;
        const writesBefore = fake.puts.length;

        const response = await invoke(
          route('PATCH /sessions/{id}').handler,
          eventOf('PATCH /sessions/{id}', { id: session.id, headers: JSON_HEADERS, body: { body: text, isBase64Encoded: false } }),
        );

        if (wanted === undefined) {
          expect([response.statusCode, expectContractError(response)], text).toEqual([400, 'invalid_request']);
          expect(fake.puts.length).toBe(writesBefore);
        } else if (wanted === status) {
          expect(response.statusCode, text).toBe(200);
          expect(fake.puts.length, 'setting the current status wrote').toBe(writesBefore);
        } else if (moves[status]!.includes(wanted)) {
          expect(response.statusCode, text).toBe(200);
          status = wanted;
        } else {
          expect([response.statusCode, expectContractError(response)], text).toEqual([409, 'invalid_transition']);
          expect(fake.puts.length).toBe(writesBefore);
        }
        expect(storedSession(fake, session.id)!.status).toBe(status);
      }),
      { numRuns: ORACLE_RUNS },
    );
  });

  it(`POST /sessions: 201 with the name stored as sent iff the body is empty or exactly {"name"?: label | null}; else 400 and nothing written (${ORACLE_RUNS} runs)`, async () => {
    const { fake } = s3;
    const body = fc.oneof(
      { weight: 6, arbitrary: fieldBody('name').filter(settled) },
      { weight: 1, arbitrary: fc.constantFrom('', '{}', '{"name":null}') },
    );

    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const parsed = text === '' ? { value: {} } : parsedBody(text);
        const valid =
          parsed !== 'invalid' &&
          isPlainObjectWithKeys(parsed.value, ['name'], []) &&
          (parsed.value.name === undefined || parsed.value.name === null || isSentLabel(parsed.value.name, LABEL_MAX_BYTES));
        const writesBefore = fake.puts.length;

        const response = await invoke(
          route('POST /sessions').handler,
          eventOf('POST /sessions', { headers: JSON_HEADERS, body: { body: text, isBase64Encoded: false } }),
        );

        if (valid) {
          expect(response.statusCode, text).toBe(201);
          expect(storedSession(fake, response.body.id)!.name).toBe((parsed as { value: { name?: string | null } }).value.name ?? null);
          const sent = fake.puts.slice(writesBefore);
          expect(
            sent.every((put) => put.IfNoneMatch === '*'),
            'a create sent a write that is not create-only',
          ).toBe(true);
          expect(sent.filter((put) => put.Key?.startsWith('sessions/')).map((put) => put.Key)).toEqual([
            `sessions/${response.body.id}.json`,
          ]);
        } else {
          expect([response.statusCode, expectContractError(response)], text).toEqual([400, 'invalid_request']);
          expect(fake.puts.length).toBe(writesBefore);
        }
      }),
      { numRuns: ORACLE_RUNS },
    );
  });
});

describe('GET /sessions query, against an oracle written from the contract', () => {
  it(`200 iff limit is an integer 1–100, status one of the four, cursor one the API issued, name a label, and nothing else; else 400 naming each bad parameter, before any storage call (${ORACLE_RUNS} runs)`, async () => {
    const { fake } = s3;
    const seeded = Array.from(
      { length: 12 },
      (_, n) => seedSession(fake, { status: STATUSES[n % 4] }, Date.UTC(2026, 0, 1) + n * 1000).session,
    );
    for (let n = 0; n < 3; n++)
      await invoke(
        route('POST /sessions').handler,
        eventOf('POST /sessions', { headers: JSON_HEADERS, body: { body: '{"name":"alpha"}', isBase64Encoded: false } }),
      );
    const issuedCursor = Buffer.from(JSON.stringify({ after: seeded[5]!.id })).toString('base64url');
    const parameter = {
      limit: fc.oneof(
        fc.constantFrom('1e2', '-1', '0x10', ' 5', '5 ', '05', '0', '101', '100', '1', '7', '1.0', '+1', '1,2', '', '１'),
        fc.integer({ min: -5, max: 120 }).map(String),
      ),
      status: fc.constantFrom(...STATUSES, 'Active', 'ACTIVE', ' paused', 'active,paused', 'done', ''),
      cursor: fc.oneof(fc.constant(issuedCursor), garbageCursor(seeded[0]!.id)),
      name: fc.oneof(
        fc.constantFrom('alpha', 'beta', '', 'alpha\u0000', 'x'.repeat(257), '../alpha', 'é𝄞'),
        anyString(20).filter((name) => name.isWellFormed()),
      ),
      stray: fc.constantFrom('Limit', 'STATUS', 'Name', '__proto__', 'constructor', 'stauts'),
    };
    const query = fc.record(
      {
        limit: parameter.limit,
        status: parameter.status,
        cursor: parameter.cursor,
        name: parameter.name,
        stray: fc.tuple(parameter.stray, fc.string({ maxLength: 5 })),
      },
      { requiredKeys: [] },
    );

    await fc.assert(
      fc.asyncProperty(query, async ({ limit, status, cursor, name, stray }) => {
        const entries: Array<[string, string]> = [];
        if (limit !== undefined) entries.push(['limit', limit]);
        if (status !== undefined) entries.push(['status', status]);
        if (cursor !== undefined) entries.push(['cursor', cursor]);
        if (name !== undefined) entries.push(['name', name]);
        if (stray !== undefined) entries.push(stray);
        const bad = [
          ...(limit !== undefined && !(/^[0-9]+$/.test(limit) && Number(limit) >= 1 && Number(limit) <= 100) ? ['query.limit'] : []),
          ...(status !== undefined && !STATUSES.includes(status as never) ? ['query.status'] : []),
          ...(cursor !== undefined && !isIssuedCursor(cursor) ? ['query.cursor'] : []),
          ...(name !== undefined && !isSentLabel(name, LABEL_MAX_BYTES) ? ['query.name'] : []),
          ...(stray !== undefined ? [`query.${stray[0]}`] : []),
        ];
        const requestsBefore = fake.totalRequests;

        const response = await invoke(
          route('GET /sessions').handler,
          eventOf('GET /sessions', { query: entries.length > 0 ? Object.fromEntries(entries) : undefined }),
        );

        if (bad.length === 0) {
          expect(response.statusCode, JSON.stringify(entries)).toBe(200);
          expectListAnswer(response, limit === undefined ? 50 : Number(limit));
          for (const session of response.body.sessions) {
            if (status !== undefined) expect(session.status).toBe(status);
            if (name !== undefined) expect(session.name).toBe(name);
            if (cursor !== undefined) expect(session.id > seeded[5]!.id).toBe(true);
          }
        } else {
          expect([response.statusCode, expectContractError(response)], JSON.stringify(entries)).toEqual([400, 'invalid_request']);
          // The cursor is decoded after the schema has passed, so beside another bad parameter it may go unnamed.
          const named = new Set<string>(response.body.error.details.issues.map((issue: { field: string }) => issue.field));
          expect(
            [...named].filter((field) => !bad.includes(field)),
            'named a parameter that is fine',
          ).toEqual([]);
          expect(
            bad.filter((field) => field !== 'query.cursor' && !named.has(field)),
            'left a bad parameter unnamed',
          ).toEqual([]);
          expect(named.size).toBeGreaterThan(0);
          expect(fake.totalRequests, 'a refused listing reached storage').toBe(requestsBefore);
        }
      }),
      { numRuns: ORACLE_RUNS },
    );
  });
});

describe('labels are Unicode text, as the original Rust Session holds them', () => {
  // lib/domain/session.ts LabelSchema refuses a job_id or name holding a lone surrogate (JSON "\ud800"): no Rust
  // String can hold one, and serde_json would refuse the stored session ("lone leading surrogate in hex
  // escape"), against the contract's compatibility with the original.
  it.each([
    ['POST /sessions/{id}/jobs', '{"job_id":"job-\\ud800"}'],
    ['POST /sessions', '{"name":"run-\\udfff"}'],
  ])('%s refuses a label with a lone surrogate (%s): 400 invalid_request, nothing written', async (routeKey, text) => {
    const { fake } = s3;
    const { session } = seedSession(fake);
    const storedBefore = storedVersions(fake);

    const response = await invoke(
      route(routeKey).handler,
      eventOf(routeKey, { id: session.id, headers: JSON_HEADERS, body: { body: text, isBase64Encoded: false } }),
    );

    expect([response.statusCode, expectContractError(response)]).toEqual([400, 'invalid_request']);
    expect(storedVersions(fake)).toEqual(storedBefore);
  });
});

describe('the local server under raw requests', () => {
  let server: LocalServer;
  let dataDir: string;
  let host: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-raw-'));
    server = await startLocalServer({ port: 0, dataDir });
    host = new URL(server.url).host;
  });
  afterAll(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** One request exactly as given: target, header lines (repeats kept), body bytes. */
  function send(method: string, target: string, lines: Array<[string, string]>, body?: Buffer) {
    const { hostname, port } = new URL(server.url);
    return new Promise<{ status: number; json: any }>((resolve, reject) => {
      const sent = httpRequest(
        { host: hostname, port, method, path: target, headers: [['host', host], ...lines].flat(), setHost: false },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode!, json: text ? JSON.parse(text) : undefined }));
        },
      );
      sent.on('error', reject);
      sent.end(body);
    });
  }

  const sessionCount = async () => (await send('GET', '/sessions?limit=100', [])).json.sessions.length as number;

  it('a target that is not a path starting with a single / is refused 400 before any route runs; duplicated Idempotency-Key lines are refused 400 (150 runs)', async () => {
    const { id } = (await send('POST', '/sessions', [])).json;

    await fc.assert(
      fc.asyncProperty(
        requestTarget(id),
        rawHeaderLines,
        fc.constantFrom('GET', 'POST', 'PATCH'),
        async ({ target, isPath }, { lines, keyLines }, method) => {
          const before = await sessionCount();

          const answer = await send(method, target, lines);

          expect(answer.status, `${method} ${target}`).toBeLessThan(500);
          // Node's HTTP parser refuses some targets (a backslash) itself: those are answered in the same shape.
          if (!isPath) {
            expect([answer.status, answer.json.error.code, answer.json.error.details.issues[0].field], `${method} ${target}`).toEqual([
              400,
              'invalid_request',
              'path',
            ]);
          } else if (method === 'POST' && target === '/sessions' && keyLines === 2) {
            expect([answer.status, answer.json.error.details.issues[0].field]).toEqual([400, 'headers.idempotency-key']);
          }
          if (answer.status >= 400) {
            if (answer.json !== undefined) expect(Object.keys(answer.json)).toEqual(['error']);
            expect(await sessionCount(), `${method} ${target} wrote`).toBe(before);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a body that is not UTF-8 is refused 400 body and nothing is written (100 runs)', async () => {
    const { id } = (await send('POST', '/sessions', [])).json;
    const json: [string, string] = ['content-type', 'application/json'];

    await fc.assert(
      fc.asyncProperty(invalidUtf8Body(), fc.constantFrom(`/sessions/${id}/jobs`, '/sessions', `/sessions/${id}`), async (body, target) => {
        const before = await send('GET', `/sessions/${id}`, []);
        const count = await sessionCount();

        const answer = await send(target === `/sessions/${id}` ? 'PATCH' : 'POST', target, [json], body);

        expect([answer.status, answer.json.error.details.issues[0].field], body.toString('hex')).toEqual([400, 'body']);
        expect((await send('GET', `/sessions/${id}`, [])).json).toEqual(before.json);
        expect(await sessionCount()).toBe(count);
      }),
      { numRuns: 100 },
    );
  });
});
