import { describe, expect, it } from 'vitest';
import { type Session, type SessionStatus, withJobCounts } from '#lib/domain/session.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { invoke, request } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { s3Error } from '../helpers/s3-fake.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { listSessions: handler, createSession, setStatus } = s3;

const T0 = Date.UTC(2026, 0, 1);

/** Seeds `count` sessions one second apart; answers them newest first. */
/** Sessions stored as an earlier version wrote them, as the list answers them: with their counts counted. */
function seedMany(count: number, status: (n: number) => SessionStatus = () => 'active'): Session[] {
  return Array.from({ length: count }, (_, n) =>
    withJobCounts(seedSession(s3.fake, { status: status(n) }, T0 + n * 1000).session),
  ).reverse();
}

describe('GET /sessions', () => {
  it('200 {"sessions": [], "next_cursor": null} when there are none', async () => {
    const response = await invoke(handler, request.listSessions());

    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({ sessions: [], next_cursor: null });
  });

  it('200: sessions created through POST /sessions come back newest first', async () => {
    const names = ['first', 'second', 'third'];
    for (const name of names) {
      await invoke(createSession, request.createSession({ body: { name } }));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }

    const response = await invoke(handler, request.listSessions());

    expect(response.body.sessions.map((session: Session) => session.name)).toEqual(['third', 'second', 'first']);
    expect(response.body.next_cursor).toBeNull();
  });

  it('200: pages of `limit`, newest first, following next_cursor to the end', async () => {
    const all = seedMany(5);

    const first = await invoke(handler, request.listSessions({ limit: '2' }));
    const second = await invoke(handler, request.listSessions({ limit: '2', cursor: first.body.next_cursor }));
    const third = await invoke(handler, request.listSessions({ limit: '2', cursor: second.body.next_cursor }));

    expect(first.statusCode).toBe(200);
    expect(first.body.sessions).toEqual(all.slice(0, 2));
    expect(first.body.next_cursor).toEqual(expect.any(String));
    expect(second.body.sessions).toEqual(all.slice(2, 4));
    expect(third.body).toEqual({ sessions: all.slice(4), next_cursor: null });
  });

  it('200: 50 sessions by default', async () => {
    const all = seedMany(51);

    const response = await invoke(handler, request.listSessions());

    expect(response.body.sessions).toEqual(all.slice(0, 50));
    expect(response.body.next_cursor).toEqual(expect.any(String));
  });

  it.each(['1', '100'])('200 at the limit bound %s', async (limit) => {
    seedMany(3);

    const response = await invoke(handler, request.listSessions({ limit }));

    expect(response.statusCode).toBe(200);
    expect(response.body.sessions).toHaveLength(Math.min(3, Number(limit)));
  });

  it('200: only sessions of the given status', async () => {
    const all = seedMany(6, (n) => (n % 2 === 0 ? 'paused' : 'active'));

    const response = await invoke(handler, request.listSessions({ status: 'paused' }));

    expect(response.body.sessions).toEqual(all.filter((session) => session.status === 'paused'));
    expect(response.body.next_cursor).toBeNull();
  });

  it.each([
    ['limit 0', { limit: '0' }, 'query.limit'],
    ['limit 101', { limit: '101' }, 'query.limit'],
    ['a negative limit', { limit: '-1' }, 'query.limit'],
    ['a fractional limit', { limit: '1.5' }, 'query.limit'],
    ['a limit that is not a number', { limit: 'ten' }, 'query.limit'],
    ['an empty limit', { limit: '' }, 'query.limit'],
    ['an unknown status', { status: 'done' }, 'query.status'],
    ['a cursor this API did not issue', { cursor: 'not-a-cursor' }, 'query.cursor'],
    ['an unknown parameter', { stauts: 'active' }, 'query.stauts'],
    ['an empty name', { name: '' }, 'query.name'],
    ['a name of 257 characters', { name: 'n'.repeat(257) }, 'query.name'],
    ['a name with a control character', { name: 'line\nbreak' }, 'query.name'],
  ])('400 invalid_request for %s, naming the parameter, before any storage call', async (_, query, field) => {
    const response = await invoke(handler, request.listSessions(query));

    expect(response.statusCode).toBe(400);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body.error).toMatchObject({ code: 'invalid_request', details: { issues: [{ field, message: expect.any(String) }] } });
    expect(s3.fake.totalRequests).toBe(0);
  });

  it('503 storage_unavailable with Retry-After when S3 cannot list', async () => {
    s3.fake.fail('ListObjectsV2', s3Error('SlowDown', 503, 'Please reduce your request rate.'));

    const response = await invoke(handler, request.listSessions());

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '2' });
    expect(response.body.error.code).toBe('storage_unavailable');
  });
});

describe('GET /sessions?name=NAME', () => {
  const create = async (name: string | null) => (await invoke(createSession, request.createSession({ body: { name } }))).body as Session;

  it('200: only the sessions created with exactly that name, newest first, in the usual shape', async () => {
    const older = await create('ssh-import');
    await new Promise((resolve) => setTimeout(resolve, 2));
    await create('ssh-import-nightly');
    await create(null);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const newer = await create('ssh-import');

    const response = await invoke(handler, request.listSessions({ name: 'ssh-import' }));

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({ sessions: [newer, older], next_cursor: null });
  });

  it('200: combines with status, limit and cursor', async () => {
    const all: Session[] = [];
    for (let n = 0; n < 5; n++) {
      all.unshift(await create('fleet-7'));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await invoke(setStatus, request.setStatus(all[1]!.id, { body: { status: 'paused' } }));
    await invoke(setStatus, request.setStatus(all[3]!.id, { body: { status: 'paused' } }));

    const paused = await invoke(handler, request.listSessions({ name: 'fleet-7', status: 'paused' }));
    const first = await invoke(handler, request.listSessions({ name: 'fleet-7', limit: '3' }));
    const rest = await invoke(handler, request.listSessions({ name: 'fleet-7', limit: '3', cursor: first.body.next_cursor }));

    expect(paused.body.sessions.map((s: Session) => s.id)).toEqual([all[1]!.id, all[3]!.id]);
    expect(first.body.sessions.map((s: Session) => s.id)).toEqual(all.slice(0, 3).map((s) => s.id));
    expect(rest.body).toEqual({ sessions: expect.any(Array), next_cursor: null });
    expect(rest.body.sessions.map((s: Session) => s.id)).toEqual(all.slice(3).map((s) => s.id));
  });

  it('200 without the session of a create that failed after writing its name index entry', async () => {
    s3.fake.fail('PutObject', s3Error('InternalError', 500), { when: (input) => String(input.Key).startsWith('sessions/') });
    const failed = await invoke(createSession, request.createSession({ body: { name: 'half-made' } }));

    const response = await invoke(handler, request.listSessions({ name: 'half-made' }));

    expect(failed.statusCode).toBe(503);
    expect([...s3.fake.objects.keys()].some((key) => key.startsWith('names/'))).toBe(true);
    expect(response.body).toEqual({ sessions: [], next_cursor: null });
  });
});
