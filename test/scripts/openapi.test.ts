import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS } from '#lib/client/schemas.ts';
import { IdempotencyKeySchema } from '#lib/http/schemas.ts';
import { API_ROUTES } from '#lib/routes.ts';
import { LabelSchema } from '#lib/session.ts';
import { OPENAPI_PATH, openApiDocument, renderOpenApi } from '../../scripts/openapi.ts';

type Json = Record<string, any>;

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

/** The `code` values an error response allows. */
function codesOf(errorResponse: Json): string[] {
  return errorResponse.content['application/json'].schema.allOf[1].properties.error.properties.code.enum;
}

/** `value` with every object's keys sorted, so that only content is compared (arrays keep their order: it means something). */
function inKeyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inKeyOrder);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, entry]) => [key, inKeyOrder(entry)]));
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

  it('means what the committed document means: equal once key order is set aside', async () => {
    const committed = JSON.parse(await readFile(OPENAPI_PATH, 'utf-8')) as unknown;

    expect(inKeyOrder(openApiDocument())).toEqual(inKeyOrder(committed));
  });

  it('is generated deterministically', () => {
    expect(renderOpenApi()).toBe(renderOpenApi());
  });
});

describe('the document', () => {
  it('is OpenAPI 3.1 and declares SigV4 (IAM) security for every operation', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.security).toEqual([{ sigv4: [] }]);
    expect(document.components.securitySchemes.sigv4).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization', 'x-amazon-apigateway-authtype': 'awsSigv4' });
  });

  it('has exactly the routes the service serves (lib/routes.ts, shared by the CDK app and the local server)', () => {
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
    expect(response(path, method, status).content['application/json'].schema.$ref).toBe(
      operationId === 'listSessions' ? '#/components/schemas/SessionList' : '#/components/schemas/Session',
    );
  });

  it.each(ROUTES.filter(([, , operationId]) => operationId !== 'listSessions'))('%s %s carries the ETag header', (path, method, _operationId, status) => {
    expect(response(path, method, status).headers.ETag).toEqual({ $ref: '#/components/headers/ETag' });
  });

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
    ['/sessions/{id}/jobs', 'post', '409', ['session_not_active', 'session_full', 'lease_lost']],
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
          if (!answer.content?.['application/json']?.schema?.allOf) continue;
          for (const code of codesOf(answer)) expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS], `${method} ${path} ${status} ${code}`).toBe(Number(status));
        }
      }
    }
  });

  it('uses every code of the contract', () => {
    const used = new Set([...walk(document)].flatMap(codesIfError));

    expect([...used].sort()).toEqual([...ERROR_CODES].sort());
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
    expect(response('/sessions/{id}/history', 'get', '200').content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SessionHistory' });
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

  it('POST /sessions/{id}/restore is restoreSession: a version_id body and If-Match, the Session with its ETag, 400, 404, 409 versioning_disabled, 412', () => {
    const operation = document.paths['/sessions/{id}/restore'].post;

    expect(operation.operationId).toBe('restoreSession');
    expect(operation.parameters).toEqual([{ $ref: '#/components/parameters/IfMatch' }]);
    expect(document.components.schemas.RestoreSessionRequest.required).toEqual(['version_id']);
    expect(response('/sessions/{id}/restore', 'post', '200').content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Session' });
    expect(response('/sessions/{id}/restore', 'post', '200').headers.ETag).toEqual({ $ref: '#/components/headers/ETag' });
    expect(codesOf(response('/sessions/{id}/restore', 'post', '409'))).toEqual(['versioning_disabled']);
    expect(codesOf(response('/sessions/{id}/restore', 'post', '412'))).toEqual(['precondition_failed']);
    expect(codesOf(response('/sessions/{id}/restore', 'post', '503'))).toEqual(['conflict_retry', 'storage_unavailable']);
  });

  it('the Session schema names restored_from, the mark of a version a restore wrote', () => {
    expect(document.components.schemas.Session.properties.restored_from).toEqual({ type: 'string' });
  });
});

function codesIfError(node: Json): string[] {
  return node.content?.['application/json']?.schema?.allOf ? codesOf(node) : [];
}

describe('the label pattern stands for the zod refinement', () => {
  const pattern = new RegExp(document.components.schemas.AddJobRequest.properties.job_id.pattern as string, 'u');

  it('accepts exactly the 1-256 character strings LabelSchema accepts', () => {
    const characters = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.constantFrom('\u0000', '\u001f', '\u007f', '\u0085', '\u009f', '\u00a0', 'é', '\t'));
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

    expect(document.paths['/sessions'].post.parameters).toEqual([{ $ref: '#/components/parameters/IdempotencyKey' }]);
    expect(document.components.parameters.IdempotencyKey).toMatchObject({ name: 'Idempotency-Key', in: 'header', required: false });
    expect(replay.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Session' });
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
      schema: { type: 'string', minLength: 1, maxLength: 256, pattern: document.components.schemas.AddJobRequest.properties.job_id.pattern },
    });
  });

  it('the Idempotency-Key schema accepts exactly the keys IdempotencyKeySchema accepts', () => {
    const { pattern, minLength, maxLength } = document.components.parameters.IdempotencyKey.schema as { pattern: string; minLength: number; maxLength: number };
    const accepts = (value: string) => new RegExp(pattern, 'u').test(value) && value.length >= minLength && value.length <= maxLength;

    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 })), (value) => {
        expect(accepts(value)).toBe(IdempotencyKeySchema.safeParse(value).success);
      }),
    );
  });
});
