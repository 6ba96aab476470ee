import { describe, expect, it } from 'vitest';
import { JobIdSchema, LabelSchema, SessionNameSchema } from '#lib/domain/session.ts';
import { invoke, request } from '../../helpers/api-event.ts';
import { useFakeS3Service } from '../../helpers/handlers.ts';
import { seedSession, storedSession } from '../../helpers/sessions.ts';
import { captureTelemetry } from '../../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { addJob, createSession, listSessions } = s3;

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A body as API Gateway delivers bytes that are not UTF-8: base64 with isBase64Encoded. */
function bytesBody(...parts: Array<string | number[]>): string {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf-8') : Buffer.from(part)))).toString('base64');
}

describe('bodies that are not UTF-8 are refused, never decoded lossily', () => {
  it.each([
    ['\\xFF', [0xff]],
    ['\\xFE', [0xfe]],
    ['an overlong /', [0xc0, 0xaf]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
  ])('POST /sessions/{id}/jobs with %s inside job_id: 400 body, nothing written', async (_, bytes) => {
    const { session } = seedSession(s3.fake);
    const event = request.addJob(session.id, {
      body: bytesBody('{"job_id":"a', bytes, 'b"}'),
      headers: JSON_HEADERS,
      isBase64Encoded: true,
    });
    const putsBefore = s3.fake.puts.length;

    const response = await invoke(addJob, event);

    expect(response.statusCode).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(response.body.error.details.issues[0]).toEqual({ field: 'body', message: 'is not valid UTF-8' });
    expect(s3.fake.puts.length).toBe(putsBefore);
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual([]);
  });

  it('POST /sessions with a name holding \\xFF: 400, no session created', async () => {
    const response = await invoke(
      createSession,
      request.createSession({ body: bytesBody('{"name":"n', [0xff], '"}'), headers: JSON_HEADERS, isBase64Encoded: true }),
    );

    expect([response.statusCode, response.body.error.details.issues[0].field]).toEqual([400, 'body']);
    expect(s3.fake.puts).toEqual([]);
  });

  it('base64 of valid UTF-8 is still accepted', async () => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(
      addJob,
      request.addJob(session.id, { body: bytesBody('{"job_id":"é𝄞"}'), headers: JSON_HEADERS, isBase64Encoded: true }),
    );

    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)!.job_ids).toEqual(['é𝄞']);
  });
});

describe('an Idempotency-Key sent twice (API Gateway joins the lines with a comma) is refused', () => {
  it.each(['k,k', 'k-1,k-2', 'k, k', ','])('%j: 400 headers.idempotency-key, nothing written', async (key) => {
    const response = await invoke(createSession, request.createSession({ headers: { 'idempotency-key': key } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues[0].field).toBe('headers.idempotency-key');
    expect(response.body.error.details.issues[0].message).toMatch(/comma/);
    expect(s3.fake.puts).toEqual([]);
  });

  it('a single key is accepted, and a retry with it once replays the session', async () => {
    const first = await invoke(createSession, request.createSession({ headers: { 'idempotency-key': 'k-1' } }));
    const again = await invoke(createSession, request.createSession({ headers: { 'idempotency-key': 'k-1' } }));

    expect([first.statusCode, again.statusCode]).toEqual([201, 200]);
    expect(again.body.id).toBe(first.body.id);
  });
});

describe('prototype names in the query are unknown parameters', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('GET /sessions?%s=1: 400 naming it', async (name) => {
    const event = request.listSessions({});
    event.queryStringParameters = JSON.parse(`{"${name}":"1"}`);
    event.rawQueryString = `${name}=1`;

    const response = await invoke(listSessions, event);

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues[0]).toEqual({ field: `query.${name}`, message: 'is not a known parameter' });
  });
});

const SPOOFING = [
  ['U+202A LRE', '\u202a'],
  ['U+202B RLE', '\u202b'],
  ['U+202C PDF', '\u202c'],
  ['U+202D LRO', '\u202d'],
  ['U+202E RLO', '\u202e'],
  ['U+2066 LRI', '\u2066'],
  ['U+2067 RLI', '\u2067'],
  ['U+2068 FSI', '\u2068'],
  ['U+2069 PDI', '\u2069'],
  ['U+200E LRM', '\u200e'],
  ['U+200F RLM', '\u200f'],
  ['U+061C ALM', '\u061c'],
  ['U+2028 LINE SEPARATOR', '\u2028'],
  ['U+2029 PARAGRAPH SEPARATOR', '\u2029'],
  ['U+FDD0', '\ufdd0'],
  ['U+FDEF', '\ufdef'],
  ['U+FFFE', '\ufffe'],
  ['U+FFFF', '\uffff'],
  ['U+1FFFE', '\u{1fffe}'],
  ['U+10FFFF', '\u{10ffff}'],
] as const;

describe('labels refuse characters that reorder or break a line of output', () => {
  it.each(SPOOFING)('LabelSchema refuses %s', (_, character) => {
    const result = LabelSchema.safeParse(`job${character}1`);

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/bidirectional|line or paragraph separator|noncharacter/);
  });

  it.each(['é𝄞', 'ジョブ', 'مهمة-1', '\ufdcf', '\ufdf0', '\ufffd', '\u{10fffd}', 'a\u200db'])('LabelSchema accepts %j', (label) => {
    expect(LabelSchema.safeParse(label).success).toBe(true);
  });

  it.each(SPOOFING)('POST /sessions/{id}/jobs with %s in job_id: 400 body.job_id, nothing written', async (_, character) => {
    const { session } = seedSession(s3.fake);
    const putsBefore = s3.fake.puts.length;

    const response = await invoke(addJob, request.addJob(session.id, { body: { job_id: `job${character}1` } }));

    expect([response.statusCode, response.body.error.details.issues[0].field]).toEqual([400, 'body.job_id']);
    expect(s3.fake.puts.length).toBe(putsBefore);
  });

  it('POST /sessions with an RLO in the name: 400 body.name, nothing written', async () => {
    const response = await invoke(createSession, request.createSession({ body: { name: 'ssh-\u202eimport' } }));

    expect([response.statusCode, response.body.error.details.issues[0].field]).toEqual([400, 'body.name']);
    expect(s3.fake.puts).toEqual([]);
  });

  it('names and job IDs are the same label', () => {
    expect([SessionNameSchema.safeParse('\u202e').success, JobIdSchema.safeParse('\u2028').success]).toEqual([false, false]);
  });
});
