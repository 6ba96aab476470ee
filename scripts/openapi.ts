import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from '../lib/zod.ts';
import { ContractErrorBodySchema, ERROR_STATUS, SessionHistorySchema, SessionListSchema } from '../lib/client/schemas.ts';
import type { ErrorCode } from '../lib/errors.ts';
import { IDEMPOTENCY_KEY_MAX_LENGTH } from '../lib/idempotency.ts';
import { MAX_BODY_BYTES } from '../lib/http/request-body.ts';
import { AddJobBodySchema, CreateSessionBodySchema, RestoreSessionBodySchema, SessionIdSchema, SetStatusBodySchema } from '../lib/http/schemas.ts';
import { HISTORY_LIMIT, SESSION_LIST_LIMIT } from '../lib/page-limits.ts';
import { API_ROUTES, type ApiRoute, type DocumentedHeader, routeParts } from '../lib/routes.ts';
import { JobIdSchema, LabelSchema, SessionNameSchema, SessionSchema, SessionStatusSchema } from '../lib/session.ts';

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
    ['SessionList', SessionListSchema, 'output'],
    ['Error', ContractErrorBodySchema, 'output'],
    ['CreateSessionRequest', CreateSessionBodySchema, 'input'],
    ['AddJobRequest', AddJobBodySchema, 'input'],
    ['SetStatusRequest', SetStatusBodySchema, 'input'],
    ['SessionHistory', SessionHistorySchema, 'output'],
    ['RestoreSessionRequest', RestoreSessionBodySchema, 'input'],
  ];
  const result: Record<string, JsonObject> = {};
  for (const io of ['output', 'input'] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema, side] of components) if (side === io) registry.add(schema, { id });
    const generated = z.toJSONSchema(registry, {
      io,
      uri: (id) => `#/components/schemas/${id}`,
      override: ({ zodSchema, jsonSchema }) => {
        if (zodSchema === LabelSchema) jsonSchema.pattern = NO_CONTROL_CHARACTERS;
      },
    }).schemas;
    for (const [id, schema] of Object.entries(generated)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema as JsonObject;
      result[id] = rest;
    }
  }
  return Object.fromEntries(components.map(([id]) => [id, result[id]!]));
}

/** A zod schema as an OpenAPI schema object (the dialect is the document's, so no `$schema`). */
function jsonSchemaOf(schema: z.ZodMiniType): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as JsonObject;
  return rest;
}

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
const json = (schema: JsonObject) => ({ 'application/json': { schema } });

/** An error response whose `code` is one of `codes` (all answered with the same status). */
function errorResponse(description: string, codes: ErrorCode[], headers: JsonObject = {}): JsonObject {
  const status = new Set(codes.map((code) => ERROR_STATUS[code]));
  if (status.size !== 1) throw new Error(`codes ${codes.join(', ')} do not share one status`);
  return {
    description,
    headers: { 'apigw-requestid': ref('headers', 'RequestId'), ...headers },
    content: json({
      allOf: [ref('schemas', 'Error'), { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: codes } } } } }],
    }),
  };
}

function sessionResponse(description: string, headers: JsonObject = {}): JsonObject {
  return { description, headers: { ETag: ref('headers', 'ETag'), 'apigw-requestid': ref('headers', 'RequestId'), ...headers }, content: json(ref('schemas', 'Session')) };
}

/** Answers every route can give: API Gateway's own 403 and the service's 500 and 503. */
const COMMON_ERRORS = {
  '403': ref('responses', 'Forbidden'),
  '500': ref('responses', 'InternalError'),
};

function jsonBody(schemaName: string, description: string): JsonObject {
  return { required: true, description, content: json(ref('schemas', schemaName)) };
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
  for (const [status, success] of Object.entries(route.responses)) {
    responses[status] =
      success.body === 'Session'
        ? sessionResponse(success.description, headerRefs(success.headers))
        : { description: success.description, headers: { 'apigw-requestid': ref('headers', 'RequestId') }, content: json(ref('schemas', success.body)) };
  }
  for (const [status, error] of Object.entries(route.errors)) {
    responses[status] = typeof error === 'string' ? ref('responses', error) : errorResponse(error.description, [...error.codes], headerRefs(error.headers));
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
    responses: { ...responses, ...COMMON_ERRORS },
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
        'Errors always have the shape `{"error": {"code", "message", "details"}}` with a stable snake_case `code`. ' +
        'Deployed, every route is behind API Gateway\'s IAM authorizer: sign requests with AWS Signature Version 4 (service `execute-api`). ' +
        'The local server (`npm start`) does not check signatures.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'The deployed HTTP API (requests signed with SigV4)',
        variables: { apiId: { default: 'abc123defg', description: 'The API ID printed by `cdk deploy`' }, region: { default: 'eu-west-1' } },
      },
      { url: 'http://127.0.0.1:3000', description: 'The local server (`npm start`), unsigned' },
    ],
    security: [{ sigv4: [] }],
    tags: [{ name: 'sessions', description: 'Runner sessions and their jobs' }],
    paths: documentPaths(bodyLimit),
    components: {
      schemas: schemaComponents(),
      parameters: {
        SessionId: {
          name: 'id',
          in: 'path',
          required: true,
          description: 'A session ID: 32 lowercase hex characters, newest-first sortable. Anything else is refused with 400 before storage is touched.',
          schema: { ...jsonSchemaOf(SessionIdSchema), pattern: SESSION_ID_PATTERN },
        },
        IfMatch: {
          name: 'If-Match',
          in: 'header',
          required: false,
          description: 'Apply the change only to the version with this ETag (412 `precondition_failed` otherwise). `*` sets no condition.',
          schema: { type: 'string' },
        },
        Limit: { name: 'limit', in: 'query', required: false, description: 'Sessions per page', schema: { type: 'integer', minimum: 1, maximum: SESSION_LIST_LIMIT.max, default: SESSION_LIST_LIMIT.default } },
        Cursor: { name: 'cursor', in: 'query', required: false, description: 'The `next_cursor` of the previous page', schema: { type: 'string', minLength: 1 } },
        Status: { name: 'status', in: 'query', required: false, description: 'Only sessions with this status', schema: jsonSchemaOf(SessionStatusSchema) },
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
        ETag: { description: 'The version of the session this response carries; send it as `If-Match` to change exactly that version', schema: { type: 'string' } },
        Location: { description: 'The new session: `/sessions/{id}`', schema: { type: 'string' } },
        IdempotentReplayed: { description: '`true`: the `Idempotency-Key` was seen before, and this is the session its first request opened', schema: { type: 'string', enum: ['true'] } },
        RetryAfter: { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
        RequestId: { description: "API Gateway's request ID, to quote when reporting a problem", schema: { type: 'string' } },
      },
      responses: {
        InvalidRequest: errorResponse(
          'A field is malformed, or an `Idempotency-Key` was already used for a different request; `details.issues` lists each field (`path.id`, `query.limit`, `body.job_id`, `headers.if-match`, `headers.idempotency-key`…) and why',
          ['invalid_request'],
        ),
        SessionNotFound: errorResponse('No session with that ID', ['session_not_found']),
        VersioningDisabled: errorResponse('Storage keeps no versions of sessions (an S3 bucket without versioning): there is no history to read or restore', ['versioning_disabled']),
        PreconditionFailed: errorResponse('The `If-Match` version is no longer current; read the session again', ['precondition_failed']),
        PayloadTooLarge: errorResponse(`The body is over ${MAX_BODY_BYTES} bytes`, ['payload_too_large']),
        UnsupportedMediaType: errorResponse('The body is not `application/json`', ['unsupported_media_type']),
        ChangeUnavailable: errorResponse(
          '`conflict_retry`: too many concurrent writers, the compare-and-swap retries ran out; `storage_unavailable`: storage is throttling or failing. Retry after `Retry-After` seconds.',
          ['conflict_retry', 'storage_unavailable'],
          { 'Retry-After': ref('headers', 'RetryAfter') },
        ),
        InternalError: errorResponse('Anything unexpected; `details.request_id` identifies the log line. No internals in the body.', ['internal_error']),
        Forbidden: {
          description: "API Gateway's IAM authorizer refused the request (missing or bad signature, or the principal may not call `execute-api:Invoke`). Not a contract error body.",
          content: json({ type: 'object', properties: { message: { type: 'string' } }, required: ['message'] }),
        },
      },
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            'AWS Signature Version 4 with IAM credentials, service `execute-api`, as API Gateway\'s IAM authorizer requires: ' +
            '`Authorization: AWS4-HMAC-SHA256 Credential=…/execute-api/aws4_request, SignedHeaders=…, Signature=…` with `X-Amz-Date`, ' +
            'and `X-Amz-Security-Token` for temporary credentials. The caller needs `execute-api:Invoke` on the route. OpenAPI has no SigV4 scheme; this is the conventional description.',
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
