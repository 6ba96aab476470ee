import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ContractErrorBodySchema, ERROR_STATUS, SessionHistorySchema, SessionListSchema } from '../lib/client/schemas.ts';
import {
  ConflictRetry,
  type ErrorCode,
  InternalError,
  InvalidRequest,
  InvalidTransition,
  JobFinished,
  LeaseHeld,
  LeaseLost,
  LeaseRequired,
  PayloadTooLarge,
  PreconditionFailed,
  type ServiceError,
  SessionFull,
  SessionNotActive,
  SessionNotFound,
  StorageUnavailable,
  UnsupportedMediaType,
  VersioningDisabled,
} from '../lib/domain/errors.ts';
import { ExitCodeSchema, FINAL_JOB_STATES, JobCountsSchema, JobOutcomeSchema } from '../lib/domain/job-outcome.ts';
import { HISTORY_LIMIT, SESSION_LIST_LIMIT } from '../lib/domain/limits.ts';
import {
  JobIdSchema,
  LabelSchema,
  LEASE_SECONDS,
  LeaseSchema,
  LeaseSecondsSchema,
  SessionNameSchema,
  SessionSchema,
  SessionStatusSchema,
  StoredLabelSchema,
} from '../lib/domain/session.ts';
import * as z from '../lib/domain/zod.ts';
import { MAX_BODY_BYTES } from '../lib/http/request-body.ts';
import {
  API_ROUTES,
  type ApiRoute,
  type DocumentedHeader,
  type RouteErrorResponse,
  routeParts,
  type SharedErrorResponse,
} from '../lib/http/route-table.ts';
import {
  AcquireLeaseBodySchema,
  AddJobBodySchema,
  CreateSessionBodySchema,
  HeartbeatBodySchema,
  RestoreSessionBodySchema,
  SessionIdSchema,
  SetStatusBodySchema,
} from '../lib/http/schemas.ts';
import { ForbiddenOrigin, type LocalRefusal, type LocalRefusalCode, Unauthorized } from '../lib/local/refusals.ts';
import { IDEMPOTENCY_KEY_MAX_LENGTH } from '../lib/sessions/idempotency.ts';

/** What a heartbeat answers: only the lease, extended. */
const LeaseRenewalSchema = z.object({ lease: LeaseSchema });

/** A change's answer under `Prefer: return=minimal` (lib/http/responses.ts): what it did, not the whole session. */
export const SessionMinimalSchema = z.strictObject({
  id: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
  status: SessionStatusSchema,
  job_count: z.number().check(z.int(), z.nonnegative(), z.describe('How many job IDs the session holds')),
  job_counts: JobCountsSchema.check(z.describe('How many jobs the session holds, and how many of them are in each state')),
  updated_at: z.number().check(z.int(), z.nonnegative()),
  lease: z.nullable(LeaseSchema).check(z.describe('The lease, or null when the session never had one')),
});

/** `Lease-Epoch`: an integer, as `lease.epoch` is (sent as its decimal digits, at most 15 of them). */
const LEASE_EPOCH_SCHEMA = { type: 'integer', minimum: 0, maximum: 10 ** 15 - 1 };

/** Where the committed document lives: the repository root. */
export const OPENAPI_PATH = path.resolve(import.meta.dirname, '..', 'openapi.json');

type JsonObject = Record<string, unknown>;

/** U+xFFFE and U+xFFFF of the supplementary planes, as a `u`-flag class would list them. */
const SUPPLEMENTARY_NONCHARACTERS = Array.from({ length: 16 }, (_, index) => (index + 1).toString(16).toUpperCase())
  .map((plane) => `\\u{${plane}FFFE}\\u{${plane}FFFF}`)
  .join('');

/**
 * What the zod refinements of a label mean, for JSON Schema readers (refinements themselves cannot be converted):
 * no control characters, bidi controls, line or paragraph separators, or noncharacters.
 */
const NO_CONTROL_CHARACTERS = `^[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u2028-\\u202E\\u2066-\\u2069\\uFDD0-\\uFDEF\\uFFFE\\uFFFF${SUPPLEMENTARY_NONCHARACTERS}]*$`;
const SESSION_ID_PATTERN = '^[0-9a-f]{32}$';

/**
 * The components generated from the zod schemas, through one registry so
 * that `SessionList` refers to `Session` by `$ref`.
 */
function schemaComponents(): Record<string, JsonObject> {
  const components: [string, z.ZodMiniType, 'input' | 'output'][] = [
    ['Session', SessionSchema, 'output'],
    ['SessionMinimal', SessionMinimalSchema, 'output'],
    ['JobOutcome', JobOutcomeSchema, 'output'],
    ['SessionList', SessionListSchema, 'output'],
    ['Error', ContractErrorBodySchema, 'input'],
    ['CreateSessionRequest', CreateSessionBodySchema, 'input'],
    ['AddJobRequest', AddJobBodySchema, 'input'],
    ['SetStatusRequest', SetStatusBodySchema, 'input'],
    ['SessionHistory', SessionHistorySchema, 'output'],
    ['RestoreSessionRequest', RestoreSessionBodySchema, 'input'],
    ['AcquireLeaseRequest', AcquireLeaseBodySchema, 'input'],
    ['HeartbeatRequest', HeartbeatBodySchema, 'input'],
    ['LeaseRenewal', LeaseRenewalSchema, 'output'],
    ['GatewayMessage', GatewayMessageSchema, 'output'],
  ];
  const result: Record<string, JsonObject> = {};
  for (const io of ['output', 'input'] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema, side] of components) if (side === io) registry.add(schema, { id });
    const generated = z.toJSONSchema(registry, {
      io,
      uri: (id) => `#/components/schemas/${id}`,
      // The one custom schema (outcomes, checked in place) is described by the override below.
      unrepresentable: 'any',
      override: ({ zodSchema, jsonSchema }) => {
        if (zodSchema === LabelSchema || zodSchema === JobIdSchema || zodSchema === StoredLabelSchema)
          jsonSchema.pattern = NO_CONTROL_CHARACTERS;
        // The refinement of a lease's length, as bounds.
        if (zodSchema === LeaseSecondsSchema) Object.assign(jsonSchema, { minimum: LEASE_SECONDS.min, maximum: LEASE_SECONDS.max });
        // Outcomes are checked in place (a custom check): as JSON Schema, an object of outcomes.
        if (zodSchema._zod.def.type === 'custom')
          Object.assign(jsonSchema, { type: 'object', additionalProperties: ref('schemas', 'JobOutcome') });
        if (zodSchema === ExitCodeSchema) Object.assign(jsonSchema, { format: 'int32', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 });
      },
    }).schemas;
    for (const [id, schema] of Object.entries(generated)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema as JsonObject;
      result[id] = rest;
    }
  }
  const error = {
    description: 'The shape of every error the service answers; the schema of each code (`SessionFullError`…) types its `details`.',
    ...result.Error,
  };
  return {
    ...Object.fromEntries(components.map(([id]) => [id, id === 'Error' ? error : result[id]!])),
    ...errorCodeComponents(),
    ...localRefusalComponents(),
  };
}

/** A zod schema as an OpenAPI schema object (the dialect is the document's, so no `$schema`). */
function jsonSchemaOf(schema: z.ZodMiniType): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as JsonObject;
  return rest;
}

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
const json = (schema: JsonObject) => ({ 'application/json': { schema } });

/** A Unix time in whole seconds. */
const unixSeconds = () => z.number().check(z.int(), z.nonnegative());

/**
 * What `details` holds for each code: the fields the classes of lib/domain/errors.ts
 * set (test/scripts/openapi.test.ts checks every class against its entry).
 */
export const ERROR_DETAILS: Readonly<Record<ErrorCode, z.ZodMiniObject>> = {
  invalid_request: z.object({
    issues: z.array(
      z.object({
        field: z
          .string()
          .check(z.describe('Where: `path.id`, `query.limit`, `body.job_id`, `headers.if-match`, `headers.idempotency-key`…')),
        message: z.string().check(z.describe('Why the field was refused')),
      }),
    ),
  }),
  session_not_found: z.object({ id: z.string() }),
  session_not_active: z.object({ id: z.string(), status: SessionStatusSchema }),
  session_full: z.object({
    id: z.string(),
    max_jobs: z.number().check(z.int(), z.positive(), z.describe('The most job IDs a session may hold')),
  }),
  invalid_transition: z.object({ id: z.string(), from: SessionStatusSchema, to: SessionStatusSchema }),
  job_finished: z.object({
    id: z.string(),
    job_id: z.string().check(z.describe('The job reported')),
    state: z.enum(FINAL_JOB_STATES).check(z.describe('How the job ended, as recorded')),
    exit_code: z.nullable(z.number().check(z.int())),
    signal: z.nullable(z.string()),
    started_at: unixSeconds(),
    finished_at: z.nullable(unixSeconds()),
  }),
  versioning_disabled: z.object({}),
  precondition_failed: z.object({ id: z.string(), if_match: z.string().check(z.describe('The `If-Match` the request sent')) }),
  payload_too_large: z.object({ limit_bytes: z.number().check(z.int(), z.positive()) }),
  unsupported_media_type: z.object({
    content_type: z.nullable(z.string()).check(z.describe('The `Content-Type` the request sent, or null')),
  }),
  lease_held: z.object({
    id: z.string(),
    holder: z.string(),
    expires_at: unixSeconds().check(z.describe('When the live lease runs out, Unix seconds')),
  }),
  lease_lost: z.object({
    id: z.string(),
    reason: z.enum(['superseded', 'expired', 'released', 'restored']),
    epoch: z
      .nullable(z.number().check(z.int(), z.positive()))
      .check(z.describe('The epoch of the current lease, or null when none is live')),
  }),
  lease_required: z.object({
    id: z.string(),
    epoch: z.optional(
      z
        .number()
        .check(z.int(), z.positive())
        .check(z.describe('The epoch of the live lease a change must carry; absent when a heartbeat carries none')),
    ),
  }),
  conflict_retry: z.object({
    id: z.string(),
    attempts: z.number().check(z.int(), z.positive()).check(z.describe('Compare-and-swap attempts made')),
  }),
  storage_unavailable: z.object({}),
  internal_error: z.object({
    request_id: z.optional(z.string().check(z.describe('Identifies the log line; quote it when reporting the problem'))),
  }),
};

/** A session ID for the examples. */
const EXAMPLE_ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

/** One error of each code, built by the classes of lib/domain/errors.ts: the examples of the document. */
export const ERROR_EXAMPLES: Readonly<Record<ErrorCode, ServiceError>> = {
  invalid_request: InvalidRequest.field('body.job_id', 'Too big: expected string to have <=256 characters'),
  session_not_found: new SessionNotFound(EXAMPLE_ID),
  session_not_active: new SessionNotActive(EXAMPLE_ID, 'paused'),
  session_full: new SessionFull(EXAMPLE_ID, 10_000),
  invalid_transition: new InvalidTransition(EXAMPLE_ID, 'completed', 'active'),
  job_finished: new JobFinished(EXAMPLE_ID, 'build-42', {
    state: 'failed',
    exit_code: 2,
    signal: null,
    started_at: 1763942400,
    finished_at: 1763942460,
  }),
  versioning_disabled: new VersioningDisabled(),
  precondition_failed: new PreconditionFailed(EXAMPLE_ID, '"9b2cf535f27731c974343645a3985328"'),
  payload_too_large: new PayloadTooLarge(MAX_BODY_BYTES),
  unsupported_media_type: new UnsupportedMediaType('text/plain'),
  lease_held: new LeaseHeld(EXAMPLE_ID, 'runner-7', 1763942520),
  lease_lost: new LeaseLost(EXAMPLE_ID, 'superseded', 3),
  lease_required: new LeaseRequired(EXAMPLE_ID, 2),
  conflict_retry: new ConflictRetry(EXAMPLE_ID, 5),
  storage_unavailable: new StorageUnavailable(),
  internal_error: new InternalError('c0ffee00-1234-4abc-8def-0123456789ab'),
};

/** The component of the error body with this code: `session_full` → `SessionFullError`. */
export function errorComponent(code: ErrorCode | LocalRefusalCode): string {
  return `${code.replace(/(?:^|_)([a-z])/g, (_match, letter: string) => letter.toUpperCase())}Error`.replace(/ErrorError$/, 'Error');
}

/** The error answers documented once and referenced by name: the route table's shared ones and the 500 every route can give. */
const SHARED_ERRORS: Readonly<Record<SharedErrorResponse | 'InternalError', RouteErrorResponse>> = {
  InvalidRequest: {
    description:
      'A field is malformed, or an `Idempotency-Key` was already used for a different request; `details.issues` lists each field ' +
      '(`path.id`, `query.limit`, `body.job_id`, `headers.if-match`, `headers.idempotency-key`…) and why',
    codes: ['invalid_request'],
  },
  SessionNotFound: { description: 'No session with that ID', codes: ['session_not_found'] },
  VersioningDisabled: {
    description: 'Storage keeps no versions of sessions (an S3 bucket without versioning): there is no history to read or restore',
    codes: ['versioning_disabled'],
  },
  PreconditionFailed: {
    description: 'The `If-Match` version is no longer current; read the session again',
    codes: ['precondition_failed'],
  },
  PayloadTooLarge: { description: `The body is over ${MAX_BODY_BYTES} bytes`, codes: ['payload_too_large'] },
  UnsupportedMediaType: { description: 'The body is not `application/json`', codes: ['unsupported_media_type'] },
  ChangeUnavailable: {
    description:
      '`conflict_retry`: too many concurrent writers, the compare-and-swap retries ran out; `storage_unavailable`: storage is throttling or failing. ' +
      'Retry after `Retry-After` seconds.',
    codes: ['conflict_retry', 'storage_unavailable'],
    headers: ['Retry-After'],
  },
  InternalError: {
    description: 'Anything unexpected; `details.request_id` identifies the log line. No internals in the body.',
    codes: ['internal_error'],
  },
};

/** The codes some route of the table answers: only those get a schema of their own. */
function routeErrorCodes(): Set<ErrorCode> {
  return new Set([
    ...SHARED_ERRORS.InternalError.codes,
    ...API_ROUTES.flatMap((route) =>
      Object.values(route.errors).flatMap((error) => (typeof error === 'string' ? SHARED_ERRORS[error].codes : error.codes)),
    ),
  ]);
}

/**
 * One schema per code that some route answers: the `Error` shape with that
 * `code` and its typed `details`, and an example built by lib/domain/errors.ts.
 * Standalone rather than `allOf` with `Error`: example checks (redocly's) read an `allOf` of nested objects as closed.
 */
function errorCodeComponents(): Record<string, JsonObject> {
  const used = routeErrorCodes();
  return Object.fromEntries(
    (Object.keys(ERROR_DETAILS) as ErrorCode[])
      .filter((code) => used.has(code))
      .map((code) => {
        const body = z.object({ error: z.object({ code: z.literal(code), message: z.string(), details: ERROR_DETAILS[code] }) });
        return [errorComponent(code), { ...jsonSchemaOf(body), examples: [ERROR_EXAMPLES[code].toJSON()] }];
      }),
  );
}

/** The local server's own refusals that any operation may meet there, with what their `details` hold. */
const LOCAL_REFUSAL_DETAILS = {
  unauthorized: z.object({}),
  forbidden_origin: z.object({ origin: z.string().check(z.describe('The `Origin` the request came from')) }),
} satisfies Partial<Record<LocalRefusalCode, z.ZodMiniObject>>;

/** One refusal of each of those, built by its class: the examples. */
export const LOCAL_REFUSAL_EXAMPLES: Readonly<Record<keyof typeof LOCAL_REFUSAL_DETAILS, LocalRefusal>> = {
  unauthorized: new Unauthorized(false),
  forbidden_origin: new ForbiddenOrigin('https://example.com'),
};

function localRefusalComponents(): Record<string, JsonObject> {
  return Object.fromEntries(
    (Object.keys(LOCAL_REFUSAL_DETAILS) as (keyof typeof LOCAL_REFUSAL_DETAILS)[]).map((code) => {
      const body = z.object({ error: z.object({ code: z.literal(code), message: z.string(), details: LOCAL_REFUSAL_DETAILS[code] }) });
      const example = LOCAL_REFUSAL_EXAMPLES[code].toJSON();
      return [errorComponent(code), { ...jsonSchemaOf(body), examples: [example] }];
    }),
  );
}

/** An error response whose `code` is one of `codes` (all answered with the same status), each with its example. */
function errorResponse(description: string, codes: ErrorCode[], headers: JsonObject = {}): JsonObject {
  const status = new Set(codes.map((code) => ERROR_STATUS[code]));
  if (status.size !== 1) throw new Error(`codes ${codes.join(', ')} do not share one status`);
  const schemas = codes.map((code) => ref('schemas', errorComponent(code)));
  return {
    description,
    headers: { 'apigw-requestid': ref('headers', 'RequestId'), ...headers },
    content: {
      'application/json': {
        // anyOf: the codes' `const`s already exclude each other, one level down, where oneOf checks cannot see them.
        schema: schemas.length === 1 ? schemas[0] : { anyOf: schemas },
        examples: Object.fromEntries(codes.map((code) => [code, { summary: code, value: ERROR_EXAMPLES[code].toJSON() }])),
      },
    },
  };
}

const EXAMPLE_ACTOR = 'arn:aws:iam::123456789012:user/runner-7';

/** A job of the example session, as it ended. */
const EXAMPLE_OUTCOME = { state: 'failed', exit_code: 2, signal: null, started_at: 1763942430, finished_at: 1763942460 };

/** The example session as it stood after its first job: one bare append. */
const EXAMPLE_EARLIER = {
  id: EXAMPLE_ID,
  name: 'ssh-import',
  job_ids: ['job-123'],
  created_at: 1763942400,
  updated_at: 1763942430,
  status: 'active',
  updated_by: EXAMPLE_ACTOR,
  job_counts: { total: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
};

/** A session as the examples show it: its second job appended as failed. */
const EXAMPLE_SESSION = {
  ...(({ job_counts: _counts, ...earlier }) => earlier)(EXAMPLE_EARLIER),
  job_ids: ['job-123', 'job-124'],
  updated_at: 1763942460,
  jobs: { 'job-124': EXAMPLE_OUTCOME },
  job_counts: { total: 2, running: 0, succeeded: 0, failed: 1, cancelled: 0 },
  last_jobs: { 'job-124': EXAMPLE_OUTCOME },
};

/** An example of each request and success body, by component name (test/scripts/openapi.test.ts parses each with its zod schema). */
export const BODY_EXAMPLES: Readonly<Record<string, unknown>> = {
  Session: EXAMPLE_SESSION,
  SessionMinimal: {
    id: EXAMPLE_ID,
    status: 'active',
    job_count: 2,
    job_counts: { total: 2, running: 0, succeeded: 0, failed: 1, cancelled: 0 },
    updated_at: 1763942460,
    lease: null,
  },
  SessionList: { sessions: [EXAMPLE_SESSION], next_cursor: 'ZmZmZTZhMWMyYjNkNGU1ZjYwNzE4MjkzYTRiNWM2ZDc' },
  SessionHistory: {
    versions: [
      {
        version_id: 'wQ3X.p2Ok0lHXsnT4sRhwmA7kN3b2Ysj',
        at: 1763942460,
        actor: EXAMPLE_ACTOR,
        change: 'job job-124 failed (exit 2)',
        session: EXAMPLE_SESSION,
      },
      {
        version_id: 'Jm1rC9kbRrTKpIzbCsd7YzN0eZ3xk9QH',
        at: 1763942430,
        actor: EXAMPLE_ACTOR,
        change: 'job_added job-123',
        session: EXAMPLE_EARLIER,
      },
    ],
    next_cursor: null,
  },
  CreateSessionRequest: { name: 'ssh-import' },
  AddJobRequest: { job_id: 'job-124', state: 'failed', exit_code: 2 },
  SetStatusRequest: { status: 'paused' },
  RestoreSessionRequest: { version_id: 'Jm1rC9kbRrTKpIzbCsd7YzN0eZ3xk9QH' },
  AcquireLeaseRequest: { holder: 'build-7:4711', seconds: 60 },
  HeartbeatRequest: { seconds: 60 },
  LeaseRenewal: { lease: { holder: 'build-7:4711', epoch: 3, seconds: 60, expires_at: 1763942520 } },
};

/** A JSON body of the component `name`, with its example when there is one. */
function exampleBody(name: string): JsonObject {
  const example = BODY_EXAMPLES[name];
  return { 'application/json': { schema: ref('schemas', name), ...(example === undefined ? {} : { example }) } };
}

/**
 * A session answer. A route that takes `Prefer` answers `Session`, or with
 * `Prefer: return=minimal` the `SessionMinimal` (marked by `Preference-Applied`):
 * `oneOf` the two, which their required fields (`job_ids`, `job_count`) tell apart.
 */
function sessionResponse(description: string, headers: JsonObject, prefer: boolean): JsonObject {
  const common = { ETag: ref('headers', 'ETag'), 'apigw-requestid': ref('headers', 'RequestId'), ...headers };
  if (!prefer) return { description, headers: common, content: exampleBody('Session') };
  return {
    description: `${description}; with \`Prefer: return=minimal\`, only its \`SessionMinimal\` (\`Preference-Applied: return=minimal\`)`,
    headers: { ...common, 'Preference-Applied': ref('headers', 'PreferenceApplied'), Vary: ref('headers', 'Vary') },
    content: {
      'application/json': {
        schema: { oneOf: [ref('schemas', 'Session'), ref('schemas', 'SessionMinimal')] },
        examples: {
          full: { summary: 'The whole session (no `Prefer`)', value: BODY_EXAMPLES.Session },
          minimal: { summary: '`Prefer: return=minimal`', value: BODY_EXAMPLES.SessionMinimal },
        },
      },
    },
  };
}

/**
 * Answers every route can give: API Gateway's own 403 (IAM authorizer) and 429
 * (stage throttling), before any function runs, and the service's 500.
 */
const COMMON_ERRORS = {
  '401': ref('responses', 'Unauthorized'),
  '403': ref('responses', 'Forbidden'),
  '429': ref('responses', 'TooManyRequests'),
  '500': ref('responses', 'InternalError'),
};

/** The body API Gateway itself answers with (403, 429, and 404 for a path it has no route for): not the contract's error shape. */
const GatewayMessageSchema = z.object({ message: z.string() });

function jsonBody(schemaName: string, description: string): JsonObject {
  return { required: true, description, content: exampleBody(schemaName) };
}

/** The component of each documented response header. */
const HEADER_COMPONENTS: Record<DocumentedHeader, string> = {
  Location: 'Location',
  'Idempotent-Replayed': 'IdempotentReplayed',
  'Retry-After': 'RetryAfter',
};

/** The component of each path parameter. */
const PATH_PARAMETERS: Record<string, string> = { id: 'SessionId' };

function headerRefs(headers: readonly DocumentedHeader[] = []): JsonObject {
  return Object.fromEntries(headers.map((header) => [header, ref('headers', HEADER_COMPONENTS[header])]));
}

/** One route's operation object, from its entry in the route table. */
function operation(route: ApiRoute, bodyLimit: string): JsonObject {
  const { docs } = route;
  const description = docs.body === undefined ? docs.description : `${docs.description} ${bodyLimit}`;
  const responses: JsonObject = {};
  const prefer = docs.parameters?.includes('Prefer') ?? false;
  for (const [status, success] of Object.entries(route.responses)) {
    responses[status] =
      success.body === 'Session'
        ? sessionResponse(success.description, headerRefs(success.headers), prefer)
        : {
            description: success.description,
            headers: { 'apigw-requestid': ref('headers', 'RequestId') },
            content: exampleBody(success.body),
          };
  }
  for (const [status, error] of Object.entries(route.errors)) {
    responses[status] =
      typeof error === 'string' ? ref('responses', error) : errorResponse(error.description, [...error.codes], headerRefs(error.headers));
  }
  return {
    operationId: docs.operationId,
    tags: ['sessions'],
    summary: docs.summary,
    ...(description === undefined ? {} : { description }),
    ...(docs.parameters === undefined ? {} : { parameters: docs.parameters.map((name) => ref('parameters', name)) }),
    ...(docs.body === undefined
      ? {}
      : {
          requestBody: {
            ...jsonBody(docs.body.schema, docs.body.description),
            ...(docs.body.required === undefined ? {} : { required: docs.body.required }),
          },
        }),
    responses: { ...responses, ...COMMON_ERRORS, default: ref('responses', 'OtherError') },
  };
}

/** The document's paths: one path item per path of the route table, its operations in table order. */
function documentPaths(bodyLimit: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of API_ROUTES) {
    const { method, path: template } = routeParts(route.routeKey);
    const parameters = [...template.matchAll(/\{(\w+)\}/g)].map(([, name]) => {
      const component = PATH_PARAMETERS[name!];
      if (component === undefined) throw new Error(`no parameter component for {${name}} in ${route.routeKey}`);
      return ref('parameters', component);
    });
    paths[template] ??= parameters.length > 0 ? { parameters } : {};
    paths[template][method.toLowerCase()] = operation(route, bodyLimit);
  }
  return paths;
}

/** How to sign a request for a generated client: the example is run by test/scripts/openapi.test.ts. */
export const SIGV4_EXAMPLE = `import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';

const signer = new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials: defaultProvider(), sha256: Hash.bind(null, 'sha256') });

/** fetch, signed with SigV4: hand it to the generated client as its fetch. */
export async function signedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const url = new URL(request.url);
  const body = request.body === null ? undefined : await request.text();
  const signed = await signer.sign({
    method: request.method, protocol: url.protocol, hostname: url.hostname, path: url.pathname,
    query: Object.fromEntries(url.searchParams), headers: { ...Object.fromEntries(request.headers), host: url.host }, body,
  });
  return fetch(url, { method: request.method, headers: signed.headers, body });
}
`;

const SIGV4_DESCRIPTION =
  "AWS Signature Version 4 with IAM credentials, service `execute-api`, as API Gateway's IAM authorizer requires: " +
  '`Authorization: AWS4-HMAC-SHA256 Credential=…/execute-api/aws4_request, SignedHeaders=…, Signature=…` with `X-Amz-Date`, ' +
  'and `X-Amz-Security-Token` for temporary credentials. The caller needs `execute-api:Invoke` on the route. ' +
  'OpenAPI has no SigV4 scheme; this is the conventional description, and a generated client needs a signing step of its own.\n\n' +
  "Sign for the region in the API's hostname (`{apiId}.execute-api.{region}.amazonaws.com`), with credentials from the standard chain " +
  '(environment, SSO, web identity, shared config and credentials files, ECS or EC2 metadata). The body is part of the signature: sign the exact bytes sent. ' +
  'In TypeScript, with `@smithy/signature-v4`, `@aws-sdk/credential-provider-node` and `@smithy/core`:\n\n' +
  `\`\`\`ts\n${SIGV4_EXAMPLE}\`\`\`\n\n` +
  'For example, with `openapi-fetch`: `createClient<paths>({ baseUrl, fetch: signedFetch })`. The local server ignores signatures.';

/** The OpenAPI 3.1 document of the HTTP API (v1), built from the same zod schemas the service and the client use. */
export function openApiDocument(): JsonObject {
  const bodyLimit = `Bodies over ${MAX_BODY_BYTES} bytes are refused with 413 \`payload_too_large\`; bodies that are not \`application/json\` with 415 \`unsupported_media_type\`.`;
  return {
    openapi: '3.1.0',
    info: {
      title: 'runner-sessions',
      version: '1',
      summary: 'Session tracking for remote job runners.',
      description:
        'A runner opens a session, appends the IDs of the jobs it runs, pauses it when it disconnects, resumes it, and finally completes or terminates it. ' +
        'Every response that carries a session carries its `ETag`; send it back as `If-Match` to change exactly that version. ' +
        'Errors always have the shape `{"error": {"code", "message", "details"}}` with a stable snake_case `code`; ' +
        'each code has its own schema (`InvalidRequestError`, `SessionFullError`…) saying what its `details` hold. ' +
        "Deployed, every route is behind API Gateway's IAM authorizer: sign requests with AWS Signature Version 4 (service `execute-api`; see the `sigv4` security scheme). " +
        'API Gateway answers some requests itself, before the service, in its own shape `{"message": "…"}`: 403 (unsigned or not allowed), ' +
        '429 `Too Many Requests` (stage throttling; retry with backoff) and 404 `Not Found` for a path or method it has no route for. ' +
        "The local server (`npm start`) does not check signatures or throttle, and answers a request that matches no route in the contract's shape: " +
        '404 `route_not_found`, or 405 `method_not_allowed` with `Allow`. Those routing answers belong to no operation, so no operation lists them.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'The deployed HTTP API (requests signed with SigV4)',
        variables: {
          apiId: { default: 'abc123defg', description: 'The API ID printed by `cdk deploy`' },
          region: { default: 'eu-west-1' },
        },
      },
      {
        url: 'http://127.0.0.1:3000',
        description:
          'The local server (`npm start`): unsigned; `Authorization: Bearer <token>` when started with `LOCAL_TOKEN` or `LOCAL_TOKEN_FILE`',
      },
    ],
    // Any one of them: SigV4 for the deployed API; the local server takes a bearer token when started with one, else nothing (loopback only).
    security: [{ sigv4: [] }, { localBearer: [] }, {}],
    tags: [{ name: 'sessions', description: 'Runner sessions and their jobs' }],
    paths: documentPaths(bodyLimit),
    components: {
      schemas: schemaComponents(),
      parameters: {
        SessionId: {
          name: 'id',
          in: 'path',
          required: true,
          description:
            'A session ID: 32 lowercase hex characters, newest-first sortable. Anything else is refused with 400 before storage is touched.',
          schema: { ...jsonSchemaOf(SessionIdSchema), pattern: SESSION_ID_PATTERN },
        },
        LeaseEpoch: {
          name: 'Lease-Epoch',
          in: 'header',
          required: false,
          description:
            'The epoch of the caller’s lease (`lease.epoch`). Required on every change while the session’s lease is live (428 `lease_required` without it); ' +
            'a change carrying an epoch that is not the live lease’s is refused with 409 `lease_lost`, and nothing is written.',
          schema: LEASE_EPOCH_SCHEMA,
        },
        HeartbeatLeaseEpoch: {
          name: 'Lease-Epoch',
          in: 'header',
          required: true,
          description:
            'The epoch of the lease to extend (`lease.epoch`); a heartbeat without it is refused with 428 `lease_required`, ' +
            'one naming a lease that is no longer live with 409 `lease_lost`.',
          schema: LEASE_EPOCH_SCHEMA,
        },
        Prefer: {
          name: 'Prefer',
          in: 'header',
          required: false,
          description:
            '`return=minimal` (RFC 7240): answer a change with `{id, status, job_count, job_counts, updated_at, lease}` and the ETag instead of the whole session, ' +
            'and `Preference-Applied: return=minimal`. What one append sends back then does not grow with the session.',
          schema: { type: 'string', example: 'return=minimal' },
        },
        IfMatch: {
          name: 'If-Match',
          in: 'header',
          required: false,
          description: 'Apply the change only to the version with this ETag (412 `precondition_failed` otherwise). `*` sets no condition.',
          schema: { type: 'string' },
        },
        Limit: {
          name: 'limit',
          in: 'query',
          required: false,
          description: 'Sessions per page',
          schema: { type: 'integer', minimum: 1, maximum: SESSION_LIST_LIMIT.max, default: SESSION_LIST_LIMIT.default },
        },
        Cursor: {
          name: 'cursor',
          in: 'query',
          required: false,
          description: 'The `next_cursor` of the previous page',
          schema: { type: 'string', minLength: 1 },
        },
        Status: {
          name: 'status',
          in: 'query',
          required: false,
          description: 'Only sessions with this status',
          schema: jsonSchemaOf(SessionStatusSchema),
        },
        HistoryLimit: {
          name: 'limit',
          in: 'query',
          required: false,
          description: 'Versions per page',
          schema: { type: 'integer', minimum: 1, maximum: HISTORY_LIMIT.max, default: HISTORY_LIMIT.default },
        },
        Name: {
          name: 'name',
          in: 'query',
          required: false,
          description: 'Only sessions with exactly this name (what a runner that reconnects looks itself up by)',
          schema: { ...jsonSchemaOf(SessionNameSchema), pattern: NO_CONTROL_CHARACTERS },
        },
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Makes the create safe to retry: a repeat of the key by the same caller within the window answers the same session (200) instead of opening another. ' +
            'Scoped to the calling IAM principal; stored only as a hash. Use a new random value (a UUID) per session to open. ' +
            'Printable ASCII without commas: a header sent twice arrives comma-joined, and is refused.',
          schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX_LENGTH, pattern: '^[\\x20-\\x2B\\x2D-\\x7E]+$' },
        },
      },
      headers: {
        ETag: {
          description: 'The version of the session this response carries; send it as `If-Match` to change exactly that version',
          schema: { type: 'string' },
        },
        Location: { description: 'The new session: `/sessions/{id}`', schema: { type: 'string' } },
        IdempotentReplayed: {
          description: '`true`: the `Idempotency-Key` was seen before, and this is the session its first request opened',
          schema: { type: 'string', enum: ['true'] },
        },
        RetryAfter: { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
        WWWAuthenticate: { description: 'The bearer challenge (RFC 6750)', schema: { type: 'string' } },
        PreferenceApplied: {
          description: '`return=minimal` when the answer is the `SessionMinimal` that `Prefer: return=minimal` asked for',
          schema: { type: 'string', enum: ['return=minimal'] },
        },
        Vary: { description: '`Prefer`: the answer depends on the request’s `Prefer`', schema: { type: 'string' } },
        RequestId: { description: "API Gateway's request ID, to quote when reporting a problem", schema: { type: 'string' } },
      },
      responses: {
        ...Object.fromEntries(
          Object.entries(SHARED_ERRORS).map(([name, { description, codes, headers }]) => [
            name,
            errorResponse(description, [...codes], headerRefs(headers)),
          ]),
        ),
        Forbidden: {
          description:
            "Deployed: API Gateway's IAM authorizer refused the request: it is unsigned, its signature or credentials are bad or expired, " +
            'or the principal may not call `execute-api:Invoke` on the route. API Gateway answers this itself, in its own shape `{"message": "…"}`, not the contract\'s error body. ' +
            "Local server: `forbidden_origin`, a change sent by a web page of another origin (`details.origin`), in the contract's shape.",
          content: {
            'application/json': {
              schema: { oneOf: [ref('schemas', 'GatewayMessage'), ref('schemas', 'ForbiddenOriginError')] },
              examples: {
                forbidden_origin: {
                  summary: 'forbidden_origin (the local server)',
                  value: LOCAL_REFUSAL_EXAMPLES.forbidden_origin.toJSON(),
                },
                unsigned: { summary: 'No signature', value: { message: 'Forbidden' } },
                badSignature: {
                  summary: 'A signature that does not match',
                  value: {
                    message:
                      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
                  },
                },
              },
            },
          },
        },
        Unauthorized: {
          description:
            'Local server started with a token (`LOCAL_TOKEN`, `LOCAL_TOKEN_FILE`) only: `unauthorized`, no `Authorization: Bearer <token>` or not a token it was given. ' +
            'The deployed API answers 403 instead.',
          headers: { 'WWW-Authenticate': ref('headers', 'WWWAuthenticate') },
          content: {
            'application/json': {
              schema: ref('schemas', 'UnauthorizedError'),
              examples: { unauthorized: { summary: 'unauthorized', value: LOCAL_REFUSAL_EXAMPLES.unauthorized.toJSON() } },
            },
          },
        },
        OtherError: {
          description:
            "Any answer this operation does not list: the contract's error body from the service (a newer service may add codes), " +
            'or API Gateway\'s own `{"message": "…"}` (a 504 when the function times out, a 413 for a body over API Gateway\'s own limit).',
          content: json({ oneOf: [ref('schemas', 'Error'), ref('schemas', 'GatewayMessage')] }),
        },
        TooManyRequests: {
          description:
            "The stage's throttling limit (rate or burst) is reached. API Gateway answers this itself, in its own shape, with no `Retry-After`: " +
            "retry with exponential backoff and jitter (the project's client retries 429 as it does 503).",
          content: { 'application/json': { schema: ref('schemas', 'GatewayMessage'), example: { message: 'Too Many Requests' } } },
        },
      },
      securitySchemes: {
        localBearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'The local server (`npm start`) started with `LOCAL_TOKEN` or `LOCAL_TOKEN_FILE`: every request carries `Authorization: Bearer <token>` (401 `unauthorized` otherwise). ' +
            'Started without a token it serves loopback only and asks for nothing, the empty alternative of `security`.',
        },
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: SIGV4_DESCRIPTION,
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}

/** The document as committed: two-space JSON and a final newline, the same bytes on every run. */
export function renderOpenApi(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

/** `node scripts/openapi.ts` writes openapi.json; `--check` exits 1 when the committed file is stale. */
async function run(args: string[]): Promise<number> {
  const rendered = renderOpenApi();
  if (args.includes('--check')) {
    const committed = await readFile(OPENAPI_PATH, 'utf-8').catch(() => '');
    if (committed === rendered) return 0;
    process.stderr.write(`${path.relative(process.cwd(), OPENAPI_PATH)} is stale: run 'node scripts/openapi.ts' and commit the result\n`);
    return 1;
  }
  await writeFile(OPENAPI_PATH, rendered);
  process.stdout.write(`wrote ${path.relative(process.cwd(), OPENAPI_PATH)}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
