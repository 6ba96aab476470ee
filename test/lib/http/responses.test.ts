import { describe, expect, it } from 'vitest';
import type { Session } from '#lib/domain/session.ts';
import { createdResponse, httpResult, JSON_CONTENT_TYPE, quotedEtag } from '#lib/http/responses.ts';

const session: Session = {
  id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7',
  name: null,
  job_ids: [],
  created_at: 1,
  updated_at: 1,
  status: 'active',
};

describe('quotedEtag', () => {
  it.each([
    ['"abc"', '"abc"'],
    ['W/"abc"', 'W/"abc"'],
    ['abc', '"abc"'],
  ])('%s → %s', (etag, quoted) => {
    expect(quotedEtag(etag)).toBe(quoted);
  });
});

describe('httpResult', () => {
  it('a created session: 201, JSON, ETag as stored, Location', () => {
    const result = httpResult(createdResponse({ session, etag: '"abc"' }));

    expect(result).toEqual({
      statusCode: 201,
      headers: { 'Content-Type': JSON_CONTENT_TYPE, ETag: '"abc"', Location: `/sessions/${session.id}` },
      // A session stored before counts were kept is answered with them counted.
      body: JSON.stringify({
        ...session,
        job_counts: { total: session.job_ids.length, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      }),
    });
  });

  it('quotes an ETag a store answered bare', () => {
    expect(httpResult(createdResponse({ session, etag: 'abc' })).headers?.ETag).toBe('"abc"');
  });
});
