/**
 * The committed openapi.json against the local server: a run of requests over
 * every route (good and bad, full and `Prefer: return=minimal` answers, with
 * and without a lease, with and without the local server's bearer token), each
 * answer checked by Ajv against the document: its status is one the operation
 * declares, its body is valid for that response's schema, and the headers that
 * carry meaning (ETag, Location, Retry-After, Preference-Applied…) are declared
 * for that response and valid for their schema.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleToken } from '#lib/local/access.ts';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { OPENAPI_PATH } from '../../scripts/openapi.ts';

type Json = Record<string, any>;

const document = JSON.parse(await readFile(OPENAPI_PATH, 'utf-8')) as Json;
const DOCUMENT_ID = 'https://runner-sessions.invalid/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...document, $id: DOCUMENT_ID });

/** Answer headers whose meaning the document must declare wherever the server sends them. */
const MEANINGFUL_HEADERS = ['etag', 'location', 'retry-after', 'idempotent-replayed', 'preference-applied', 'www-authenticate', 'allow'];

/** The value a local `$ref` points at. */
function resolve(node: Json): Json {
  if (typeof node.$ref !== 'string') return node;
  return resolve(
    (node.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce<Json>((at, key) => at[key.replace(/~1/g, '/').replace(/~0/g, '~')], document),
  );
}

const compiled = new Map<unknown, ReturnType<typeof ajv.compile>>();
/** A schema of the document compiled once; its local references point into the registered document. */
function validatorOf(schema: Json) {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOCUMENT_ID}#/components/`));
    validate = ajv.compile(rebased);
    compiled.set(schema, validate);
  }
  return validate;
}

/** The operation a request path and method fall on: the document's path template that matches. */
function operationOf(method: string, url: string): { template: string; operation: Json } {
  const pathname = new URL(url, 'http://x').pathname;
  for (const [template, item] of Object.entries(document.paths as Json)) {
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
    const operation = (item as Json)[method.toLowerCase()];
    if (pattern.test(pathname) && operation !== undefined) return { template, operation };
  }
  throw new Error(`the document has no operation for ${method} ${pathname}`);
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** Every way an answer departs from the document; none is the contract kept. */
function violations(method: string, url: string, answer: Answer): string[] {
  const found: string[] = [];
  const { template, operation } = operationOf(method, url);
  const where = `${method} ${template} → ${answer.status}`;
  const declared = operation.responses[String(answer.status)];
  if (declared === undefined) return [`${where}: status not declared by ${operation.operationId}`];
  const response = resolve(declared);
  const content = response.content?.['application/json'];
  if (content === undefined) {
    if (answer.body !== undefined) found.push(`${where}: a body where the document declares none`);
  } else {
    if (!answer.headers.get('content-type')?.startsWith('application/json'))
      found.push(`${where}: content-type ${answer.headers.get('content-type')}`);
    const validate = validatorOf(content.schema);
    if (!validate(answer.body)) found.push(`${where}: body ${JSON.stringify(answer.body)}: ${ajv.errorsText(validate.errors)}`);
  }
  const documented = new Map(
    Object.entries((response.headers ?? {}) as Json).map(([name, header]) => [name.toLowerCase(), resolve(header)]),
  );
  for (const name of MEANINGFUL_HEADERS) {
    const value = answer.headers.get(name);
    if (value === null) continue;
    const header = documented.get(name);
    if (header === undefined) {
      found.push(`${where}: header ${name} is sent but not declared`);
      continue;
    }
    const typed = header.schema?.type === 'integer' && /^[0-9]+$/.test(value) ? Number(value) : value;
    const validate = validatorOf(header.schema ?? {});
    if (!validate(typed)) found.push(`${where}: header ${name}: ${value}: ${ajv.errorsText(validate.errors)}`);
  }
  return found;
}

describe('the local server keeps openapi.json', () => {
  let server: LocalServer;
  let guarded: LocalServer;
  let dataDir: string;
  const TOKEN = 'contract-test-token-0123456789';
  const log: { request: string; status: number; violations: string[] }[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-contract-'));
    server = await startLocalServer({ port: 0, dataDir: path.join(dataDir, 'open'), leaseSweepSeconds: 0, console: false });
    guarded = await startLocalServer({
      port: 0,
      dataDir: path.join(dataDir, 'guarded'),
      leaseSweepSeconds: 0,
      console: false,
      tokens: [singleToken(TOKEN)],
    });
  });

  afterAll(async () => {
    await server?.close();
    await guarded?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  interface Call {
    body?: unknown;
    /** A raw body, sent as it is. */
    raw?: string;
    headers?: Record<string, string>;
    minimal?: boolean;
    on?: LocalServer;
  }

  /** Sends one request, checks its answer against the document and expects `status`; answers the parsed answer. */
  async function call(method: string, url: string, status: number, options: Call = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined || options.raw !== undefined) headers['content-type'] ??= 'application/json';
    if (options.minimal) headers.prefer = 'return=minimal';
    const response = await fetch(`${(options.on ?? server).url}${url}`, {
      method,
      headers,
      ...(options.raw !== undefined ? { body: options.raw } : options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    const answer = { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
    const found = violations(method, url, answer);
    log.push({ request: `${method} ${url}`, status: answer.status, violations: found });
    expect(found, `${method} ${url}`).toEqual([]);
    expect(answer.status, `${method} ${url}: ${text}`).toBe(status);
    if (options.minimal && status < 300 && answer.body?.id !== undefined) {
      expect(answer.headers.get('preference-applied')).toBe('return=minimal');
      expect(answer.body).not.toHaveProperty('job_ids');
    }
    return answer;
  }

  const UNKNOWN = 'f'.repeat(32);

  it('opens sessions: plain, named and minimal, held, idempotent, and refuses bad bodies', async () => {
    await call('POST', '/sessions', 201);
    await call('POST', '/sessions', 201, { body: {} });
    await call('POST', '/sessions', 201, { body: { name: 'contract-a' }, minimal: true });
    await call('POST', '/sessions', 201, { body: { name: 'contract-held', lease_seconds: 30, holder: 'runner-1' } });
    const first = await call('POST', '/sessions', 201, { body: { name: 'idem' }, headers: { 'idempotency-key': 'key-1' } });
    const again = await call('POST', '/sessions', 200, { body: { name: 'idem' }, headers: { 'idempotency-key': 'key-1' } });
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    await call('POST', '/sessions', 200, { body: { name: 'idem' }, headers: { 'idempotency-key': 'key-1' }, minimal: true });
    await call('POST', '/sessions', 400, { body: { name: 'other' }, headers: { 'idempotency-key': 'key-1' } });
    await call('POST', '/sessions', 400, { body: { name: 5 } });
    await call('POST', '/sessions', 400, { body: { surprise: true } });
    await call('POST', '/sessions', 400, { body: { lease_seconds: -1 } });
    await call('POST', '/sessions', 400, { raw: '{"name": ' });
    await call('POST', '/sessions', 415, { raw: 'name=x', headers: { 'content-type': 'text/plain' } });
    await call('POST', '/sessions', 413, { body: { name: 'x'.repeat(20_000) } });
  });

  it('lists and reads sessions, and refuses bad queries and IDs', async () => {
    const page = await call('GET', '/sessions?limit=2', 200);
    await call('GET', '/sessions', 200);
    await call('GET', `/sessions?limit=2&cursor=${encodeURIComponent(page.body.next_cursor)}`, 200);
    await call('GET', '/sessions?status=active', 200);
    await call('GET', '/sessions?name=contract-a', 200);
    await call('GET', '/sessions?limit=0', 400);
    await call('GET', '/sessions?status=sleeping', 400);
    await call('GET', '/sessions?stauts=active', 400);
    const id = page.body.sessions[0].id as string;
    await call('GET', `/sessions/${id}`, 200);
    await call('GET', '/sessions/not-an-id', 400);
    await call('GET', `/sessions/${UNKNOWN}`, 404);
  });

  it('appends jobs and changes status, full and minimal, with If-Match, and refuses what the machine forbids', async () => {
    const { body: session, headers } = await call('POST', '/sessions', 201, { body: { name: 'changes' } });
    const jobs = `/sessions/${session.id}/jobs`;
    await call('POST', jobs, 200, { body: { job_id: 'job-1' } });
    await call('POST', jobs, 200, { body: { job_id: 'job-2' }, minimal: true });
    await call('POST', jobs, 200, { body: { job_id: 'job-1' } });
    await call('POST', jobs, 412, { body: { job_id: 'job-3' }, headers: { 'if-match': headers.get('etag')! } });
    const current = await call('GET', `/sessions/${session.id}`, 200);
    await call('POST', jobs, 200, { body: { job_id: 'job-3' }, headers: { 'if-match': current.headers.get('etag')! } });
    await call('POST', jobs, 400, { body: { job_id: '' } });
    await call('POST', jobs, 400, { body: {} });
    await call('POST', `/sessions/${UNKNOWN}/jobs`, 404, { body: { job_id: 'job-1' } });
    await call('PATCH', `/sessions/${session.id}`, 200, { body: { status: 'paused' } });
    await call('POST', jobs, 409, { body: { job_id: 'job-4' } });
    await call('PATCH', `/sessions/${session.id}`, 200, { body: { status: 'active' }, minimal: true });
    await call('PATCH', `/sessions/${session.id}`, 400, { body: { status: 'sleeping' } });
    await call('PATCH', `/sessions/${session.id}`, 200, { body: { status: 'completed' } });
    await call('PATCH', `/sessions/${session.id}`, 409, { body: { status: 'active' } });
    await call('PATCH', `/sessions/${UNKNOWN}`, 404, { body: { status: 'paused' } });
  });

  it('records job outcomes, full and minimal, and refuses bad ones and a second outcome', async () => {
    const { body: session } = await call('POST', '/sessions', 201, { body: { name: 'outcomes' } });
    const jobs = `/sessions/${session.id}/jobs`;
    await call('POST', jobs, 200, { body: { job_id: 'build-41', state: 'running' } });
    await call('POST', jobs, 200, { body: { job_id: 'build-41', state: 'succeeded', exit_code: 0 } });
    await call('POST', jobs, 200, { body: { job_id: 'build-42', state: 'failed', exit_code: 2 }, minimal: true });
    await call('POST', jobs, 200, { body: { job_id: 'build-43', state: 'cancelled', signal: 'SIGTERM' } });
    await call('POST', jobs, 200, { body: { job_id: 'build-44', state: 'failed', exit_code: -(2 ** 31), signal: 'SIGKILL' } });
    await call('POST', jobs, 200, { body: { job_id: 'build-42', state: 'failed', exit_code: 2 } });
    await call('POST', jobs, 409, { body: { job_id: 'build-42', state: 'succeeded' } });
    await call('POST', jobs, 409, { body: { job_id: 'build-42', state: 'running' } });
    await call('POST', jobs, 400, { body: { job_id: 'build-45', exit_code: 1 } });
    await call('POST', jobs, 400, { body: { job_id: 'build-45', state: 'running', signal: 'SIGKILL' } });
    await call('POST', jobs, 400, { body: { job_id: 'build-45', state: 'failed', exit_code: 2 ** 31 } });
    await call('POST', jobs, 400, { body: { job_id: 'build-45', state: 'failed', signal: 'kill' } });
    await call('POST', jobs, 400, { body: { job_id: 'build-45', state: 'finished' } });
    await call('GET', `/sessions/${session.id}`, 200);
    await call('GET', `/sessions/${session.id}/history`, 200);
    await call('GET', '/sessions?name=outcomes', 200);
    await call('PATCH', `/sessions/${session.id}`, 200, { body: { status: 'paused' } });
    await call('POST', jobs, 409, { body: { job_id: 'build-45', state: 'failed' } });
  });

  it('acquires, fences and renews leases', async () => {
    const { body: session } = await call('POST', '/sessions', 201, { body: { name: 'leases' } });
    const base = `/sessions/${session.id}`;
    const first = await call('POST', `${base}/lease`, 200, { body: { holder: 'runner-1', seconds: 60 } });
    const epoch = first.body.lease.epoch as number;
    await call('POST', `${base}/lease`, 409, { body: { holder: 'runner-2' } });
    const taken = await call('POST', `${base}/lease`, 200, { body: { holder: 'runner-2', force: true }, minimal: true });
    const live = taken.body.lease.epoch as number;
    expect(live).toBe(epoch + 1);
    await call('POST', `${base}/jobs`, 428, { body: { job_id: 'job-1' } });
    await call('POST', `${base}/jobs`, 409, { body: { job_id: 'job-1' }, headers: { 'lease-epoch': String(epoch) } });
    await call('POST', `${base}/jobs`, 200, { body: { job_id: 'job-1' }, headers: { 'lease-epoch': String(live) } });
    await call('POST', `${base}/jobs`, 400, { body: { job_id: 'job-2' }, headers: { 'lease-epoch': 'one' } });
    await call('POST', `${base}/heartbeat`, 200, { headers: { 'lease-epoch': String(live) } });
    await call('POST', `${base}/heartbeat`, 200, { body: { seconds: 30 }, headers: { 'lease-epoch': String(live) } });
    await call('POST', `${base}/heartbeat`, 428);
    await call('POST', `${base}/heartbeat`, 409, { headers: { 'lease-epoch': String(epoch) } });
    await call('POST', `${base}/heartbeat`, 400, { body: { seconds: 1 }, headers: { 'lease-epoch': String(live) } });
    await call('POST', `/sessions/${UNKNOWN}/heartbeat`, 404, { headers: { 'lease-epoch': '1' } });
    await call('PATCH', base, 428, { body: { status: 'paused' } });
    await call('PATCH', base, 200, { body: { status: 'paused' }, headers: { 'lease-epoch': String(live) } });
    await call('POST', `${base}/lease`, 200, { minimal: true });
    await call('POST', `${base}/lease`, 400, { body: { seconds: 0 } });
    await call('POST', `/sessions/${UNKNOWN}/lease`, 404);
    const done = await call('POST', '/sessions', 201);
    await call('PATCH', `/sessions/${done.body.id}`, 200, { body: { status: 'terminated' } });
    await call('POST', `/sessions/${done.body.id}/lease`, 409);
  });

  it('pages the history and restores earlier versions', async () => {
    const { body: session } = await call('POST', '/sessions', 201, { body: { name: 'history' } });
    const base = `/sessions/${session.id}`;
    await call('POST', `${base}/jobs`, 200, { body: { job_id: 'job-1' } });
    await call('POST', `${base}/jobs`, 200, { body: { job_id: 'job-2' } });
    const page = await call('GET', `${base}/history?limit=1`, 200);
    await call('GET', `${base}/history?limit=1&cursor=${encodeURIComponent(page.body.next_cursor)}`, 200);
    const all = await call('GET', `${base}/history`, 200);
    await call('GET', `${base}/history?limit=500`, 400);
    await call('GET', `/sessions/${UNKNOWN}/history`, 404);
    const oldest = all.body.versions.at(-1).version_id as string;
    const restored = await call('POST', `${base}/restore`, 200, { body: { version_id: oldest } });
    await call('POST', `${base}/restore`, 200, { body: { version_id: all.body.versions[0].version_id }, minimal: true });
    await call('POST', `${base}/restore`, 412, { body: { version_id: oldest }, headers: { 'if-match': restored.headers.get('etag')! } });
    await call('POST', `${base}/restore`, 400, { body: { version_id: 'not a version' } });
    await call('POST', `${base}/restore`, 400, { body: {} });
    await call('POST', `/sessions/${UNKNOWN}/restore`, 404, { body: { version_id: oldest } });
  });

  it("answers the local server's own refusals as declared: forbidden_origin, and unauthorized when started with a token", async () => {
    await call('POST', '/sessions', 403, { body: {}, headers: { origin: 'https://elsewhere.example' } });
    await call('GET', '/sessions', 401, { on: guarded });
    await call('GET', '/sessions', 401, { on: guarded, headers: { authorization: 'Bearer not-the-token-at-all' } });
    await call('GET', '/sessions', 200, { on: guarded, headers: { authorization: `Bearer ${TOKEN}` } });
    await call('POST', '/sessions', 201, { on: guarded, body: {}, headers: { authorization: `Bearer ${TOKEN}` }, minimal: true });
  });

  it('sent at least 60 requests over every operation, and no answer departed from the document', () => {
    const operations = new Set(log.map(({ request }) => operationOf(...(request.split(' ') as [string, string])).operation.operationId));
    const all = Object.values(document.paths as Json).flatMap((item) =>
      Object.values(item as Json)
        .map((operation) => (operation as Json).operationId)
        .filter(Boolean),
    );

    expect(log.length).toBeGreaterThanOrEqual(60);
    expect([...operations].sort()).toEqual(all.sort());
    expect(new Set(log.map(({ status }) => status)).size).toBeGreaterThanOrEqual(10);
    expect(log.flatMap(({ violations }) => violations)).toEqual([]);
  });
});
