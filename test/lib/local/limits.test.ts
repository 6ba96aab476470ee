import { afterEach, describe, expect, it } from 'vitest';
import { readServiceConfig } from '#lib/domain/config.ts';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import { JOB_ID_MAX_BYTES, MAX_PAGE_BYTES } from '#lib/domain/limits.ts';
import type { Session } from '#lib/domain/session.ts';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { largestJobIds } from '../../helpers/largest-session.ts';

const MAX_JOBS = readServiceConfig({}).maxJobsPerSession;

/** A store whose version reads take `ms`, counting them. */
class SlowVersionReads extends MemoryObjectStore {
  reads = 0;
  readonly ms: number;
  constructor(ms: number) {
    super();
    this.ms = ms;
  }
  override async getVersion(key: string, versionId: string) {
    this.reads++;
    await new Promise((resolve) => setTimeout(resolve, this.ms));
    return super.getVersion(key, versionId);
  }
}

/** Writes each of `versions` as the next version of one session; returns its ID. */
async function seedVersions(store: MemoryObjectStore, versions: Partial<Session>[]): Promise<string> {
  const id = newestFirstId();
  const base: Session = { id, name: null, job_ids: [], created_at: 1, updated_at: 1, status: 'active' };
  let etag: string | undefined;
  for (const fields of [{}, ...versions]) {
    etag = await store.put(
      sessionKey(id),
      JSON.stringify({ ...base, ...fields }),
      etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag },
    );
  }
  return id;
}

describe('the limits, at the limit, on the local server', () => {
  let server: LocalServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it(`refuses a job ID of ${JOB_ID_MAX_BYTES + 1} bytes with 400 and takes one of ${JOB_ID_MAX_BYTES}`, async () => {
    server = await startLocalServer({ port: 0, store: new MemoryObjectStore(), console: false });
    const { id } = await (await fetch(`${server.url}/sessions`, { method: 'POST' })).json();
    const add = (jobId: string) =>
      fetch(`${server!.url}/sessions/${id}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ job_id: jobId }),
      });

    expect((await add(`${'ジ'.repeat(Math.floor(JOB_ID_MAX_BYTES / 3))}ab`)).status).toBe(400);
    expect((await add('j'.repeat(JOB_ID_MAX_BYTES))).status).toBe(200);
  });

  it('serves the largest session in one answer, and its history in pages bounded by bytes that next_cursor walks', async () => {
    const store = new MemoryObjectStore();
    const jobs = largestJobIds(MAX_JOBS);
    const id = await seedVersions(store, [
      { job_ids: jobs.slice(0, MAX_JOBS - 1) },
      { job_ids: jobs },
      { status: 'paused', job_ids: jobs },
    ]);
    server = await startLocalServer({ port: 0, store, console: false });

    const session = await fetch(`${server.url}/sessions/${id}`);
    const sessionBytes = (await session.arrayBuffer()).byteLength;
    const pages: number[] = [];
    let entries = 0;
    let cursor: string | null = null;
    do {
      const response: Response = await fetch(`${server.url}/sessions/${id}/history?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      const text = await response.text();
      pages.push(Buffer.byteLength(text));
      const page = JSON.parse(text) as { versions: unknown[]; next_cursor: string | null };
      entries += page.versions.length;
      cursor = page.next_cursor;
    } while (cursor);

    expect(session.status).toBe(200);
    expect(sessionBytes).toBeLessThan(2 * MAX_PAGE_BYTES);
    expect(entries).toBe(4);
    expect(pages.length).toBeGreaterThan(1);
    expect(Math.max(...pages)).toBeLessThan(2 * MAX_PAGE_BYTES);
  });

  it('stops reading versions for a history request whose deadline has passed', async () => {
    const store = new SlowVersionReads(40);
    const id = await seedVersions(
      store,
      Array.from({ length: 100 }, (_, n) => ({ job_ids: [`job-${n}`] })),
    );
    server = await startLocalServer({ port: 0, store, console: false, requestTimeoutMs: 100 });

    const response = await fetch(`${server.url}/sessions/${id}/history?limit=100`);
    const readsAtAnswer = store.reads;
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(store.reads - readsAtAnswer).toBeLessThanOrEqual(16);
    expect(store.reads).toBeLessThan(101);
  });
});
