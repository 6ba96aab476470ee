import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { AccountRootPrincipal, type CfnRole, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServiceConfig } from '#lib/domain/config.ts';
import { renewalKey } from '#lib/domain/lease.ts';
import { ENDED_TAG } from '#lib/domain/retention.ts';
import type { HttpHandler } from '#lib/http/route.ts';
import { API_ROUTES, entryName } from '#lib/http/route-table.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { S3_CLIENT_CONFIG, S3ObjectStore } from '#lib/storage/s3.ts';
import { LeaseSweeper, type SweepReport } from '#lib/workers/lease-sweeper.ts';
import { ROUTES as DEPLOYED_ROUTES, type RouteDefinition as DeployedRoute, RUNNER_OPERATIONS } from '../../infra/routes.ts';
import { defineSessionsApp } from '../../infra/sessions-stack.ts';
import { apiEvent, invoke, request } from '../helpers/api-event.ts';
import { TEST_BUCKET, testService } from '../helpers/handlers.ts';
import { S3Fake, s3Error } from '../helpers/s3-fake.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';
import { anyString, invalidSessionId, requestBody, wellFormedId } from './arbitraries.ts';
import { expectContractError, isServiceKey, LIST_PREFIX } from './contract.ts';
import {
  cellLabel,
  MATRIX_LIST_ACTIONS,
  MATRIX_OBJECT_ACTIONS,
  MATRIX_PREFIXES,
  MATRIX_TAG_REMOVERS,
  MATRIX_TAG_SETTERS,
  type MatrixBuckets,
  matrixCells,
  OVER_TLS,
  onTagged,
  resolve,
  type S3Request,
  type Statement,
  settingTags,
  simulate,
  simulateInvoke,
} from './iam-simulation.ts';
import { coldStartWith, type RouteModule } from './lambda-instances.ts';
import { type AuditedBuckets, expectLawfulS3Traffic, s3TrafficViolations, useAuditedS3Fake } from './s3-audit.ts';

// Recognisable credentials: they must never come back out, in a body or a log line.
const CANARY = {
  accessKeyId: 'AKIACANARY0000000007',
  secretAccessKey: 'canarySecretAccessKey/never+leaves+7',
  sessionToken: 'canarySessionToken-IQoJb3JpZ2luX2VjEXAMPLE',
  bucket: 'runner-sessions-canary-bucket-5e1',
};
// In place before the first S3 client of this file is made.
process.env.AWS_ACCESS_KEY_ID = CANARY.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = CANARY.secretAccessKey;
process.env.AWS_SESSION_TOKEN = CANARY.sessionToken;
// One attempt per SDK call, so that a failing scripted endpoint answers at once.
process.env.AWS_MAX_ATTEMPTS = '1';

const telemetry = captureTelemetry();

/** The bucket of lease renewal records in the scenarios, distinct from the sessions bucket so that every request is told apart by bucket. */
const TEST_LEASES_BUCKET = 'runner-sessions-test-leases-2c9d';
const SCENARIO_BUCKETS: AuditedBuckets = { sessions: TEST_BUCKET, leases: TEST_LEASES_BUCKET };
/** The role key of the lease sweeper, a scheduled function beside the routes' functions. */
const SWEEPER = 'LeaseSweeper (every minute)';

/** Every route with the handler module that serves it. */
const { byRouteKey } = testService();
const ROUTES = API_ROUTES.map((route) => ({
  routeKey: route.routeKey as string,
  module: entryName(route) as RouteModule,
  handler: byRouteKey.get(route.routeKey)!,
}));
const ID_ROUTES = ROUTES.filter(({ routeKey }) => routeKey.includes('{id}'));

/** A request body each route would accept, so that only the ID can be what is wrong. */
function acceptableBody(routeKey: string): unknown {
  if (routeKey.endsWith('/jobs')) return { job_id: 'job-1' };
  if (routeKey.startsWith('PATCH')) return { status: 'paused' };
  if (routeKey.endsWith('/restore')) return { version_id: 'v1' };
  if (routeKey.endsWith('/owner')) return { owner: 'arn:aws:iam::123456789012:role/fleet' };
  return undefined;
}

describe('with the stateful fake', () => {
  const s3 = useAuditedS3Fake(TEST_BUCKET);

  describe.each(ID_ROUTES)('$routeKey', ({ routeKey, handler }) => {
    it('validates the session ID before any storage call: an invalid one gets 400, 413 or 415 and the fake sees no request at all (300 runs)', async () => {
      const { fake } = s3;
      const { session } = seedSession(fake);
      const body = fc.oneof(
        { weight: 3, arbitrary: fc.constant({ body: JSON.stringify(acceptableBody(routeKey) ?? {}), isBase64Encoded: false }) },
        { weight: 1, arbitrary: requestBody },
      );

      await fc.assert(
        fc.asyncProperty(invalidSessionId(session.id), body, async (id, raw) => {
          const event = apiEvent(routeKey, { id });
          event.headers = { ...event.headers, 'content-type': 'application/json' };
          if (raw.body === undefined) delete event.body;
          else event.body = raw.body;
          event.isBase64Encoded = raw.isBase64Encoded;

          const response = await invoke(handler, event);

          expect([400, 413, 415]).toContain(response.statusCode);
          const code = expectContractError(response);
          if (code === 'invalid_request') {
            // A body that is not JSON at all is refused before the other parts are looked at; otherwise the ID is named.
            const fields = response.body.error.details.issues.map((issue: { field: string }) => issue.field);
            expect(fields.includes('path.id') || (fields.length === 1 && fields[0] === 'body'), JSON.stringify(fields)).toBe(true);
          }
          expect(fake.stub.calls(), `an invalid ID ${JSON.stringify(id)} reached storage`).toEqual([]);
        }),
        { numRuns: 300 },
      );
    });
  });

  it('never builds a key from caller text: names, job IDs, cursors and idempotency keys of any content touch only keys, prefixes and start keys of the fixed shapes (200 runs)', async () => {
    const { fake } = s3;
    const handlers = Object.fromEntries(ROUTES.map(({ routeKey, handler }) => [routeKey, handler]));
    const text = fc.oneof(
      anyString(40),
      fc.constantFrom(
        '../../etc/passwd',
        '..%2F..%2F',
        'sessions/x',
        'names/../sessions',
        'idempotency/../x',
        '%00',
        '*',
        '?prefix=',
        '\\u0000',
      ),
    );

    await fc.assert(
      fc.asyncProperty(text, text, text, async (name, jobId, idempotencyKey) => {
        const callsBefore = fake.stub.calls().length;
        const created = await invoke(
          handlers['POST /sessions']!,
          request.createSession({ body: { name }, headers: { 'idempotency-key': idempotencyKey } }),
        );
        const id = created.statusCode < 300 ? (created.body.id as string) : seedSession(fake).session.id;
        await invoke(handlers['POST /sessions/{id}/jobs']!, request.addJob(id, { body: { job_id: jobId } }));
        await invoke(handlers['GET /sessions']!, request.listSessions({ name }));
        await invoke(handlers['GET /sessions']!, request.listSessions({ cursor: jobId }));

        const keys = fake.stub
          .calls()
          .slice(callsBefore)
          .map((call) => (call.args[0] as unknown as { input: Record<string, unknown> }).input)
          .flatMap((input) => [input.Key, input.Prefix, input.StartAfter].filter((key) => key !== undefined)) as string[];
        // The shapes are fixed words, lowercase hex and slashes: caller text can only appear in a key as a digest or a validated ID.
        for (const key of keys) expect(isServiceKey(key) || LIST_PREFIX.test(key), key).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the S3 traffic audit', () => {
  it('reports an unconditional PutObject, one with both conditions, a key outside the fixed shapes, another bucket, a DeleteObject and a key probe of more than its key', async () => {
    const fake = new S3Fake();
    const client = new S3Client({ region: 'eu-west-1' });
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const session = JSON.stringify({ id, name: null, job_ids: [], created_at: 1, updated_at: 1, status: 'active' });
    try {
      const send = (command: PutObjectCommand | DeleteObjectCommand | ListObjectsV2Command) =>
        Promise.resolve(client.send(command as PutObjectCommand)).catch(() => undefined);
      await send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `sessions/${id}.json`, Body: session }));
      await send(
        new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `sessions/${id}.json`, Body: session, IfNoneMatch: '*', IfMatch: '"x"' }),
      );
      await send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `sessions/../${id}.json`, Body: session, IfNoneMatch: '*' }));
      await send(new PutObjectCommand({ Bucket: 'another-bucket', Key: `sessions/${id}.json`, Body: session, IfMatch: '"x"' }));
      await send(new DeleteObjectCommand({ Bucket: TEST_BUCKET, Key: `sessions/${id}.json` }));
      await send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `sessions/${id}.json`, MaxKeys: 1 }));
      await send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `sessions/${id}.json`, MaxKeys: 2 }));
    } finally {
      fake.restore();
    }

    const violations = s3TrafficViolations(fake, TEST_BUCKET);

    expect(violations).toEqual([
      expect.stringMatching(/^#0 PutObjectCommand .*needs exactly one of IfNoneMatch and IfMatch$/),
      expect.stringMatching(/^#1 PutObjectCommand .*needs exactly one of IfNoneMatch and IfMatch$/),
      expect.stringMatching(/^#2 PutObjectCommand .*key of no shape the service uses$/),
      expect.stringMatching(/^#2 PutObjectCommand .*body sessions\/\.\.\/.*not a key of the service$/),
      expect.stringMatching(/^#3 PutObjectCommand .*bucket is not runner-sessions-test-bucket-7f3a$/),
      expect.stringMatching(/^#4 DeleteObjectCommand .*a command the service has no business sending$/),
      expect.stringMatching(/^#6 ListObjectsV2Command .*a key probe lists more than that key$/),
    ]);
  });
});

describe('the S3 traffic audit, with a leases bucket of its own', () => {
  it('wants renewal records and their listings on the leases bucket, everything else on the sessions bucket, and deletes of renewal records only', async () => {
    const fake = new S3Fake();
    const client = new S3Client({ region: 'eu-west-1' });
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const record = JSON.stringify({ session_id: id, epoch: 1, seconds: 60, expires_at: 1 });
    const session = JSON.stringify({ id, name: null, job_ids: [], created_at: 1, updated_at: 1, status: 'active' });
    try {
      const send = (command: PutObjectCommand | DeleteObjectCommand | ListObjectsV2Command) =>
        Promise.resolve(client.send(command as PutObjectCommand)).catch(() => undefined);
      await send(new PutObjectCommand({ Bucket: TEST_LEASES_BUCKET, Key: `leases/${id}/1-60.json`, Body: record, IfNoneMatch: '*' }));
      await send(new ListObjectsV2Command({ Bucket: TEST_LEASES_BUCKET, Prefix: `leases/${id}/`, MaxKeys: 1000 }));
      await send(new DeleteObjectCommand({ Bucket: TEST_LEASES_BUCKET, Key: `leases/${id}/1-60.json` }));
      await send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `leases/${id}/1-60.json`, Body: record, IfNoneMatch: '*' }));
      await send(new PutObjectCommand({ Bucket: TEST_LEASES_BUCKET, Key: `sessions/${id}.json`, Body: session, IfNoneMatch: '*' }));
      await send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: 'leases/', MaxKeys: 1000 }));
      await send(new DeleteObjectCommand({ Bucket: TEST_LEASES_BUCKET, Key: `leases/${id}/1-60.json`, VersionId: 'v1' }));
    } finally {
      fake.restore();
    }

    const violations = s3TrafficViolations(fake, SCENARIO_BUCKETS);

    expect(violations).toEqual([
      expect.stringMatching(/^#3 PutObjectCommand .*bucket is not runner-sessions-test-leases-2c9d$/),
      expect.stringMatching(/^#4 PutObjectCommand .*bucket is not runner-sessions-test-bucket-7f3a$/),
      expect.stringMatching(/^#5 ListObjectsV2Command .*bucket is not runner-sessions-test-leases-2c9d$/),
      expect.stringMatching(/^#6 DeleteObjectCommand .*deletes a version$/),
    ]);
  });
});

/** An S3 endpoint on 127.0.0.1 that answers every request as the running test says, and remembers what it was sent. */
class ScriptedS3 {
  readonly server: Server = createServer((request, response) => {
    this.requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    request.resume();
    request.on('end', () => this.answer(request, response));
  });
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> = [];
  answer: (request: IncomingMessage, response: ServerResponse) => void = (_, response) => response.end();

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function s3ErrorXml(status: number, code: string, fields: Record<string, string>) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const elements = Object.entries({ Code: code, ...fields, RequestId: 'CANARYREQUESTID', HostId: 'CANARYHOSTID' })
      .map(([name, value]) => `<${name}>${value.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${name}>`)
      .join('');
    response.writeHead(status, {
      'content-type': 'application/xml',
      'x-amz-request-id': 'CANARYREQUESTID',
      'x-amz-id-2': 'CANARYHOSTID',
      server: 'AmazonS3',
    });
    response.end(`<?xml version="1.0" encoding="UTF-8"?><Error>${elements}</Error>`);
    void request;
  };
}

/** Failures as Amazon S3 and a broken network produce them, with all the detail S3 puts in its error documents. */
const ENDPOINT_FAILURES: Array<[string, (request: IncomingMessage, response: ServerResponse) => void]> = [
  ['500 InternalError', s3ErrorXml(500, 'InternalError', { Message: 'We encountered an internal error. Please try again.' })],
  ['503 SlowDown', s3ErrorXml(503, 'SlowDown', { Message: 'Please reduce your request rate.' })],
  [
    '403 SignatureDoesNotMatch, echoing the signed request as S3 does',
    (request, response) =>
      s3ErrorXml(403, 'SignatureDoesNotMatch', {
        Message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        AWSAccessKeyId: CANARY.accessKeyId,
        StringToSign: `AWS4-HMAC-SHA256\n${String(request.headers['x-amz-date'])}`,
        SignatureProvided: String(request.headers.authorization).split('Signature=')[1] ?? '',
        CanonicalRequest: `${request.method}\n${request.url}\n\nhost:${request.headers.host}\nx-amz-security-token:${String(request.headers['x-amz-security-token'])}`,
      })(request, response),
  ],
  [
    '403 AccessDenied',
    (request, response) =>
      s3ErrorXml(403, 'AccessDenied', {
        Message: `User: arn:aws:sts::123456789012:assumed-role/RunnerSessions-GetSession/fn is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::${CANARY.bucket}${request.url}" because no identity-based policy allows the s3:GetObject action`,
      })(request, response),
  ],
  ['404 NoSuchBucket', s3ErrorXml(404, 'NoSuchBucket', { Message: 'The specified bucket does not exist', BucketName: CANARY.bucket })],
  [
    '301 PermanentRedirect',
    s3ErrorXml(301, 'PermanentRedirect', {
      Message: 'The bucket you are attempting to access must be addressed using the specified endpoint.',
      Endpoint: `${CANARY.bucket}.s3.eu-central-1.amazonaws.com`,
      Bucket: CANARY.bucket,
    }),
  ],
  [
    '200 with a body that is not what S3 sends',
    (_, response) => {
      response.writeHead(200, { 'content-type': 'application/xml', etag: '"0123456789abcdef0123456789abcdef"' });
      response.end(`<<<not xml or json: ${CANARY.bucket}>>>`);
    },
  ],
  ['a connection reset', (request) => request.socket.destroy()],
  [
    'a response cut off mid-body',
    (_, response) => {
      response.writeHead(200, { 'content-type': 'application/xml', 'content-length': '4096' });
      response.write('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>');
      response.destroy();
    },
  ],
];

/** What must never reach a caller: the credentials, the storage layout, the AWS error, the endpoint, a stack. */
const NEVER_ANSWERED = [
  CANARY.accessKeyId,
  CANARY.secretAccessKey,
  CANARY.sessionToken,
  CANARY.bucket,
  'CANARYREQUESTID',
  'CANARYHOSTID',
  '127.0.0.1',
  'sessions/',
  'names/',
  'idempotency/',
  'arn:aws',
  'AWS4-HMAC-SHA256',
  'Signature',
  'x-amz',
  'InternalError',
  'SlowDown',
  'AccessDenied',
  'NoSuchBucket',
  'PermanentRedirect',
  'We encountered',
  'not authorized',
  'ECONNRESET',
  'socket',
  'Deserializ',
  'XML',
  '    at ',
  'node_modules',
  '.ts:',
  '.js:',
];

describe('against an S3 endpoint that fails in every way S3 and the network can, with recognisable credentials in the environment', () => {
  const endpoint = new ScriptedS3();
  let handlers: Array<{ routeKey: string; handler: HttpHandler }>;
  let savedEndpoint: string | undefined;

  beforeAll(async () => {
    const url = await endpoint.start();
    savedEndpoint = process.env.AWS_ENDPOINT_URL_S3;
    // Kept for the whole describe: the SDK resolves the endpoint at the first request, not at cold start.
    process.env.AWS_ENDPOINT_URL_S3 = url;
    const env = { SESSIONS_BUCKET: CANARY.bucket, AWS_ENDPOINT_URL_S3: url };
    handlers = [];
    // One at a time: each cold start swaps the environment in and out.
    for (const { routeKey, module } of ROUTES) handlers.push({ routeKey, handler: (await coldStartWith(module, env))[0]! });
  });
  afterAll(async () => {
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
    else process.env.AWS_ENDPOINT_URL_S3 = savedEndpoint;
    await endpoint.stop();
  });

  /** One request per route, each of which must reach storage. */
  const requestFor = (routeKey: string) => {
    const id = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
    const body = acceptableBody(routeKey);
    if (routeKey === 'POST /sessions') return apiEvent(routeKey, {}, { body: { name: 'canary-run' } });
    if (routeKey === 'GET /sessions') return apiEvent(routeKey, {}, { query: { status: 'active' } });
    if (routeKey.endsWith('/heartbeat')) return apiEvent(routeKey, { id }, { headers: { 'lease-epoch': '1' } });
    return apiEvent(routeKey, routeKey.includes('{id}') ? { id } : {}, body === undefined ? {} : { body });
  };

  it.each(ENDPOINT_FAILURES)('%s: every route that fails answers a contract error that names none of it', async (failure, answer) => {
    endpoint.answer = answer;

    for (const { routeKey, handler } of handlers) {
      const requestsBefore = endpoint.requests.length;
      const response = await invoke(handler, requestFor(routeKey));

      // The endpoint was reached, signed with the recognisable credentials: there was something to leak.
      const reached = endpoint.requests.slice(requestsBefore);
      expect(reached.length, `${routeKey} did not reach the endpoint`).toBeGreaterThan(0);
      for (const { headers } of reached) {
        expect(headers.authorization).toContain(`Credential=${CANARY.accessKeyId}/`);
        expect(headers['x-amz-security-token']).toBe(CANARY.sessionToken);
      }
      // Only a 200 can be taken for success (a create's PutObject reads nothing from the body).
      if (!failure.startsWith('200')) expect(response.statusCode, `${failure} → ${routeKey}`).toBeGreaterThanOrEqual(400);
      if (response.statusCode < 400) continue;
      const context = `${failure} → ${routeKey}: ${response.raw}`;
      expectContractError(response);
      const everything = `${response.raw}\n${JSON.stringify(response.headers)}`;
      for (const secret of NEVER_ANSWERED) expect(everything.includes(secret), `${context} contains ${secret}`).toBe(false);
    }
  });

  it('never logs the secret access key, whatever S3 answers', async () => {
    for (const [, answer] of ENDPOINT_FAILURES) {
      endpoint.answer = answer;
      for (const { routeKey, handler } of handlers) await invoke(handler, requestFor(routeKey));
    }

    expect(telemetry.logs().some((line) => line.level === 'ERROR')).toBe(true);
    expect(telemetry.text()).not.toContain(CANARY.secretAccessKey);
  });

  // lib/http/outcome.ts requestOutcome.onError logs only the name, message, code, $fault, $metadata,
  // stack and cause chain of a 500's cause, credentials redacted, never every field the SDK parsed from
  // S3's error document: for SignatureDoesNotMatch that includes CanonicalRequest, which carries the
  // x-amz-security-token header, and the function's session token would land in CloudWatch Logs.
  it('never logs the session token, even when S3 echoes the signed request back (SignatureDoesNotMatch)', async () => {
    endpoint.answer = ENDPOINT_FAILURES.find(([name]) => name.startsWith('403 SignatureDoesNotMatch'))![1];

    const response = await invoke(
      handlers.find(({ routeKey }) => routeKey === 'GET /sessions/{id}')!.handler,
      requestFor('GET /sessions/{id}'),
    );

    expect(response.statusCode).toBe(500);
    expect(telemetry.text()).not.toContain(CANARY.sessionToken);
  });
});

type Json = Record<string, any>;

/** The app as `cdk synth` builds it (cdk.json context), without bundling. */
function synthesize(): Record<string, Json> {
  const context = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<string, unknown>;
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(defineSessionsApp(app)).toJSON().Resources as Record<string, Json>;
}

const ofType = (resources: Record<string, Json>, type: string) =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

/** A request that needs S3 permissions, as IAM will see it, observed from a handler at work on the fake. */
interface Observed extends S3Request {
  routeKey: string;
  what: string;
}

/**
 * Runs every route through the situations it meets in service (create with
 * and without a name and an Idempotency-Key, a repeat, lost answers, missing
 * sessions, filters, cursors, the history of a session, a version that
 * expires between its listing and its read) on a fresh fake that answers a
 * missing key or version with 403, as S3 answers a role that may not list the
 * whole bucket, and turns each S3 call into the IAM request it makes:
 * GetObject (with a VersionId: GetObjectVersion), PutObject with its
 * condition keys, DeleteObject, ListObjectsV2 as ListBucket and
 * ListObjectVersions as ListBucketVersions, each with `s3:prefix` when it
 * names one, on the bucket (`buckets.sessions` or `buckets.leases`) the call
 * named. The lease routes and the lease sweeper meet held sessions: lapsed
 * leases with their records, heartbeats cold and warm, releases, stale epochs,
 * ended leases and records that vanish.
 */
async function observeRoutes(buckets: MatrixBuckets): Promise<Observed[]> {
  const fake = new S3Fake();
  const observed: Observed[] = [];
  // Versions that expire (lifecycle) once they were listed, and objects that expire once a write was refused, just before they are read.
  const expiring = new Set<string>();
  const vanishing = new Set<string>();
  fake.fail('GetObject', () => s3Error('AccessDenied', 403), {
    times: Number.MAX_SAFE_INTEGER,
    when: (input) => {
      const key = String(input.Key);
      if (vanishing.delete(key)) fake.deleteObject(key);
      if (typeof input.VersionId === 'string' && expiring.delete(input.VersionId)) {
        fake.versions.set(
          key,
          (fake.versions.get(key) ?? []).filter((version) => version.versionId !== input.VersionId),
        );
      }
      const found =
        input.VersionId === undefined
          ? fake.objects.has(key)
          : (fake.versions.get(key) ?? []).some((version) => version.versionId === input.VersionId && !version.deleteMarker);
      return !found;
    },
  });
  try {
    // Each route is its own function in AWS, with its own warm cache: each gets its own cold-started instance here.
    const instances = new Map<string, HttpHandler>();
    for (const { routeKey, module } of ROUTES)
      instances.set(routeKey, (await coldStartWith(module, { LEASES_BUCKET: TEST_LEASES_BUCKET }))[0]!);
    const handlerOf = (routeKey: string) => instances.get(routeKey);
    const seeded = seedSession(fake, { name: 'alpha' });
    const now = () => Math.floor(Date.now() / 1000);
    /**
     * A session held under a lease whose own expiry is `expiresIn` seconds away, with its renewal record (expiring
     * `record` seconds from now) unless `record` is undefined.
     */
    const seedHeld = ({ id, expiresIn, record, epoch = 1 }: { id?: string; expiresIn: number; record?: number; epoch?: number }) => {
      const lease = { holder: 'runner-a', epoch, seconds: 60, expires_at: now() + expiresIn };
      const held = seedSession(fake, { ...(id === undefined ? {} : { id }), lease });
      const recordKey = renewalKey(held.session.id, epoch, 60);
      if (record !== undefined)
        fake.seed(recordKey, JSON.stringify({ session_id: held.session.id, epoch, seconds: 60, expires_at: now() + record }));
      return { ...held, recordKey };
    };
    const epoch = (value: number) => ({ 'lease-epoch': String(value) });
    /** The lease sweeper as its function builds it (functions/sweep-leases.ts), its clock `aheadSeconds` ahead. */
    const sweeperAt = (aheadSeconds: number, backfillLimit?: number) => {
      const client = new S3Client(S3_CLIENT_CONFIG);
      const config = readServiceConfig();
      const clock = () => Date.now() + aheadSeconds * 1000;
      const repository = new SessionRepository({
        store: new S3ObjectStore({ bucket: TEST_BUCKET, client }),
        renewals: new S3ObjectStore({ bucket: TEST_LEASES_BUCKET, client }),
        config,
        clock,
      });
      return new LeaseSweeper({ repository, graceSeconds: config.leaseSweepSeconds, clock: { now: clock }, backfillLimit });
    };
    const scenarios: Record<string, Array<() => Promise<unknown>>> = {
      'POST /sessions': [
        () => send('POST /sessions', request.createSession({ body: {} })),
        () => send('POST /sessions', request.createSession({ body: { name: 'alpha' } })),
        // Opened held: its first renewal record is created (If-None-Match).
        () => send('POST /sessions', request.createSession({ body: { lease_seconds: 60 } })),
        () => send('POST /sessions', request.createSession({ body: { name: 'beta' }, headers: { 'idempotency-key': 'scenario-key' } })),
        () => send('POST /sessions', request.createSession({ body: { name: 'beta' }, headers: { 'idempotency-key': 'scenario-key' } })),
        () => (fake.loseNextPutAnswer(), send('POST /sessions', request.createSession({ body: {} }))),
        // Cut short before the session write: the repeat finds the record and no session yet, and finishes it.
        () => (
          failSessionWrite(),
          send('POST /sessions', request.createSession({ body: { name: 'gamma' }, headers: { 'idempotency-key': 'cut-short' } }), {
            failing: true,
          })
        ),
        () => send('POST /sessions', request.createSession({ body: { name: 'gamma' }, headers: { 'idempotency-key': 'cut-short' } })),
        // Cut short for good: a name index entry whose session never came.
        () => (failSessionWrite(), send('POST /sessions', request.createSession({ body: { name: 'delta' } }), { failing: true })),
        // A record older than the window: the repeat replaces it (If-Match) and opens a new session.
        async () => {
          const first = await send('POST /sessions', request.createSession({ body: {}, headers: { 'idempotency-key': 'expired-key' } }));
          const recordKey = String(fake.puts.findLast((put) => String(put.Key).startsWith('idempotency/'))!.Key);
          fake.seed(recordKey, JSON.stringify({ ...JSON.parse(fake.body(recordKey)!), created_at: 0 }));
          const repeat = await send('POST /sessions', request.createSession({ body: {}, headers: { 'idempotency-key': 'expired-key' } }));
          expect(repeat.statusCode).toBe(201);
          expect(repeat.body.id).not.toBe(first.body.id);
          return repeat;
        },
        // A record that expires (lifecycle) between the refused create and its read: the key is new again.
        async () => {
          await send('POST /sessions', request.createSession({ body: {}, headers: { 'idempotency-key': 'vanishing-key' } }));
          vanishing.add(String(fake.puts.findLast((put) => String(put.Key).startsWith('idempotency/'))!.Key));
          const repeat = await send('POST /sessions', request.createSession({ body: {}, headers: { 'idempotency-key': 'vanishing-key' } }));
          expect(repeat.statusCode).toBe(201);
          expect(vanishing.size).toBe(0);
          return repeat;
        },
      ],
      'GET /sessions/{id}': [
        () => send('GET /sessions/{id}', request.getSession(seeded.session.id)),
        () => send('GET /sessions/{id}', request.getSession(wellFormedIdSample())),
        // A held session is shown with the expiry its record says; a record that is missing is told by listing its key.
        () => send('GET /sessions/{id}', request.getSession(seedHeld({ expiresIn: 60, record: 120 }).session.id)),
        () => send('GET /sessions/{id}', request.getSession(seedHeld({ expiresIn: 60 }).session.id)),
      ],
      'POST /sessions/{id}/jobs': [
        () => send('POST /sessions/{id}/jobs', request.addJob(seeded.session.id, { body: { job_id: 'job-1' } })),
        () => send('POST /sessions/{id}/jobs', request.addJob(seeded.session.id, { body: { job_id: 'job-1' } })),
        () => (
          fake.loseNextPutAnswer(), send('POST /sessions/{id}/jobs', request.addJob(seeded.session.id, { body: { job_id: 'job-2' } }))
        ),
        () => send('POST /sessions/{id}/jobs', request.addJob(wellFormedIdSample(), { body: { job_id: 'job-1' } })),
        // The session's own expiry passed: the record decides (heartbeats kept the lease alive; or there is none).
        () =>
          send(
            'POST /sessions/{id}/jobs',
            request.addJob(seedHeld({ expiresIn: -30, record: 60 }).session.id, { body: { job_id: 'job-1' }, headers: epoch(1) }),
          ),
        () => send('POST /sessions/{id}/jobs', request.addJob(seedHeld({ expiresIn: -30 }).session.id, { body: { job_id: 'job-1' } })),
      ],
      'PATCH /sessions/{id}': [
        () => send('PATCH /sessions/{id}', request.setStatus(seeded.session.id, { body: { status: 'paused' } })),
        () => send('PATCH /sessions/{id}', request.setStatus(seeded.session.id, { body: { status: 'active' } })),
        () => send('PATCH /sessions/{id}', request.setStatus(wellFormedIdSample(), { body: { status: 'paused' } })),
        // The holder pauses a session its heartbeats kept alive: the record is read, and the release deletes it.
        async () => {
          const held = seedHeld({ expiresIn: -30, record: 60 });
          const response = await send(
            'PATCH /sessions/{id}',
            request.setStatus(held.session.id, { body: { status: 'paused' }, headers: epoch(1) }),
          );
          expect(response.statusCode).toBe(200);
          expect(fake.objects.has(held.recordKey)).toBe(false);
          return response;
        },
        // A lapsed lease without a record: an ordinary change, and the (empty) prune.
        () => send('PATCH /sessions/{id}', request.setStatus(seedHeld({ expiresIn: -30 }).session.id, { body: { status: 'completed' } })),
      ],
      'GET /sessions': [
        // Newest first: these two held sessions lead the page; one's record is there, the other's is not.
        () => (
          seedHeld({ expiresIn: 60, record: 120 }), seedHeld({ expiresIn: 60 }), send('GET /sessions', request.listSessions({ limit: '2' }))
        ),
        () => send('GET /sessions', request.listSessions({ limit: '1' })),
        () => send('GET /sessions', request.listSessions({ status: 'active' })),
        () => send('GET /sessions', request.listSessions({ name: 'alpha' })),
        () => send('GET /sessions', request.listSessions({ name: 'delta' })),
        () => send('GET /sessions', request.listSessions({ owner: 'me' })),
      ],
      'GET /sessions/{id}/history': [
        () => send('GET /sessions/{id}/history', apiEvent('GET /sessions/{id}/history', { id: seeded.session.id })),
        async () => {
          const oldest = fake.versionIds(seeded.key).at(-1)!;
          expiring.add(oldest);
          const response = await send('GET /sessions/{id}/history', apiEvent('GET /sessions/{id}/history', { id: seeded.session.id }));
          // Skipped, not a 500: it is no longer part of the history.
          expect(response.statusCode).toBe(200);
          expect(response.body.versions.map((version: { version_id: string }) => version.version_id)).not.toContain(oldest);
          expect(expiring.size).toBe(0);
          return response;
        },
        () => send('GET /sessions/{id}/history', apiEvent('GET /sessions/{id}/history', { id: wellFormedIdSample() })),
      ],
      'POST /sessions/{id}/restore': [
        async () => {
          const history = await send('GET /sessions/{id}/history', apiEvent('GET /sessions/{id}/history', { id: seeded.session.id }));
          const oldest = history.body.versions.at(-1).version_id as string;
          return send(
            'POST /sessions/{id}/restore',
            apiEvent('POST /sessions/{id}/restore', { id: seeded.session.id }, { body: { version_id: oldest } }),
          );
        },
        () =>
          send(
            'POST /sessions/{id}/restore',
            apiEvent('POST /sessions/{id}/restore', { id: seeded.session.id }, { body: { version_id: 'no-such-version' } }),
          ),
        // Deleted out of band (a delete marker on top): its versions remain, the session does not.
        async () => {
          const removed = seedSession(fake, { name: 'removed' });
          const [version] = fake.versionIds(removed.key);
          fake.deleteObject(removed.key);
          const event = apiEvent('POST /sessions/{id}/restore', { id: removed.session.id }, { body: { version_id: version } });
          const response = await send('POST /sessions/{id}/restore', event);
          expect(response.statusCode).toBe(404);
          return response;
        },
        // Back to a paused version of a held session, forced: the lease ends, its records go.
        async () => {
          const first = seedSession(fake, { status: 'paused' });
          const [paused] = fake.versionIds(first.key);
          const held = seedHeld({ id: first.session.id, expiresIn: 60, record: 60 });
          const event = apiEvent('POST /sessions/{id}/restore', { id: held.session.id }, { body: { version_id: paused, force: true } });
          const response = await send('POST /sessions/{id}/restore', event);
          expect(response.statusCode).toBe(200);
          expect(fake.objects.has(held.recordKey)).toBe(false);
          return response;
        },
        // Whether the lease is live, once its own expiry passed, takes its record: heartbeats kept it alive (refused), or
        // there is none (the lease lapsed: restored).
        async () => {
          const first = seedSession(fake);
          const [created] = fake.versionIds(first.key);
          const held = seedHeld({ id: first.session.id, expiresIn: -30, record: 60 });
          const event = apiEvent('POST /sessions/{id}/restore', { id: held.session.id }, { body: { version_id: created } });
          const response = await send('POST /sessions/{id}/restore', event);
          expect(response.statusCode).toBe(409);
          return response;
        },
        async () => {
          const first = seedSession(fake);
          const [created] = fake.versionIds(first.key);
          const held = seedHeld({ id: first.session.id, expiresIn: -30 });
          const event = apiEvent('POST /sessions/{id}/restore', { id: held.session.id }, { body: { version_id: created } });
          const response = await send('POST /sessions/{id}/restore', event);
          expect(response.statusCode).toBe(200);
          return response;
        },
      ],
      'POST /sessions/{id}/owner': [
        // An operator adopts a session stored before owners: the new owner's index entry, then the compare-and-swap.
        async () => {
          const { session } = seedSession(fake, { name: 'adopted' });
          const body = { owner: 'arn:aws:iam::123456789012:role/fleet' };
          const response = await send('POST /sessions/{id}/owner', apiEvent('POST /sessions/{id}/owner', { id: session.id }, { body }));
          expect(response.statusCode).toBe(200);
          expect(response.body.owner).toBe(body.owner);
          return response;
        },
        () =>
          send(
            'POST /sessions/{id}/owner',
            apiEvent(
              'POST /sessions/{id}/owner',
              { id: wellFormedIdSample() },
              { body: { owner: 'arn:aws:iam::123456789012:role/fleet' } },
            ),
          ),
      ],
      'POST /sessions/{id}/lease': [
        // A lapsed lease, its record lapsed too: the record is fenced (If-Match), the new epoch's created, the old one's pruned.
        async () => {
          const lapsed = seedHeld({ expiresIn: -30, record: -30 });
          const response = await send(
            'POST /sessions/{id}/lease',
            request.acquireLease(lapsed.session.id, { body: { holder: 'runner-b' } }),
          );
          expect(response.statusCode).toBe(200);
          expect(response.body.lease.epoch).toBe(2);
          expect(fake.objects.has(lapsed.recordKey)).toBe(false);
          expect(fake.objects.has(renewalKey(lapsed.session.id, 2, 60))).toBe(true);
          return response;
        },
        // A live lease whose record is missing, taken over by force.
        () => send('POST /sessions/{id}/lease', request.acquireLease(seedHeld({ expiresIn: 60 }).session.id, { body: { force: true } })),
        () => send('POST /sessions/{id}/lease', request.acquireLease(wellFormedIdSample(), { body: {} })),
        // A resume: paused → active moves the session's status index entry.
        () => send('POST /sessions/{id}/lease', request.acquireLease(seedSession(fake, { status: 'paused' }).session.id, { body: {} })),
      ],
      'POST /sessions/{id}/heartbeat': [
        // Cold: the session and the record are read, the record replaced; warm: one PUT If-Match.
        async () => {
          const { session } = seedSession(fake);
          const acquired = await send('POST /sessions/{id}/lease', request.acquireLease(session.id, { body: {} }));
          expect(acquired.statusCode).toBe(200);
          const before = fake.stub.calls().length;
          expect((await send('POST /sessions/{id}/heartbeat', request.heartbeat(session.id, { headers: epoch(1) }))).statusCode).toBe(200);
          const cold = fake.stub.calls().length - before;
          const warm = await send('POST /sessions/{id}/heartbeat', request.heartbeat(session.id, { headers: epoch(1) }));
          expect(warm.statusCode).toBe(200);
          expect(fake.stub.calls().length - before - cold).toBe(1);
          return warm;
        },
        // A held session without a record: the missing record is told by listing its key, and created.
        () => send('POST /sessions/{id}/heartbeat', request.heartbeat(seedHeld({ expiresIn: 60 }).session.id, { headers: epoch(1) })),
        () => send('POST /sessions/{id}/heartbeat', request.heartbeat(wellFormedIdSample(), { headers: epoch(1) })),
      ],
    };

    function failSessionWrite() {
      fake.fail('PutObject', () => s3Error('InternalError', 500), { when: (input) => String(input.Key).startsWith('sessions/') });
    }

    async function send(routeKey: string, event: ReturnType<typeof apiEvent>, { failing = false } = {}) {
      const before = fake.stub.calls().length;
      const response = await invoke(handlerOf(routeKey)!, event);
      expect(response.statusCode, `${routeKey}: ${response.raw}`).toBe(
        failing ? 503 : response.statusCode < 500 ? response.statusCode : 'below 500',
      );
      record(routeKey, before);
      return response;
    }

    /** The S3 calls since call number `before`, as the IAM requests of the role `routeKey`. */
    function record(routeKey: string, before: number): void {
      for (const call of fake.stub.calls().slice(before)) {
        const command = call.args[0] as unknown as { constructor: { name: string }; input: Record<string, string | undefined> };
        const { input } = command;
        const what = `${command.constructor.name} ${input.Bucket}/${input.Key ?? input.Prefix}`;
        const bucketArn =
          input.Bucket === TEST_BUCKET ? buckets.sessions : input.Bucket === TEST_LEASES_BUCKET ? buckets.leases : undefined;
        if (bucketArn === undefined) throw new Error(`${routeKey} sent ${what}: a bucket of no scenario`);
        const conditions = {
          ...(input.IfNoneMatch === undefined ? {} : { 's3:if-none-match': input.IfNoneMatch }),
          ...(input.IfMatch === undefined ? {} : { 's3:if-match': input.IfMatch }),
        };
        switch (command.constructor.name) {
          case 'GetObjectCommand':
            observed.push({
              routeKey,
              what,
              action: input.VersionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion',
              resource: `${bucketArn}/${input.Key}`,
              context: { ...OVER_TLS },
            });
            break;
          case 'PutObjectCommand': {
            // A write with `Tagging` (an ending write's ended tag) needs s3:PutObjectTagging too, for the same tags.
            const tags = input.Tagging === undefined ? {} : settingTags(Object.fromEntries(new URLSearchParams(input.Tagging)));
            observed.push({
              routeKey,
              what,
              action: 's3:PutObject',
              resource: `${bucketArn}/${input.Key}`,
              context: { ...OVER_TLS, ...conditions, ...tags },
            });
            if (input.Tagging !== undefined)
              observed.push({
                routeKey,
                what,
                action: 's3:PutObjectTagging',
                resource: `${bucketArn}/${input.Key}`,
                context: { ...OVER_TLS, ...tags },
              });
            break;
          }
          case 'PutObjectTaggingCommand': {
            const { TagSet } = (command.input as unknown as { Tagging: { TagSet: { Key: string; Value: string }[] } }).Tagging;
            observed.push({
              routeKey,
              what,
              action: input.VersionId === undefined ? 's3:PutObjectTagging' : 's3:PutObjectVersionTagging',
              resource: `${bucketArn}/${input.Key}`,
              context: { ...OVER_TLS, ...settingTags(Object.fromEntries(TagSet.map(({ Key, Value }) => [Key, Value]))) },
            });
            break;
          }
          case 'DeleteObjectTaggingCommand':
            // The service removes only the ended tag it set itself, from a version that carries it.
            observed.push({
              routeKey,
              what,
              action: input.VersionId === undefined ? 's3:DeleteObjectTagging' : 's3:DeleteObjectVersionTagging',
              resource: `${bucketArn}/${input.Key}`,
              context: { ...OVER_TLS, ...onTagged({ [ENDED_TAG.key]: ENDED_TAG.value }) },
            });
            break;
          case 'DeleteObjectCommand':
            observed.push({
              routeKey,
              what,
              action: 's3:DeleteObject',
              resource: `${bucketArn}/${input.Key}`,
              context: { ...OVER_TLS, ...conditions },
            });
            break;
          case 'ListObjectsV2Command':
            observed.push({
              routeKey,
              what,
              action: 's3:ListBucket',
              resource: bucketArn,
              context: { ...OVER_TLS, ...listed(input.Prefix) },
            });
            break;
          case 'ListObjectVersionsCommand':
            observed.push({
              routeKey,
              what,
              action: 's3:ListBucketVersions',
              resource: bucketArn,
              context: { ...OVER_TLS, ...listed(input.Prefix) },
            });
            break;
          default:
            throw new Error(`${routeKey} sent ${command.constructor.name}, which this scenario does not map to IAM`);
        }
      }
    }

    /** One run of the lease sweeper, as a scheduled invocation `aheadSeconds` from now would make it. */
    async function sweep(aheadSeconds: number, backfillLimit?: number): Promise<SweepReport> {
      const before = fake.stub.calls().length;
      const report = await sweeperAt(aheadSeconds, backfillLimit).sweep();
      record(SWEEPER, before);
      return report;
    }

    /** S3 sets `s3:prefix` only when the request names a prefix (an empty one included). */
    function listed(prefix: string | undefined): Record<string, string> {
      return prefix === undefined ? {} : { 's3:prefix': prefix };
    }

    for (const { routeKey } of ROUTES) {
      const steps = scenarios[routeKey];
      if (steps === undefined) throw new Error(`no scenario for ${routeKey}: add one to observeRoutes in test/properties/security.test.ts`);
      for (const step of steps) await step();
    }

    // The sweeper, an hour on (every lease above has lapsed by then): besides what the routes left, a held session to pause,
    // a stale epoch beside a live one, an ended lease's record, a record of a session that is gone, and a record that
    // vanishes between its listing and its read.
    const lapsing = seedHeld({ expiresIn: 60, record: 60 });
    const stale = seedHeld({ epoch: 2, expiresIn: 4000, record: 4000 });
    const staleKey = renewalKey(stale.session.id, 1, 60);
    fake.seed(staleKey, JSON.stringify({ session_id: stale.session.id, epoch: 1, seconds: 60, expires_at: now() }));
    const ended = seedSession(fake, {
      status: 'paused',
      lease: { holder: 'runner-a', epoch: 1, seconds: 60, expires_at: now(), ended: 'released' },
    });
    const endedKey = renewalKey(ended.session.id, 1, 60);
    fake.seed(endedKey, JSON.stringify({ session_id: ended.session.id, epoch: 1, seconds: 60, expires_at: now() }));
    const orphanId = wellFormedIdSample();
    fake.seed(renewalKey(orphanId, 1, 60), JSON.stringify({ session_id: orphanId, epoch: 1, seconds: 60, expires_at: now() }));
    const vanishingRecord = seedHeld({ expiresIn: 60, record: 60 });
    vanishing.add(vanishingRecord.recordKey);

    // Its status index backfill takes two runs here: the first records how far it got, the second completes it.
    const report = await sweep(3600, 3);
    expect(report.backfilled).toBe(3);
    expect((await sweep(3600)).backfilled).toBeGreaterThan(0);
    // From then on a status listing reads the index.
    const activePage = await send('GET /sessions', request.listSessions({ status: 'active' }));
    expect(activePage.body.sessions.length).toBeGreaterThan(0);
    expect(new Set(activePage.body.sessions.map((session: { status: string }) => session.status))).toEqual(new Set(['active']));

    expect(report.expired).toEqual(expect.arrayContaining([lapsing.session.id, vanishingRecord.session.id]));
    expect(report.expired).not.toContain(stale.session.id);
    for (const key of [lapsing.recordKey, staleKey, endedKey, renewalKey(orphanId, 1, 60)]) expect(fake.objects.has(key), key).toBe(false);
    expect(fake.objects.has(stale.recordKey)).toBe(true);
    expect(vanishing.size).toBe(0);
    expectLawfulS3Traffic(fake, SCENARIO_BUCKETS);
  } finally {
    fake.restore();
  }
  return observed;
}

let sample = 0;
/** Well-formed session IDs that name no session. */
function wellFormedIdSample(): string {
  return fc.sample(wellFormedId, { numRuns: 1, seed: ++sample })[0]!;
}

describe('the synthesized template, held against what the handlers do', () => {
  let resources: Record<string, Json>;
  /** The ARNs of the sessions bucket and the leases bucket, as the functions' environment names them. */
  let buckets: MatrixBuckets;
  /** The bucket policy of each bucket, by bucket ARN. */
  const bucketStatements = new Map<string, Statement[]>();
  let observed: Observed[];
  /** The statements of the role of each function: each route's, by route key, and the sweeper's ({@link SWEEPER}). */
  const roleStatements = new Map<string, Statement[]>();
  const functionOf = new Map<string, string>();
  /** The logical ID of the role of each function. */
  const roleOf = new Map<string, string>();

  /** The policy of the bucket that `resource` (a bucket or an object ARN) lies in. */
  const policyOf = (resource: string) => {
    const arn = Object.values(buckets).find((candidate) => resource === candidate || resource.startsWith(`${candidate}/`));
    if (arn === undefined) throw new Error(`${resource} is in no bucket of the service`);
    return bucketStatements.get(arn)!;
  };

  beforeAll(() => {
    resources = synthesize();
    const addRole = (key: string, functionId: string) => {
      const roleId = resources[functionId]!.Properties.Role['Fn::GetAtt'][0] as string;
      const inline = (resources[roleId]!.Properties.Policies ?? []).flatMap((policy: Json) => policy.PolicyDocument.Statement);
      const attached = ofType(resources, 'AWS::IAM::Policy')
        .filter(([, policy]) => (policy.Properties.Roles ?? []).some((role: Json) => role.Ref === roleId))
        .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);
      roleStatements.set(key, [...inline, ...attached]);
      functionOf.set(key, functionId);
      roleOf.set(key, roleId);
    };
    for (const [, route] of ofType(resources, 'AWS::ApiGatewayV2::Route')) {
      const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref as string;
      addRole(route.Properties.RouteKey, resources[integrationId]!.Properties.IntegrationUri['Fn::GetAtt'][0] as string);
    }
    const schedule = ofType(resources, 'AWS::Events::Rule').find(([, rule]) => rule.Properties.ScheduleExpression !== undefined);
    addRole(SWEEPER, schedule![1].Properties.Targets[0].Arn['Fn::GetAtt'][0] as string);
    const environment = resources[functionOf.get(SWEEPER)!]!.Properties.Environment.Variables;
    buckets = { sessions: `arn:aws:s3:::${environment.SESSIONS_BUCKET.Ref}`, leases: `arn:aws:s3:::${environment.LEASES_BUCKET.Ref}` };
    for (const [, policy] of ofType(resources, 'AWS::S3::BucketPolicy')) {
      bucketStatements.set(`arn:aws:s3:::${policy.Properties.Bucket.Ref}`, policy.Properties.PolicyDocument.Statement);
    }
  });

  const observations = async () => (observed ??= await observeRoutes(buckets));
  /** The rule that runs the announcer: the one on an event pattern rather than a schedule. */
  const announcerRule = () => {
    const rules = ofType(resources, 'AWS::Events::Rule').filter(([, rule]) => rule.Properties.EventPattern !== undefined);
    expect(rules).toHaveLength(1);
    return rules[0]!;
  };

  it('deploys exactly the routes the handlers and the local server serve, and the lease sweeper', () => {
    expect([...roleStatements.keys()].sort()).toEqual([...ROUTES.map(({ routeKey }) => routeKey), SWEEPER].sort());
  });

  it('gives every function the same two buckets, of distinct names, each with a policy', () => {
    expect(buckets.sessions).not.toBe(buckets.leases);
    for (const [key, functionId] of functionOf) {
      const variables = resources[functionId]!.Properties.Environment.Variables;
      expect([`arn:aws:s3:::${variables.SESSIONS_BUCKET.Ref}`, `arn:aws:s3:::${variables.LEASES_BUCKET.Ref}`], key).toEqual([
        buckets.sessions,
        buckets.leases,
      ]);
    }
    for (const arn of Object.values(buckets)) expect(bucketStatements.get(arn), arn).toBeDefined();
  });

  it('allows every S3 request each function was seen to make, through its own role, and the bucket policy denies none of them (simulated)', async () => {
    const refused: string[] = [];
    for (const request of await observations()) {
      const decision = await simulate(
        roleOf.get(request.routeKey)!,
        roleStatements.get(request.routeKey)!,
        policyOf(request.resource),
        request,
      );
      if (decision !== 'Allowed') refused.push(`${request.routeKey}: ${request.what} → ${request.action} ${decision}`);
    }

    expect(refused).toEqual([]);
  });

  // Each role × every S3 action the service can use × every prefix (and a key outside them) × the condition headers
  // (s3:if-none-match, s3:if-match) × what a listing names (no s3:prefix, the whole bucket, a whole prefix, one key,
  // a folder within a prefix), simulated against the role's policy and the bucket policy together.
  /**
   * Cells granted ahead of the handlers that will use them (retention, #27: the ended tag on ending writes, its
   * removal from a version a restore replaces, and the sweeper's clearing of what lifecycle cannot reach): allowed,
   * not yet seen. Each must stay exactly that; once the handlers are seen to use one, its entry goes.
   */
  const GRANTED_AHEAD_OF_USE = [
    'PATCH /sessions/{id}: [sessions] s3:PutObjectTagging sessions/… setting runner-sessions:ended=true',
    'POST /sessions/{id}/restore: [sessions] s3:PutObjectTagging sessions/… setting runner-sessions:ended=true',
    'POST /sessions/{id}/restore: [sessions] s3:DeleteObjectVersionTagging sessions/… of an object tagged runner-sessions:ended=true',
    'POST /sessions/{id}/owner: [sessions] s3:PutObjectTagging sessions/… setting runner-sessions:ended=true',
    `${SWEEPER}: [sessions] s3:PutObjectVersionTagging sessions/… setting runner-sessions:ended=true`,
    `${SWEEPER}: [sessions] s3:DeleteObjectVersionTagging sessions/… of an object tagged runner-sessions:ended=true`,
    `${SWEEPER}: [sessions] s3:DeleteObject names/…`,
    `${SWEEPER}: [sessions] s3:ListBucket s3:prefix names/ (all of it)`,
    `${SWEEPER}: [leases] s3:DeleteObject announced/…`,
    `${SWEEPER}: [leases] s3:ListBucket s3:prefix announced/ (all of it)`,
    `${SWEEPER}: [leases] s3:ListBucket s3:prefix a folder within status/`,
  ];

  it('allows, per role, exactly the cells of the S3 request matrix that the function was seen to use (simulated)', async () => {
    const cells = matrixCells(buckets);
    const seen = await observations();
    const mismatches: string[] = [];
    const ahead: string[] = [];
    let simulated = 0;
    for (const [routeKey, statements] of roleStatements) {
      const used = new Set(seen.filter((request) => request.routeKey === routeKey).map((request) => cellLabel(request, buckets)));
      for (const { label, request } of cells) {
        const decision = await simulate(roleOf.get(routeKey)!, statements, policyOf(request.resource), request);
        simulated += 1;
        if ((decision === 'Allowed') === used.has(label)) continue;
        if (decision === 'Allowed' && GRANTED_AHEAD_OF_USE.includes(`${routeKey}: ${label}`)) ahead.push(`${routeKey}: ${label}`);
        else mismatches.push(`${routeKey}: ${label}: ${decision}, ${used.has(label) ? 'used' : 'never used'}`);
      }
      expect(
        [...used].filter((label) => !cells.some((cell) => cell.label === label)),
        routeKey,
      ).toEqual([]);
    }

    expect(mismatches).toEqual([]);
    expect(ahead.sort()).toEqual([...GRANTED_AHEAD_OF_USE].sort());
    expect(simulated).toBe(roleStatements.size * cells.length);
    console.info(
      `IAM matrix: ${roleStatements.size} roles × ${cells.length} S3 requests = ${simulated} cells simulated, allowed exactly where used`,
    );
  });

  it('names in its roles no S3 action and no bucket or prefix that the matrix leaves out, so the matrix covers every grant', () => {
    const outside: string[] = [];
    const bucketArns = Object.values(buckets);
    const prefixes = bucketArns.flatMap((bucketArn) => MATRIX_PREFIXES.map(({ prefix }) => `${bucketArn}/${prefix}*`));
    for (const [routeKey, statements] of roleStatements) {
      for (const statement of statements.filter((candidate) => candidate.Effect === 'Allow')) {
        const actions = (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).filter((action) =>
          action.startsWith('s3:'),
        );
        if (actions.length === 0) continue;
        const resources = (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(resolve);
        for (const action of actions) {
          const onObjects = action in MATRIX_OBJECT_ACTIONS || [...MATRIX_TAG_SETTERS, ...MATRIX_TAG_REMOVERS].includes(action as never);
          if (!onObjects && !(MATRIX_LIST_ACTIONS as readonly string[]).includes(action)) outside.push(`${routeKey}: ${action}`);
          for (const resource of resources) {
            if (onObjects ? !prefixes.includes(resource) : !bucketArns.includes(resource))
              outside.push(`${routeKey}: ${action} on ${resource}`);
          }
        }
      }
    }

    expect(outside).toEqual([]);
  });

  it('denies an unconditional PutObject to every key the service writes, whoever sends it, and lets the conditional one through (simulated)', async () => {
    const administrator: Statement[] = [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }];
    const written = [
      ...new Set((await observations()).filter((request) => request.action === 's3:PutObject').map((request) => request.resource)),
    ];
    const decide = (context: Record<string, string>, resource: string) =>
      simulate('Administrator', administrator, policyOf(resource), { action: 's3:PutObject', resource, context });

    expect(written.length).toBeGreaterThan(0);
    for (const resource of written) {
      expect(await decide({ ...OVER_TLS }, resource), resource).toBe('ExplicitlyDenied');
      expect(await decide({ ...OVER_TLS, 's3:if-none-match': '*' }, resource), resource).toBe('Allowed');
      expect(await decide({ ...OVER_TLS, 's3:if-match': '"etag"' }, resource), resource).toBe('Allowed');
      expect(await decide({ 'aws:SecureTransport': 'false', 's3:if-match': '"etag"' }, resource), resource).toBe('ExplicitlyDenied');
    }
  });

  it("lets only API Gateway invoke each route's function, only from this API and only for its own route's method and path; no function URL", () => {
    const permissions = ofType(resources, 'AWS::Lambda::Permission');
    const apiId = ofType(resources, 'AWS::ApiGatewayV2::Api')[0]![0];

    const announcerId = announcerRule()[1].Properties.Targets[0].Arn['Fn::GetAtt'][0] as string;

    expect(ofType(resources, 'AWS::Lambda::Url')).toEqual([]);
    expect(permissions.map(([, permission]) => permission.Properties.FunctionName['Fn::GetAtt'][0]).sort()).toEqual(
      [...functionOf.values(), announcerId].sort(),
    );
    for (const [routeKey, functionId] of functionOf) {
      if (routeKey === SWEEPER) continue;
      const [, permission] = permissions.find(([, candidate]) => candidate.Properties.FunctionName['Fn::GetAtt'][0] === functionId)!;
      const [method, path] = routeKey.split(' ') as [string, string];
      expect(permission.Properties, routeKey).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com' });
      expect(resolve(permission.Properties.SourceArn), routeKey).toBe(
        `arn:aws:execute-api:eu-west-1:123456789012:${apiId}/*/${method}${path}`,
      );
    }
  });

  it('lets only its schedule invoke the lease sweeper, through EventBridge', () => {
    const sweeperId = functionOf.get(SWEEPER)!;
    const permissions = ofType(resources, 'AWS::Lambda::Permission').filter(
      ([, candidate]) => candidate.Properties.FunctionName['Fn::GetAtt'][0] === sweeperId,
    );
    const [scheduleId] = ofType(resources, 'AWS::Events::Rule').find(([, rule]) => rule.Properties.ScheduleExpression !== undefined)!;

    expect(permissions.map(([, permission]) => permission.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [sweeperId, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [scheduleId, 'Arn'] },
      },
    ]);
  });

  it('lets only its rule on S3 writes invoke the announcer, through EventBridge', () => {
    const [ruleId, rule] = announcerRule();
    const announcerId = rule.Properties.Targets[0].Arn['Fn::GetAtt'][0] as string;
    const permissions = ofType(resources, 'AWS::Lambda::Permission').filter(
      ([, candidate]) => candidate.Properties.FunctionName['Fn::GetAtt'][0] === announcerId,
    );

    expect(rule.Properties.EventPattern.source).toEqual(['aws.s3']);
    expect(permissions.map(([, permission]) => permission.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [announcerId, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      },
    ]);
  });

  it('lets only Lambda assume the functions’ roles', () => {
    for (const [, functionId] of functionOf) {
      const roleId = resources[functionId]!.Properties.Role['Fn::GetAtt'][0] as string;
      expect(resources[roleId]!.Properties.AssumeRolePolicyDocument.Statement, roleId).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
  });

  it('allows nothing anywhere with a wildcard action, to any resource, or to every principal', () => {
    const allows = Object.entries(resources).flatMap(([id, resource]) => {
      const documents = [
        resource.Properties?.PolicyDocument,
        resource.Properties?.AssumeRolePolicyDocument,
        ...(resource.Properties?.Policies ?? []).map((policy: Json) => policy.PolicyDocument),
      ].filter(Boolean);
      return documents.flatMap((document: Json) =>
        document.Statement.filter((statement: Json) => statement.Effect === 'Allow').map((statement: Json) => ({ id, statement })),
      );
    });

    expect(allows.length).toBeGreaterThan(0);
    for (const { id, statement } of allows) {
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      expect(
        actions.filter((action: string) => action.includes('*')),
        id,
      ).toEqual([]);
      expect(statement.Resource, id).not.toBe('*');
      expect([statement.Principal, statement.Principal?.AWS].flat(), id).not.toContain('*');
    }
  });
});

describe('grants to callers, held against the route table (simulated)', () => {
  const SESSION_ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
  /** A route added to the table without a runner mark, as an owner change or any later route would be. */
  const UNMARKED: DeployedRoute = {
    id: 'SessionAudit',
    method: HttpMethod.GET,
    path: '/sessions/{id}/audit',
    handler: 'get-session',
    access: [{ prefix: 'sessions/', objectActions: ['s3:GetObjectVersion'] }],
  };
  let resources: Record<string, Json>;
  let apiId: string;
  const granteeIds: Record<'runner' | 'operator' | 'bystander', string> = { runner: '', operator: '', bystander: '' };

  beforeAll(() => {
    const context = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<string, unknown>;
    const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const stack = defineSessionsApp(app, { service: { routes: [...DEPLOYED_ROUTES, UNMARKED] } });
    const role = (id: string) => new Role(stack, id, { assumedBy: new AccountRootPrincipal() });
    const runner = role('Runner');
    const operator = role('Operator');
    const bystander = role('Bystander');
    // Granted on another API only, so that its policy exists and decides.
    bystander.addToPolicy(
      new PolicyStatement({
        actions: ['execute-api:Invoke'],
        resources: ['arn:aws:execute-api:eu-west-1:123456789012:otherapi/$default/GET/sessions'],
      }),
    );
    stack.service.grantRunner(runner);
    stack.service.grantOperator(operator);
    resources = Template.fromStack(stack).toJSON().Resources as Record<string, Json>;
    for (const [name, construct] of [
      ['runner', runner],
      ['operator', operator],
      ['bystander', bystander],
    ] as const) {
      granteeIds[name] = stack.resolve((construct.node.defaultChild as CfnRole).logicalId) as string;
    }
    apiId = ofType(resources, 'AWS::ApiGatewayV2::Api')[0]![0];
  });

  const statementsOf = (roleId: string): Statement[] =>
    ofType(resources, 'AWS::IAM::Policy')
      .filter(([, policy]) => (policy.Properties.Roles ?? []).some((role: Json) => role.Ref === roleId))
      .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);

  const invoke = (who: keyof typeof granteeIds, method: string, path: string) =>
    simulateInvoke(`arn:aws:sts::123456789012:assumed-role/${granteeIds[who]}/host-1`, statementsOf(granteeIds[who]), {
      apiId,
      method,
      path,
    });

  /** Every route of the table and the unmarked one, with the path of a call on a real session ID, and whether runners use it. */
  const calls = () =>
    [
      ...API_ROUTES.map((route) => {
        const [method, path] = route.routeKey.split(' ') as [string, string];
        return { method, path, runner: RUNNER_OPERATIONS.has(route.docs.operationId) };
      }),
      { method: UNMARKED.method, path: UNMARKED.path, runner: false },
    ].map((call) => ({ ...call, path: call.path.replace('{id}', SESSION_ID) }));

  it('lets a runner call exactly the routes marked for runners: never restore, an owner change or a route added unmarked', async () => {
    const decisions = await Promise.all(
      calls().map(async (call) => [`${call.method} ${call.path}`, await invoke('runner', call.method, call.path), call.runner] as const),
    );
    expect(decisions.filter(([, decision, runner]) => (decision === 'Allowed') !== runner)).toEqual([]);
    // Restore is in the table and not for runners; so is every route the table gains unless it is marked.
    expect(decisions.find(([call]) => call === `POST /sessions/${SESSION_ID}/restore`)?.[1]).toBe('ImplicitlyDenied');
    expect(decisions.find(([call]) => call === `POST /sessions/${SESSION_ID}/owner`)?.[1]).toBe('ImplicitlyDenied');
    expect(decisions.find(([call]) => call === `GET /sessions/${SESSION_ID}/audit`)?.[1]).toBe('ImplicitlyDenied');
    expect(decisions.filter(([, decision]) => decision === 'Allowed')).toHaveLength(RUNNER_OPERATIONS.size);
  });

  it("matches no other path with a runner's grant: another method, a longer path, an ID of another length", async () => {
    for (const [method, path] of [
      ['DELETE', `/sessions/${SESSION_ID}`],
      ['PUT', '/sessions'],
      ['GET', `/sessions/${SESSION_ID}/history/x`],
      ['GET', `/sessions/${SESSION_ID}x`],
      ['GET', `/sessions/${SESSION_ID.slice(1)}`],
      ['POST', `/sessions/${SESSION_ID}/owner`],
      ['POST', `/sessions/${SESSION_ID}/jobs/x`],
    ]) {
      expect(await invoke('runner', method!, path!), `${method} ${path}`).toBe('ImplicitlyDenied');
    }
  });

  it('lets an operator call every route, and a principal granted nothing none', async () => {
    for (const { method, path } of calls()) {
      expect(await invoke('operator', method, path), `${method} ${path}`).toBe('Allowed');
      expect(await invoke('bystander', method, path), `${method} ${path}`).toBe('ImplicitlyDenied');
    }
  });
});
