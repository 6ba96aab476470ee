/**
 * 9. Listing at 1,000 and 100,000 stored sessions: the first page, a deep
 * page, `status=active` with 10 matches and a `name=` lookup, timed on the
 * SQLite store through the repository (sizes interleaved) and counted in S3
 * requests on the fake.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeCursor } from '#lib/domain/cursor.ts';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import { type ListSessionsOptions, SessionRepository } from '#lib/sessions/repository.ts';
import { STATUS_INDEXED_KEY, statusIndexKey } from '#lib/sessions/status-index.ts';
import type { ObjectStore } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { SqliteObjectStore, UnversionedSqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { fixed, integer, type Section, times, verdict } from './report.ts';
import { fakeS3Client } from './s3-clients.ts';
import { median, nowMs } from './stats.ts';

export interface ListingOptions {
  quick?: boolean;
  sizes?: [number, number];
  log?: (line: string) => void;
}

type Query = 'first page' | 'deep page' | 'status=active, first call' | 'status=active, all 10' | 'name=';

export interface ListingRow {
  query: Query;
  /** p50 ms on the SQLite store at each size. */
  fileMs: [number, number];
  fileRatio: number;
  /** S3 requests at each size, and the calls made. */
  s3Requests: [number, number];
  calls: [number, number];
  found: [number, number];
  met: boolean;
}

export interface ListingResult {
  sizes: [number, number];
  rows: ListingRow[];
  seconds: number;
}

const ACTIVE = 10;
const PAGE = 50;
const NEEDLE = 'needle-session';
export const LISTING_RATIO_TARGET = 1.5;
/** API calls (listing requests) to find the 10 active sessions. */
export const ACTIVE_REQUEST_TARGET = 2;

/** The sessions of a store of `count`, newest first; `ACTIVE` of them active, spread evenly, the rest paused. */
function sessions(count: number): Session[] {
  const now = Date.now();
  const active = new Set(Array.from({ length: ACTIVE }, (_, index) => Math.floor(((index + 0.5) * count) / ACTIVE)));
  return Array.from({ length: count }, (_, index) => {
    const createdMs = now - index;
    const seconds = Math.floor(createdMs / 1000);
    return {
      id: newestFirstId(createdMs),
      name: null,
      job_ids: [],
      created_at: seconds,
      updated_at: seconds,
      status: active.has(index) ? 'active' : 'paused',
    };
  });
}

/** Create-only puts through the store's public API, 256 at once (the SQLite store commits them together). */
async function seedStore(store: ObjectStore, stored: Session[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < stored.length) {
        const session = stored[next++]!;
        await store.put(sessionKey(session.id), JSON.stringify(session), { ifNoneMatch: '*' });
      }
    }),
  );
}

/** The calls of one query: one for a page, cursors followed until 10 are found for "all 10". */
async function run(repository: SessionRepository, query: Query, stored: Session[]): Promise<{ calls: number; found: number }> {
  const options: Record<Exclude<Query, 'status=active, all 10'>, ListSessionsOptions> = {
    'first page': { limit: PAGE },
    'deep page': { limit: PAGE, cursor: encodeCursor(stored[Math.floor(stored.length * 0.9)]!.id) },
    'status=active, first call': { limit: PAGE, status: 'active' },
    'name=': { limit: PAGE, name: NEEDLE },
  };
  if (query !== 'status=active, all 10') {
    const page = await repository.listSessions(options[query]);
    return { calls: 1, found: page.sessions.length };
  }
  let cursor: string | undefined;
  let calls = 0;
  let found = 0;
  do {
    const page = await repository.listSessions({ limit: PAGE, status: 'active', ...(cursor === undefined ? {} : { cursor }) });
    calls++;
    found += page.sessions.length;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && found < ACTIVE);
  return { calls, found };
}

const QUERIES: Query[] = ['first page', 'deep page', 'status=active, first call', 'status=active, all 10', 'name='];

/** Seeds both stores at both sizes and runs every query. */
export async function measureListing(options: ListingOptions = {}): Promise<ListingResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const sizes = options.sizes ?? (options.quick ? [500, 5_000] : [1_000, 100_000]);
  const stored = sizes.map(sessions);
  const fake = new S3Fake();
  const directories: string[] = [];
  const files: SqliteObjectStore[] = [];
  try {
    const counts = new Map<Query, { requests: number[]; calls: number[]; found: number[] }>(
      QUERIES.map((query) => [query, { requests: [], calls: [], found: [] }]),
    );
    for (const [index, size] of sizes.entries()) {
      log(`listing: S3 fake, ${integer(size)} sessions`);
      fake.objects.clear();
      fake.versions.clear();
      for (const session of stored[index]!) fake.seed(sessionKey(session.id), JSON.stringify(session));
      // The status index lives beside the lease records (the leases bucket deployed; the fake keeps one map for both).
      const s3Repository = () => {
        const client = fakeS3Client();
        return new SessionRepository({
          store: new S3ObjectStore({ bucket: 'bench-sessions', client }),
          renewals: new S3ObjectStore({ bucket: 'bench-leases', client }),
        });
      };
      // The status index as the backfill leaves it, seeded straight into the fake's map like the sessions (a backfill
      // through the SDK mock would keep 200,000 recorded calls in memory).
      for (const session of stored[index]!) {
        fake.seed(statusIndexKey(session.status, session.id), JSON.stringify({ session_id: session.id, status: session.status }));
      }
      fake.seed(STATUS_INDEXED_KEY, JSON.stringify({ complete: true, at: Math.floor(Date.now() / 1000) }));
      const seeding = s3Repository();
      await seeding.setStatus((await seeding.createSession({ name: NEEDLE })).session.id, 'paused');
      for (const query of QUERIES) {
        const repository = s3Repository();
        fake.resetCounts();
        const { calls, found } = await run(repository, query, stored[index]!);
        const count = counts.get(query)!;
        count.requests.push(fake.totalRequests);
        count.calls.push(calls);
        count.found.push(found);
      }
    }
    fake.restore();
    const repositories: SessionRepository[] = [];
    for (const [index, size] of sizes.entries()) {
      log(`listing: seeding the SQLite store with ${integer(size)} sessions`);
      const directory = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-listing-'));
      directories.push(directory);
      const store = new SqliteObjectStore(path.join(directory, 'sessions'));
      const soft = new UnversionedSqliteObjectStore(path.join(directory, 'leases'));
      files.push(store);
      await seedStore(store, stored[index]!);
      const repository = new SessionRepository({ store, renewals: soft });
      await repository.setStatus((await repository.createSession({ name: NEEDLE })).session.id, 'paused');
      await repository.backfillStatusIndex();
      repositories.push(repository);
    }
    const timings = new Map<Query, number[][]>(QUERIES.map((query) => [query, sizes.map(() => [])]));
    for (const query of QUERIES) {
      const rounds = query === 'status=active, all 10' ? (options.quick ? 1 : 3) : options.quick ? 5 : 21;
      log(`listing: SQLite store, ${query}`);
      for (let round = 0; round < rounds; round++) {
        // Sizes alternate call by call, the order swapped every round.
        for (const index of round % 2 === 0 ? [0, 1] : [1, 0]) {
          const began = nowMs();
          await run(repositories[index]!, query, stored[index]!);
          timings.get(query)![index]!.push(nowMs() - began);
        }
      }
    }
    const rows = QUERIES.map((query): ListingRow => {
      const fileMs = timings.get(query)!.map(median) as [number, number];
      const count = counts.get(query)!;
      const fileRatio = fileMs[1] / fileMs[0];
      const s3Requests = count.requests as [number, number];
      const flat = fileRatio <= LISTING_RATIO_TARGET && s3Requests[1] <= LISTING_RATIO_TARGET * s3Requests[0];
      const met = query === 'status=active, all 10' ? flat && count.calls.every((calls) => calls <= ACTIVE_REQUEST_TARGET) : flat;
      return { query, fileMs, fileRatio, s3Requests, calls: count.calls as [number, number], found: count.found as [number, number], met };
    });
    return { sizes, rows, seconds: (performance.now() - started) / 1000 };
  } finally {
    fake.restore();
    await Promise.all(files.map((store) => store.close()));
    await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  }
}

/** Section 9 of bench/RESULTS.md. */
export function listingSection(result: ListingResult): Section {
  const [small, large] = result.sizes.map(integer);
  return {
    title: '9. Listing at scale',
    intro: [
      `${small} and ${large} stored sessions, newest-first IDs (\`lib/domain/ids.ts\`), ${ACTIVE} of them \`active\` spread evenly over the listing, the ` +
        `rest \`paused\`, and one more named \`${NEEDLE}\` created through the repository (with its name index entry). Seeded directly: ` +
        "create-only puts of the session JSON through the SQLite store's public API, and straight into the S3 fake's map; the status index " +
        'as its backfill leaves it (`backfillStatusIndex` on the SQLite store; entries and the completed record seeded into the fake). Queries go through ' +
        `\`SessionRepository.listSessions\` (pages of ${PAGE}); the deep page starts from a cursor at 90 % of the listing. "all 10" follows the ` +
        'cursors until the 10 active sessions are found. File store: p50 of calls alternating between the two sizes; S3: requests counted on the fake, ' +
        'each query by a fresh repository.',
      `Targets: ≤ ${LISTING_RATIO_TARGET}× between the sizes (time on the SQLite store and requests on S3), and ≤ ${ACTIVE_REQUEST_TARGET} ` +
        'API calls (listing requests) to find the 10 active sessions.',
    ],
    tables: [
      {
        headers: [
          'query',
          `SQLite store, ${small}`,
          `SQLite store, ${large}`,
          'ratio',
          `S3 requests, ${small}`,
          `S3 requests, ${large}`,
          'calls',
          'found',
          'met',
        ],
        rows: result.rows.map((row) => [
          row.query,
          `${fixed(row.fileMs[0], 2)} ms`,
          `${fixed(row.fileMs[1], 2)} ms`,
          times(row.fileRatio),
          integer(row.s3Requests[0]),
          integer(row.s3Requests[1]),
          `${integer(row.calls[0])} / ${integer(row.calls[1])}`,
          `${integer(row.found[0])} / ${integer(row.found[1])}`,
          verdict(row.met),
        ]),
      },
    ],
    notes: [
      'A status listing reads the status index (`lib/sessions/status-index.ts`): the backfill record once per instance, one listing of ' +
        '`status/active/`, and one read per entry to verify it — 12 S3 requests for the 10 active sessions at any size. Before the ' +
        'backfill completes it scans as before, with a budget of `LIST_SCAN_BUDGET` (500) keys a call.',
    ],
  };
}
