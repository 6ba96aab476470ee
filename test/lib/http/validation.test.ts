import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidRequest } from '#lib/domain/errors.ts';
import { IfMatchHeadersSchema, SessionPathSchema } from '#lib/http/schemas.ts';
import { parseRequest, type RawRequest } from '#lib/http/validation.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

function raw(parts: Partial<RawRequest> = {}): RawRequest {
  return { path: {}, query: {}, headers: {}, body: undefined, ...parts };
}

function issuesOf(action: () => unknown) {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequest);
    return (error as InvalidRequest).details.issues;
  }
  throw new Error('expected InvalidRequest');
}

describe('parseRequest', () => {
  const schemas = {
    path: SessionPathSchema,
    headers: IfMatchHeadersSchema,
    body: z.strictObject({ job_id: z.string().min(1), tags: z.array(z.string()).optional() }),
  };

  it('answers each part as its schema produces it', () => {
    const input = parseRequest(
      schemas,
      raw({ path: { id: ID }, headers: { 'if-match': ' "abc" ', host: 'x' }, body: { job_id: 'job-1' } }),
    );

    expect(input).toEqual({ path: { id: ID }, query: {}, headers: { 'if-match': '"abc"' }, body: { job_id: 'job-1' } });
  });

  it('turns If-Match * into no condition', () => {
    const input = parseRequest(schemas, raw({ path: { id: ID }, headers: { 'if-match': '*' }, body: { job_id: 'job-1' } }));

    expect(input.headers['if-match']).toBeUndefined();
  });

  it('names every bad field of every part, prefixed with its part, in one error', () => {
    const issues = issuesOf(() =>
      parseRequest(
        schemas,
        raw({ path: { id: 'nope' }, query: { page: '2' }, body: { job_id: '', tags: ['ok', 7], extra: true, more: 1 } }),
      ),
    );

    expect(issues).toEqual([
      { field: 'path.id', message: 'must be 32 lowercase hexadecimal characters' },
      { field: 'query.page', message: 'is not a known parameter' },
      { field: 'body.job_id', message: expect.any(String) },
      { field: 'body.tags.1', message: expect.any(String) },
      { field: 'body.extra', message: 'is not a known field' },
      { field: 'body.more', message: 'is not a known field' },
    ]);
  });

  it('summarises the first issue in the message', () => {
    try {
      parseRequest(schemas, raw({ path: { id: 'nope' }, body: { job_id: '' } }));
      expect.unreachable();
    } catch (error) {
      expect((error as InvalidRequest).message).toBe('path.id: must be 32 lowercase hexadecimal characters (and 1 more)');
    }
  });

  it('refuses any query parameter on a route without a query schema', () => {
    const issues = issuesOf(() => parseRequest({}, raw({ query: { debug: '1' } })));

    expect(issues).toEqual([{ field: 'query.debug', message: 'is not a known parameter' }]);
  });

  it('names the whole body when it is missing or of the wrong type', () => {
    expect(issuesOf(() => parseRequest({ body: schemas.body }, raw()))).toEqual([{ field: 'body', message: expect.any(String) }]);
    expect(issuesOf(() => parseRequest({ body: schemas.body }, raw({ body: [] })))).toEqual([
      { field: 'body', message: expect.any(String) },
    ]);
  });
});
