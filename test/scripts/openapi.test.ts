import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS, ErrorBodySchema, SessionHistorySchema, SessionListSchema } from '#lib/client/schemas.ts';
import { InternalError, LeaseLost } from '#lib/domain/errors.ts';
import { LabelSchema, LeaseSchema, SessionSchema } from '#lib/domain/session.ts';
import * as z from '#lib/domain/zod.ts';
import { API_ROUTES } from '#lib/http/route-table.ts';
import {
  AcquireLeaseBodySchema,
  AddJobBodySchema,
  CreateSessionBodySchema,
  HeartbeatBodySchema,
  IdempotencyKeySchema,
  RestoreSessionBodySchema,
  SetStatusBodySchema,
} from '#lib/http/schemas.ts';
import {
  BODY_EXAMPLES,
  ERROR_DETAILS,
  ERROR_EXAMPLES,
  errorComponent,
  LOCAL_REFUSAL_EXAMPLES,
  OPENAPI_PATH,
  openApiDocument,
  renderOpenApi,
  SessionMinimalSchema,
  SIGV4_EXAMPLE,
} from '../../scripts/openapi.ts';

type Json = Record<string, any>;

/** The error a class builds for a code: the contract's, or one of the local server's own refusals. */
function exampleOf(code: string) {
  return (ERROR_EXAMPLES[code as keyof typeof ERROR_EXAMPLES] ?? LOCAL_REFUSAL_EXAMPLES[code as keyof typeof LOCAL_REFUSAL_EXAMPLES])!;
}

/** The statuses of the local server's own refusals, which every operation may meet there. */
const LOCAL_STATUS = Object.fromEntries(Object.entries(LOCAL_REFUSAL_EXAMPLES).map(([code, error]) => [code, error.statusCode]));

/** The component names a body schema allows: one `$ref`, or each of a `oneOf`. */
function schemaNames(schema: Json): string[] {
  return (schema.oneOf ?? [schema]).map((entry: Json) => String(entry.$ref).replace('#/components/schemas/', ''));
}

const document = openApiDocument() as Json;

/** The value a local `$ref` (`#/components/...`) points at. */
function resolve(pointer: string): unknown {
  return pointer
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], document);
}

/** A response object, following its `$ref`. */
function response(path: string, method: string, status: string): Json {
  const entry = document.paths[path][method].responses[status] as Json;
  return (entry.$ref ? resolve(entry.$ref) : entry) as Json;
}

/** The per-code error schemas an error response's body is one of (none for other bodies). */
function errorSchemasOf(answer: Json): Json[] {
  const schema = answer.content?.['application/json']?.schema as Json | undefined;
  const refs: Json[] = schema === undefined ? [] : (schema.anyOf ?? schema.oneOf ?? [schema]);
  return refs
    .filter((entry) => typeof entry.$ref === 'string' && entry.$ref.endsWith('Error') && entry.$ref !== '#/components/schemas/Error')
    .map((entry) => resolve(entry.$ref) as Json);
}

/** The `code` values an error response allows. */
function codesOf(errorResponse: Json): string[] {
  const schemas = errorSchemasOf(errorResponse);
  if (schemas.length === 0) throw new Error('not a contract error response');
  return schemas.map((schema) => schema.properties.error.properties.code.const);
}

/** Every operation of the document, with its path and method. */
function operations(): [path: string, method: string, operation: Json][] {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => method !== 'parameters')
      .map(([method, operation]): [string, string, Json] => [path, method, operation as Json]),
  );
}

function* walk(node: unknown): Generator<Json> {
  if (typeof node !== 'object' || node === null) return;
  yield node as Json;
  for (const value of Object.values(node)) yield* walk(value);
}

const ROUTES = [
  ['/sessions', 'post', 'createSession', '201'],
  ['/sessions', 'get', 'listSessions', '200'],
  ['/sessions/{id}', 'get', 'getSession', '200'],
  ['/sessions/{id}', 'patch', 'setStatus', '200'],
  ['/sessions/{id}/jobs', 'post', 'addJob', '200'],
] as const;

describe('openapi.json', () => {
  it('is up to date: regenerate it with `node scripts/openapi.ts` when this fails', async () => {
    const committed = await readFile(OPENAPI_PATH, 'utf-8');

    expect(committed, 'openapi.json is stale: run `node scripts/openapi.ts` and commit it').toBe(renderOpenApi());
  });

  it('is generated deterministically', () => {
    expect(renderOpenApi()).toBe(renderOpenApi());
  });
});

describe('the document', () => {
  it('is OpenAPI 3.1 and declares SigV4 (IAM) security for every operation', () => {
    expect(document.openapi).toBe('3.1.0');
    // Any one of: SigV4 (deployed), the local server's bearer token, nothing (the local server on loopback).
    expect(document.security).toEqual([{ sigv4: [] }, { localBearer: [] }, {}]);
    expect(document.components.securitySchemes.localBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.components.securitySchemes.sigv4).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
  });

  it('has exactly the routes the service serves (lib/http/route-table.ts, shared by the CDK app and the local server)', () => {
    const operations = Object.entries(document.paths as Json).flatMap(([path, item]) =>
      Object.keys(item as Json)
        .filter((key) => key !== 'parameters')
        .map((method) => `${method.toUpperCase()} ${path}`),
    );

    expect(operations.sort()).toEqual(API_ROUTES.map(({ routeKey }) => routeKey).sort());
  });

  it.each(ROUTES)('%s %s is %s and answers the Session or SessionList schema with %s', (path, method, operationId, status) => {
    const operation = document.paths[path][method];

    expect(operation.operationId).toBe(operationId);
    expect(schemaNames(response(path, method, status).content['application/json'].schema)[0]).toBe(
      operationId === 'listSessions' ? 'SessionList' : 'Session',
    );
  });

  it.each(operations().filter(([, , operation]) => operation.parameters?.some((p: Json) => p.$ref === '#/components/parameters/Prefer')))(
    '%s %s takes Prefer: its session answer is the Session or, under return=minimal, the SessionMinimal marked by Preference-Applied',
    (path, method, operation) => {
      for (const status of Object.keys(operation.responses).filter((status) => status.startsWith('2'))) {
        const answer = response(path, method, status);
        expect(schemaNames(answer.content['application/json'].schema)).toEqual(['Session', 'SessionMinimal']);
        expect(answer.headers['Preference-Applied']).toEqual({ $ref: '#/components/headers/PreferenceApplied' });
      }
    },
  );

  it('SessionMinimal is what a minimal answer holds: id, status, job_count, job_counts, updated_at and lease, no job_ids', () => {
    const minimal = document.components.schemas.SessionMinimal;
    expect(minimal.required).toEqual(['id', 'status', 'job_count', 'job_counts', 'updated_at', 'lease']);
    expect(minimal.properties).not.toHaveProperty('job_ids');
    expect(document.components.schemas.Session.required).toContain('job_ids');
  });

  it('AddJobRequest takes a state, an int32 exit code and a signal name; Session has jobs, job_counts and last_jobs of JobOutcome', () => {
    const { AddJobRequest, Session, JobOutcome } = document.components.schemas;
    expect(AddJobRequest.required).toEqual(['job_id']);
    expect(AddJobRequest.properties.state.enum).toEqual(['running', 'succeeded', 'failed', 'cancelled']);
    expect(AddJobRequest.properties.exit_code).toMatchObject({
      type: 'integer',
      format: 'int32',
      minimum: -(2 ** 31),
      maximum: 2 ** 31 - 1,
    });
    expect(AddJobRequest.properties.signal.pattern).toBe('^SIG[A-Z0-9]{1,13}$');
    for (const field of ['jobs', 'last_jobs'])
      expect(Session.properties[field].additionalProperties).toEqual({ $ref: '#/components/schemas/JobOutcome' });
    expect(Session.properties.job_counts.required).toEqual(['total', 'running', 'succeeded', 'failed', 'cancelled']);
    expect(Session.required).not.toContain('job_counts');
    expect(JobOutcome.required).toEqual(['state', 'exit_code', 'signal', 'started_at', 'finished_at']);
  });

  it('Lease-Epoch is an integer as lease.epoch is, required on a heartbeat; lease.seconds has the bounds of a lease', () => {
    const { LeaseEpoch, HeartbeatLeaseEpoch } = document.components.parameters;
    expect(LeaseEpoch).toMatchObject({ name: 'Lease-Epoch', required: false, schema: { type: 'integer', minimum: 0 } });
    expect(HeartbeatLeaseEpoch).toMatchObject({ name: 'Lease-Epoch', required: true, schema: { type: 'integer', minimum: 0 } });
    expect(document.paths['/sessions/{id}/heartbeat'].post.parameters).toEqual([{ $ref: '#/components/parameters/HeartbeatLeaseEpoch' }]);
    const lease = document.components.schemas.Session.properties.lease.anyOf[0];
    expect(lease.properties.epoch.type).toBe('integer');
    expect(lease.properties.seconds).toMatchObject({ type: 'integer', minimum: 5, maximum: 3600 });
  });

  it.each(ROUTES.filter(([, , operationId]) => operationId !== 'listSessions'))(
    '%s %s carries the ETag header',
    (path, method, _operationId, status) => {
      expect(response(path, method, status).headers.ETag).toEqual({ $ref: '#/components/headers/ETag' });
    },
  );

  it('201 on create carries Location', () => {
    expect(response('/sessions', 'post', '201').headers.Location).toEqual({ $ref: '#/components/headers/Location' });
  });

  it.each([
    ['/sessions/{id}', 'patch'],
    ['/sessions/{id}/jobs', 'post'],
  ])('%s %s takes If-Match and may answer 412 precondition_failed', (path, method) => {
    expect(document.paths[path][method].parameters).toContainEqual({ $ref: '#/components/parameters/IfMatch' });
    expect(codesOf(response(path, method, '412'))).toEqual(['precondition_failed']);
  });

  it('every 503 carries Retry-After', () => {
    const unavailable = ROUTES.map(([path, method]) => response(path, method, '503'));

    for (const answer of unavailable) expect(answer.headers['Retry-After']).toEqual({ $ref: '#/components/headers/RetryAfter' });
  });

  it.each([
    ['/sessions/{id}/jobs', 'post', '409', ['session_not_active', 'session_full', 'job_finished', 'lease_lost']],
    ['/sessions/{id}/jobs', 'post', '428', ['lease_required']],
    ['/sessions/{id}/lease', 'post', '409', ['lease_held', 'invalid_transition']],
    ['/sessions/{id}/heartbeat', 'post', '409', ['lease_lost']],
    ['/sessions/{id}/heartbeat', 'post', '428', ['lease_required']],
    ['/sessions/{id}/jobs', 'post', '503', ['conflict_retry', 'storage_unavailable']],
    ['/sessions/{id}', 'patch', '409', ['invalid_transition', 'lease_lost']],
    ['/sessions/{id}', 'patch', '428', ['lease_required']],
    ['/sessions/{id}', 'get', '404', ['session_not_found']],
    ['/sessions', 'post', '413', ['payload_too_large']],
    ['/sessions', 'post', '415', ['unsupported_media_type']],
    ['/sessions', 'get', '400', ['invalid_request']],
  ])('%s %s %s names the codes %j', (path, method, status, codes) => {
    expect(codesOf(response(path, method, status))).toEqual(codes);
  });

  it('every error response names codes that the contract sends with that status', () => {
    for (const [path, item] of Object.entries(document.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        if (method === 'parameters') continue;
        for (const status of Object.keys((operation as Json).responses)) {
          const answer = response(path, method, status);
          if (errorSchemasOf(answer).length === 0) continue;
          for (const code of codesOf(answer))
            expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS] ?? LOCAL_STATUS[code], `${method} ${path} ${status} ${code}`).toBe(
              Number(status),
            );
        }
      }
    }
  });

  it('uses every code of the contract', () => {
    const used = new Set([...walk(document)].flatMap(codesIfError));

    expect([...used].sort()).toEqual([...ERROR_CODES, ...Object.keys(LOCAL_REFUSAL_EXAMPLES)].sort());
  });

  it('every $ref resolves', () => {
    const refs = [...walk(document)].map((node) => node.$ref).filter((pointer): pointer is string => typeof pointer === 'string');

    expect(refs.length).toBeGreaterThan(20);
    for (const pointer of refs) expect(resolve(pointer), pointer).toBeDefined();
  });

  it('the Error schema lists every code of the contract', () => {
    expect(document.components.schemas.Error.properties.error.properties.code.enum).toEqual(ERROR_CODES);
  });

  it('has no JSON Schema dialect or $id left inside components (the document sets the dialect)', () => {
    for (const node of walk(document.components)) {
      expect(node).not.toHaveProperty('$schema');
      expect(node).not.toHaveProperty('$id');
    }
  });
});

describe('audit trail and undo', () => {
  it('GET /sessions/{id}/history is sessionHistory: limit (1-100, default 20) and cursor, a SessionHistory page, 400, 404, 409 versioning_disabled', () => {
    const operation = document.paths['/sessions/{id}/history'].get;

    expect(operation.operationId).toBe('sessionHistory');
    expect(operation.parameters).toEqual([{ $ref: '#/components/parameters/HistoryLimit' }, { $ref: '#/components/parameters/Cursor' }]);
    expect(document.components.parameters.HistoryLimit.schema).toEqual({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
    expect(response('/sessions/{id}/history', 'get', '200').content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/SessionHistory',
    });
    expect(codesOf(response('/sessions/{id}/history', 'get', '400'))).toEqual(['invalid_request']);
    expect(codesOf(response('/sessions/{id}/history', 'get', '404'))).toEqual(['session_not_found']);
    expect(codesOf(response('/sessions/{id}/history', 'get', '409'))).toEqual(['versioning_disabled']);
  });

  it('a history entry has version_id, at, actor (nullable), change and the session, all required', () => {
    const entry = document.components.schemas.SessionHistory.properties.versions.items;

    expect(entry.required).toEqual(['version_id', 'at', 'actor', 'change', 'session']);
    expect(entry.properties.actor.type).toEqual(['string', 'null']);
    expect(entry.properties.session).toEqual({ $ref: '#/components/schemas/Session' });
    expect(document.components.schemas.SessionHistory.properties.next_cursor.type).toEqual(['string', 'null']);
  });

  it('POST /sessions/{id}/restore is restoreSession: a version_id body (and force) and If-Match, the Session with its ETag, 400, 404, 409 lease_held or versioning_disabled, 412', () => {
    const operation = document.paths['/sessions/{id}/restore'].post;

    expect(operation.operationId).toBe('restoreSession');
    expect(operation.parameters).toEqual([{ $ref: '#/components/parameters/IfMatch' }, { $ref: '#/components/parameters/Prefer' }]);
    expect(document.components.schemas.RestoreSessionRequest.required).toEqual(['version_id']);
    expect(document.components.schemas.RestoreSessionRequest.properties.force).toEqual({ type: 'boolean' });
    expect(schemaNames(response('/sessions/{id}/restore', 'post', '200').content['application/json'].schema)).toEqual([
      'Session',
      'SessionMinimal',
    ]);
    expect(response('/sessions/{id}/restore', 'post', '200').headers.ETag).toEqual({ $ref: '#/components/headers/ETag' });
    expect(codesOf(response('/sessions/{id}/restore', 'post', '409'))).toEqual(['lease_held', 'versioning_disabled']);
    expect(codesOf(response('/sessions/{id}/restore', 'post', '412'))).toEqual(['precondition_failed']);
    expect(codesOf(response('/sessions/{id}/restore', 'post', '503'))).toEqual(['conflict_retry', 'storage_unavailable']);
  });

  it('the Session schema names restored_from, the mark of a version a restore wrote', () => {
    expect(document.components.schemas.Session.properties.restored_from).toEqual({ type: 'string' });
  });
});

function codesIfError(node: Json): string[] {
  return errorSchemasOf(node).length > 0 ? codesOf(node) : [];
}

describe('the label pattern stands for the zod refinement', () => {
  const pattern = new RegExp(document.components.schemas.AddJobRequest.properties.job_id.pattern as string, 'u');

  it('accepts exactly the 1-256 character strings LabelSchema accepts', () => {
    const characters = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
      fc.constantFrom('\u0000', '\u001f', '\u007f', '\u0085', '\u009f', '\u00a0', 'é', '\t'),
    );
    fc.assert(
      fc.property(fc.array(characters, { minLength: 1, maxLength: 20 }), (parts) => {
        const value = parts.join('').slice(0, 256);
        if (value.length === 0) return;
        expect(pattern.test(value)).toBe(LabelSchema.safeParse(value).success);
      }),
    );
  });
});

describe('resume by name and idempotent create', () => {
  it('POST /sessions takes Idempotency-Key and answers a repeat 200 with the session, its ETag, Location and Idempotent-Replayed', () => {
    const replay = response('/sessions', 'post', '200');

    expect(document.paths['/sessions'].post.parameters).toEqual([
      { $ref: '#/components/parameters/IdempotencyKey' },
      { $ref: '#/components/parameters/Prefer' },
    ]);
    expect(document.components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    expect(schemaNames(replay.content['application/json'].schema)).toEqual(['Session', 'SessionMinimal']);
    expect(replay.headers).toMatchObject({
      ETag: { $ref: '#/components/headers/ETag' },
      Location: { $ref: '#/components/headers/Location' },
      'Idempotent-Replayed': { $ref: '#/components/headers/IdempotentReplayed' },
    });
    expect(codesOf(response('/sessions', 'post', '503'))).toEqual(['conflict_retry', 'storage_unavailable']);
  });

  it('GET /sessions takes name, with the label pattern', () => {
    expect(document.paths['/sessions'].get.parameters).toContainEqual({ $ref: '#/components/parameters/Name' });
    expect(document.components.parameters.Name).toMatchObject({
      name: 'name',
      in: 'query',
      schema: {
        type: 'string',
        minLength: 1,
        maxLength: 256,
        pattern: document.components.schemas.AddJobRequest.properties.job_id.pattern,
      },
    });
  });

  it('the Idempotency-Key schema accepts exactly the keys IdempotencyKeySchema accepts', () => {
    const { pattern, minLength, maxLength } = document.components.parameters.IdempotencyKey.schema as {
      pattern: string;
      minLength: number;
      maxLength: number;
    };
    const accepts = (value: string) => new RegExp(pattern, 'u').test(value) && value.length >= minLength && value.length <= maxLength;

    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 })),
        (value) => {
          expect(accepts(value)).toBe(IdempotencyKeySchema.safeParse(value).success);
        },
      ),
    );
  });
});

describe("API Gateway's own answers", () => {
  it.each(operations())('%s %s declares 403 and 429 in API Gateway\'s {"message"} shape', (_path, _method, operation) => {
    expect(operation.responses['403']).toEqual({ $ref: '#/components/responses/Forbidden' });
    expect(operation.responses['429']).toEqual({ $ref: '#/components/responses/TooManyRequests' });
  });

  it('403 and 429 answer GatewayMessage, not the contract error; 429 tells clients to back off', () => {
    const { Forbidden, TooManyRequests } = document.components.responses;

    expect(document.components.schemas.GatewayMessage).toEqual({
      type: 'object',
      properties: { message: { type: 'string' } },
      required: ['message'],
      additionalProperties: false,
    });
    // The local server's forbidden_origin is the other 403, in the contract's shape.
    expect(Forbidden.content['application/json'].schema).toEqual({
      oneOf: [{ $ref: '#/components/schemas/GatewayMessage' }, { $ref: '#/components/schemas/ForbiddenOriginError' }],
    });
    expect(TooManyRequests.content['application/json']).toEqual({
      schema: { $ref: '#/components/schemas/GatewayMessage' },
      example: { message: 'Too Many Requests' },
    });
    expect(TooManyRequests.description).toMatch(/backoff/);
  });

  it('routing answers belong to no operation: no operation lists route_not_found or method_not_allowed, and the description explains both worlds', () => {
    const codes = operations().flatMap(([path, method, operation]) =>
      Object.keys(operation.responses).flatMap((status) => codesIfError(response(path, method, status))),
    );

    expect(codes).not.toContain('route_not_found');
    expect(codes).not.toContain('method_not_allowed');
    expect(document.info.description).toContain('404 `Not Found`');
    expect(document.info.description).toContain('404 `route_not_found`, or 405 `method_not_allowed` with `Allow`');
  });

  it("any other answer is the contract error or API Gateway's message", () => {
    for (const [, , operation] of operations()) expect(operation.responses.default).toEqual({ $ref: '#/components/responses/OtherError' });
    expect(document.components.responses.OtherError.content['application/json'].schema).toEqual({
      oneOf: [{ $ref: '#/components/schemas/Error' }, { $ref: '#/components/schemas/GatewayMessage' }],
    });
  });
});

describe('error details, per code', () => {
  const used = new Set(
    operations().flatMap(([path, method, operation]) =>
      Object.keys(operation.responses).flatMap((status) => codesIfError(response(path, method, status))),
    ),
  );

  it.each(ERROR_CODES)('%s: the example comes from its class, and its details are exactly the documented fields', (code) => {
    const example = ERROR_EXAMPLES[code];
    const details = ERROR_DETAILS[code];

    expect(example.code).toBe(code);
    expect(example.statusCode).toBe(ERROR_STATUS[code]);
    expect(z.strictObject(details.shape).safeParse(example.details).error).toBeUndefined();
  });

  it.each([...used])('%s has a schema of its own: its code, a message and its typed details, with the example', (code) => {
    const schema = document.components.schemas[errorComponent(code as keyof typeof ERROR_EXAMPLES)];
    const error = schema.properties.error;

    expect(error.required).toEqual(['code', 'message', 'details']);
    expect(error.properties.code).toEqual({ type: 'string', const: code });
    expect(error.properties.details.type).toBe('object');
    expect(schema.examples).toEqual([exampleOf(code).toJSON()]);
  });

  const detailsOf = (code: string) =>
    document.components.schemas[errorComponent(code as keyof typeof ERROR_EXAMPLES)].properties.error.properties.details;

  it('invalid_request: issues of {field, message}, as the README promises (details.issues[0].field)', () => {
    expect(detailsOf('invalid_request').required).toEqual(['issues']);
    expect(detailsOf('invalid_request').properties.issues.items).toMatchObject({ type: 'object', required: ['field', 'message'] });
  });

  it.each([
    ['invalid_transition', ['id', 'from', 'to']],
    ['session_full', ['id', 'max_jobs']],
    ['session_not_active', ['id', 'status']],
    ['precondition_failed', ['id', 'if_match']],
    ['conflict_retry', ['id', 'attempts']],
    ['payload_too_large', ['limit_bytes']],
    ['unsupported_media_type', ['content_type']],
    ['session_not_found', ['id']],
  ])('%s details require %j', (code, fields) => {
    expect(detailsOf(code).required).toEqual(fields);
  });

  it('internal_error: request_id, which an error without one leaves out', () => {
    expect(Object.keys(detailsOf('internal_error').properties)).toEqual(['request_id']);
    expect(detailsOf('internal_error').required).toBeUndefined();
    expect(ERROR_DETAILS.internal_error.safeParse(new InternalError().details).success).toBe(true);
  });

  it('lease_held: holder and expires_at; lease_lost: reason (superseded|expired|released) and epoch (integer or null)', () => {
    expect(ERROR_DETAILS.lease_held.shape).toHaveProperty('holder');
    expect(ERROR_DETAILS.lease_held.shape).toHaveProperty('expires_at');
    for (const reason of ['superseded', 'expired', 'released'] as const) {
      for (const epoch of [null, 4])
        expect(z.strictObject(ERROR_DETAILS.lease_lost.shape).safeParse(new LeaseLost('x', reason, epoch).details).success).toBe(true);
    }
    expect(ERROR_DETAILS.lease_lost.safeParse({ id: 'x', reason: 'stolen', epoch: 1 }).success).toBe(false);
    expect(ERROR_DETAILS.lease_lost.safeParse({ id: 'x', reason: 'expired', epoch: 1.5 }).success).toBe(false);
  });

  it('every error response shows one example per code, the one its class builds, in the shape clients parse', () => {
    for (const [path, method, operation] of operations()) {
      for (const status of Object.keys(operation.responses)) {
        const answer = response(path, method, status);
        const codes = codesIfError(answer);
        if (codes.length === 0) continue;
        const examples = answer.content['application/json'].examples as Json;
        // A 403 shows API Gateway's own answers besides forbidden_origin.
        const own = status === '403' ? Object.keys(examples).filter((key) => codes.includes(key)) : Object.keys(examples);
        expect(own, `${method} ${path} ${status}`).toEqual(codes);
        for (const code of codes) {
          expect(examples[code].value).toEqual(exampleOf(code).toJSON());
          expect(ErrorBodySchema.safeParse(examples[code].value).success).toBe(true);
        }
      }
    }
  });
});

describe('examples', () => {
  const SCHEMAS: Record<string, z.ZodMiniType> = {
    Session: SessionSchema,
    SessionList: SessionListSchema,
    SessionHistory: SessionHistorySchema,
    CreateSessionRequest: CreateSessionBodySchema,
    AddJobRequest: AddJobBodySchema,
    SetStatusRequest: SetStatusBodySchema,
    RestoreSessionRequest: RestoreSessionBodySchema,
    AcquireLeaseRequest: AcquireLeaseBodySchema,
    HeartbeatRequest: HeartbeatBodySchema,
    LeaseRenewal: z.object({ lease: LeaseSchema }),
    SessionMinimal: SessionMinimalSchema,
  };

  it.each(Object.entries(SCHEMAS))('the %s example is valid for its zod schema', (name, schema) => {
    expect(schema.safeParse(BODY_EXAMPLES[name]).error).toBeUndefined();
  });

  it.each(operations())('%s %s shows an example of its request body and of each success body', (path, method, operation) => {
    const bodies: Json[] = [
      ...(operation.requestBody ? [operation.requestBody.content['application/json']] : []),
      ...Object.entries(operation.responses as Json)
        .filter(([status]) => status.startsWith('2'))
        .map(([status]) => response(path, method, status).content['application/json']),
    ];

    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) {
      const names = schemaNames(body.schema);
      // A Session or its SessionMinimal: one example of each.
      if (names.length > 1)
        expect(Object.values(body.examples).map((example: any) => example.value)).toEqual(names.map((name) => BODY_EXAMPLES[name]));
      else expect(body.example).toEqual(BODY_EXAMPLES[names[0]!]);
    }
  });
});

describe('SigV4 signing for a generated client', () => {
  const description = document.components.securitySchemes.sigv4.description as string;

  it('names the service, the region, the credential chain and shows the example', () => {
    expect(description).toContain('service `execute-api`');
    expect(description).toContain('{apiId}.execute-api.{region}.amazonaws.com');
    expect(description).toContain('standard chain');
    expect(description).toContain(`\`\`\`ts\n${SIGV4_EXAMPLE}\`\`\``);
    for (const dependency of ['@smithy/signature-v4', '@aws-sdk/credential-provider-node', '@smithy/core/serde'])
      expect(SIGV4_EXAMPLE).toContain(`from '${dependency}'`);
  });

  it('the example signs a request that the same credentials verify, body included', async () => {
    const driver = `
import { createServer } from 'node:http';
const server = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', () => response.end(JSON.stringify({ url: request.url, headers: request.headers, body })));
});
await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
const url = 'http://127.0.0.1:' + server.address().port + '/sessions/${'f'.repeat(32)}/jobs?x=1';
const answer = await signedFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job_id":"job-1"}' });
process.stdout.write(await answer.text());
server.close();
`;
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    const env = {
      PATH: process.env.PATH,
      HOME: '/nonexistent',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    };
    const child = spawn(process.execPath, ['--input-type=module-typescript'], { cwd: path.dirname(OPENAPI_PATH), env });
    child.stdin.end(`${SIGV4_EXAMPLE}\n${driver}`);
    let output = '';
    for await (const chunk of child.stdout) output += chunk;
    const received = JSON.parse(output) as { url: string; headers: Record<string, string>; body: string };

    const authorization =
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
        received.headers.authorization ?? '',
      );
    expect(authorization, received.headers.authorization).not.toBeNull();
    const signedHeaders = authorization![1]!.split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'content-type']));
    const url = new URL(received.url, `http://${received.headers.host}`);
    const date = received.headers['x-amz-date']!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
    const verifier = new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials, sha256: Hash.bind(null, 'sha256') });
    const expected = await verifier.sign(
      {
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(
          signedHeaders.filter((name) => !name.startsWith('x-amz-')).map((name) => [name, received.headers[name]!]),
        ),
        body: received.body,
      },
      { signingDate: new Date(date) },
    );
    expect(received.body).toBe('{"job_id":"job-1"}');
    expect(expected.headers.authorization).toBe(received.headers.authorization);
  });
});

describe('redocly lint (recommended ruleset, redocly.yaml)', () => {
  it('`npm run lint:openapi` finds no error and no warning', { timeout: 60_000 }, async () => {
    const root = path.dirname(OPENAPI_PATH);
    // No usage data and no version check: the suite runs offline.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'lint:openapi', '--', '--format=json'], { cwd: root, env });
    const report = JSON.parse(stdout) as { totals: Record<string, number>; problems: unknown[] };

    expect(report.problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(await readFile(path.join(root, 'redocly.yaml'), 'utf-8')).toMatch(/^extends:\n {2}- recommended$/m);
  });
});
