import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS } from '#lib/client/schemas.ts';
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
    ['/sessions/{id}/jobs', 'post', '409', ['session_not_active', 'session_full']],
    ['/sessions/{id}/jobs', 'post', '503', ['conflict_retry', 'storage_unavailable']],
    ['/sessions/{id}', 'patch', '409', ['invalid_transition']],
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

  it('uses every code of the contract but versioning_disabled (it belongs to restore, not built yet)', () => {
    const used = new Set([...walk(document)].flatMap(codesIfError));

    expect([...used].sort()).toEqual(ERROR_CODES.filter((code) => code !== 'versioning_disabled').sort());
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
