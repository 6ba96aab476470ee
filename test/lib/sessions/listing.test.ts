import { describe, expect, it } from 'vitest';
import '../../helpers/lambda-env.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import { MAX_PAGE_BYTES } from '#lib/domain/limits.ts';
import type { Session, SessionStatus } from '#lib/domain/session.ts';
import { type ListSessionsOptions, SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { invoke, request } from '../../helpers/api-event.ts';
import { testService, useFakeS3Service } from '../../helpers/handlers.ts';

/** The largest Lambda answer, in bytes. */
const LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024;

/** `count` distinct job IDs of `length` ASCII characters, the longest the schema allows at 256. */
function jobIds(count: number, length = 256, tag = ''): string[] {
  return Array.from({ length: count }, (_, n) => `${tag}${n}-`.padEnd(length, 'x'));
}

/** Sessions created through the repository (name and status index entries included), then given `jobs` jobs each. */
async function seedLarge(
  store: MemoryObjectStore,
  repository: SessionRepository,
  count: number,
  jobs: number,
  { name, status = 'active' }: { name?: string; status?: SessionStatus } = {},
): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let n = 0; n < count; n++) {
    const created = await repository.createSession({ name: name ?? null });
    const { session, etag } = status === 'active' ? created : await repository.setStatus(created.session.id, status);
    const large = { ...session, job_ids: jobIds(jobs, 256, `${n}:`) };
    await store.put(sessionKey(session.id), JSON.stringify(large), { ifMatch: etag });
    sessions.push(large);
  }
  // Newest first, as every listing answers.
  return sessions.reverse();
}

const bytesOf = (session: Session) => Buffer.byteLength(JSON.stringify(session), 'utf-8');

/** Every page of a listing, following its cursors. */
async function allPages(repository: SessionRepository, options: ListSessionsOptions): Promise<Session[][]> {
  const pages: Session[][] = [];
  let cursor: string | undefined;
  do {
    const page = await repository.listSessions({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    pages.push(page.sessions);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return pages;
}

describe('a page of sessions is bounded by bytes as well as count', () => {
  const modes: [string, ListSessionsOptions, { name?: string; status?: SessionStatus }, boolean][] = [
    ['every session', {}, {}, false],
    ['one name', { name: 'big' }, { name: 'big' }, false],
    ['one status, scanned', { status: 'paused' }, { status: 'paused' }, false],
    ['one status, through the complete index', { status: 'paused' }, { status: 'paused' }, true],
  ];

  it.each(modes)('%s: ends the page before it passes MAX_PAGE_BYTES, and the cursor continues', async (_, options, seeded, indexed) => {
    const store = new MemoryObjectStore();
    const repository = new SessionRepository({ store, renewals: new MemoryObjectStore() });
    // About 260 kB each: four fit in a page, five do not.
    const sessions = await seedLarge(store, repository, 9, 1_000, seeded);
    if (indexed) expect(await repository.backfillStatusIndex()).toMatchObject({ complete: true });

    const pages = await allPages(repository, { ...options, limit: 100 });

    expect(pages.flat().map((session) => session.id)).toEqual(sessions.map((session) => session.id));
    expect(pages.map((page) => page.length)).toEqual([4, 4, 1]);
    for (const [index, page] of pages.entries()) {
      const bytes = page.reduce((sum, session) => sum + bytesOf(session), 0);
      expect(bytes).toBeLessThanOrEqual(MAX_PAGE_BYTES);
      // A page ended early only because the next session did not fit.
      const next = pages[index + 1]?.[0];
      if (next !== undefined) expect(bytes + bytesOf(next)).toBeGreaterThan(MAX_PAGE_BYTES);
    }
  });

  it('still counts: small sessions fill a page up to its limit', async () => {
    const store = new MemoryObjectStore();
    const repository = new SessionRepository({ store, renewals: new MemoryObjectStore() });
    await seedLarge(store, repository, 5, 10);

    const page = await repository.listSessions({ limit: 3 });

    expect(page.sessions).toHaveLength(3);
    expect(page.nextCursor).not.toBeNull();
  });

  it('holds at least one session, however large, so that a listing always moves on', async () => {
    const store = new MemoryObjectStore();
    const repository = new SessionRepository({ store, renewals: new MemoryObjectStore() });
    const [session] = await seedLarge(store, repository, 1, 20_000);
    expect(bytesOf(session!)).toBeGreaterThan(MAX_PAGE_BYTES);

    const page = await repository.listSessions();

    expect(page.sessions.map((listed) => listed.id)).toEqual([session!.id]);
    expect(page.nextCursor).toBeNull();
  });

  it('answers GET /sessions under 6 MB with the largest sessions the limits allow (10,000 jobs of 256 characters)', async () => {
    const store = new MemoryObjectStore();
    const service = testService({ store });
    const sessions = await seedLarge(store, service.repository, 3, service.repository.config.maxJobsPerSession);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await invoke(
        service.listSessions,
        request.listSessions({ limit: '100', ...(cursor === undefined ? {} : { cursor }) }),
      );
      expect(answer.statusCode).toBe(200);
      expect(Buffer.byteLength(answer.raw, 'utf-8')).toBeLessThan(LAMBDA_ANSWER_BYTES * 0.75);
      seen.push(...answer.body.sessions.map((session: Session) => session.id));
      cursor = answer.body.next_cursor ?? undefined;
    } while (cursor !== undefined);

    expect(seen).toEqual(sessions.map((session) => session.id));
  });
});

describe('GET /sessions input', () => {
  // The route's query schema checks the page's values; the listing itself does not check them again.
  const service = useFakeS3Service();

  it.each(['0', '101', '1.5', 'NaN'])('refuses limit %s before touching storage', async (limit) => {
    const answer = await invoke(service.listSessions, request.listSessions({ limit }));

    expect(answer.statusCode).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    expect(answer.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual(['query.limit']);
    expect(service.fake.totalRequests).toBe(0);
  });

  it.each(['', 'x'.repeat(257), 'tab\there'])('refuses the name %j before touching storage', async (name) => {
    const answer = await invoke(service.listSessions, request.listSessions({ name }));

    expect(answer.statusCode).toBe(400);
    expect(answer.body.error.details).toEqual({ issues: [{ field: 'query.name', message: expect.any(String) }] });
    expect(service.fake.totalRequests).toBe(0);
  });
});
