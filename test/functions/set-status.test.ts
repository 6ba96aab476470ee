import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newestFirstId } from '#lib/domain/ids.ts';
import { SESSION_STATUSES, type SessionStatus, withJobCounts } from '#lib/domain/session.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { md5Etag } from '../helpers/s3-fake.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { setStatus: handler } = s3;

/** The contract's status machine, written out: active ⇄ paused, either → completed | terminated. */
const ALLOWED: ReadonlyArray<[SessionStatus, SessionStatus]> = [
  ['active', 'paused'],
  ['paused', 'active'],
  ['active', 'completed'],
  ['active', 'terminated'],
  ['paused', 'completed'],
  ['paused', 'terminated'],
];

describe('PATCH /sessions/{id}', () => {
  it.each(ALLOWED)('200: %s → %s is stored with a compare-and-swap and answered with the new ETag', async (from, to) => {
    const { session, etag } = seedSession(s3.fake, { status: from, job_ids: ['job-1'] });

    const response = await invoke(handler, request.setStatus(session.id, { body: { status: to } }));

    expect(response.statusCode).toBe(200);
    const stored = storedSession(s3.fake, session.id)!;
    expect(stored).toMatchObject({ status: to, job_ids: ['job-1'], updated_by: TEST_CALLER });
    expect(response.body).toEqual(stored);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, ETag: s3.fake.objects.get(`sessions/${session.id}.json`)!.etag });
    expect(s3.fake.puts).toHaveLength(1);
    expect(s3.fake.puts[0]?.IfMatch).toBe(etag.replaceAll('"', ''));
  });

  it.each(SESSION_STATUSES)('200 and unchanged when the session is already %s: nothing is written', async (status) => {
    const { session, etag } = seedSession(s3.fake, { status });

    const response = await invoke(handler, request.setStatus(session.id, { body: { status } }));

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual(withJobCounts(session));
    expect(response.headers.ETag).toBe(etag);
    expect(s3.fake.puts).toEqual([]);
  });

  it('answers every (from, to) pair as the status machine says, writing only real transitions', async () => {
    const status = fc.constantFrom(...SESSION_STATUSES);
    await fc.assert(
      fc.asyncProperty(status, status, async (from, to) => {
        s3.fake.resetCounts();
        const { session } = seedSession(s3.fake, { status: from });

        const response = await invoke(handler, request.setStatus(session.id, { body: { status: to } }));

        const allowed = ALLOWED.some(([a, b]) => a === from && b === to);
        const expected = from === to || allowed ? 200 : 409;
        expect(response.statusCode).toBe(expected);
        expect(storedSession(s3.fake, session.id)!.status).toBe(allowed ? to : from);
        expect(s3.fake.puts).toHaveLength(allowed ? 1 : 0);
      }),
      { numRuns: 40 },
    );
  });

  it.each([
    ['completed', 'active'],
    ['completed', 'paused'],
    ['completed', 'terminated'],
    ['terminated', 'active'],
    ['terminated', 'paused'],
    ['terminated', 'completed'],
  ] as const)('409 invalid_transition for %s → %s, and nothing is written', async (from, to) => {
    const { session } = seedSession(s3.fake, { status: from });

    const response = await invoke(handler, request.setStatus(session.id, { body: { status: to } }));

    expect(response.statusCode).toBe(409);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body.error).toEqual({ code: 'invalid_transition', message: expect.any(String), details: { id: session.id, from, to } });
    expect(s3.fake.puts).toEqual([]);
  });

  it('404 session_not_found, and nothing is written', async () => {
    const id = newestFirstId();

    const response = await invoke(handler, request.setStatus(id, { body: { status: 'paused' } }));

    expect(response.statusCode).toBe(404);
    expect(response.body.error).toEqual({ code: 'session_not_found', message: `no session ${id}`, details: { id } });
    expect(s3.fake.puts).toEqual([]);
  });

  it('412 precondition_failed for a stale If-Match, and nothing is written', async () => {
    const { session } = seedSession(s3.fake);
    const stale = md5Etag('an older version');

    const response = await invoke(handler, request.setStatus(session.id, { body: { status: 'paused' }, headers: { 'if-match': stale } }));

    expect(response.statusCode).toBe(412);
    expect(response.body.error).toEqual({
      code: 'precondition_failed',
      message: expect.any(String),
      details: { id: session.id, if_match: stale },
    });
    expect(storedSession(s3.fake, session.id)!.status).toBe('active');
    expect(s3.fake.puts).toEqual([]);
  });

  it('200 with the current If-Match', async () => {
    const { session, etag } = seedSession(s3.fake);

    const response = await invoke(handler, request.setStatus(session.id, { body: { status: 'paused' }, headers: { 'if-match': etag } }));

    expect(response.statusCode).toBe(200);
    expect(storedSession(s3.fake, session.id)!.status).toBe('paused');
  });

  it.each([
    ['a status that does not exist', { status: 'done' }, 'body.status'],
    ['an upper-case status', { status: 'PAUSED' }, 'body.status'],
    ['a missing status', {}, 'body.status'],
    ['another field alongside', { status: 'paused', name: 'renamed' }, 'body.name'],
  ])('400 invalid_request for %s, naming the field, before any storage call', async (_, body, field) => {
    const { session } = seedSession(s3.fake);

    const response = await invoke(handler, request.setStatus(session.id, { body }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'invalid_request', details: { issues: [{ field, message: expect.any(String) }] } });
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('400 invalid_request on path.id for an ID that is not 32 lowercase hex characters', async () => {
    const response = await invoke(handler, request.setStatus('fffe6a1c', { body: { status: 'paused' } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues).toEqual([{ field: 'path.id', message: 'must be 32 lowercase hexadecimal characters' }]);
    expect(s3.fake.totalRequests).toBe(0);
  });
});
