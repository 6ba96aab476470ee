/**
 * 1. S3 requests per operation, counted by a stateful S3 fake behind the
 * service's own S3 store: every GetObject, PutObject and ListObjectsV2 the
 * repository's operations send. Each handler calls exactly one repository
 * operation, so these are the S3 requests of one API call.
 */

import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../test/helpers/s3-fake.ts';
import { fixed, integer, type Section, verdict } from './report.ts';
import { fakeS3Client } from './s3-clients.ts';
import { trackRoundTrips } from './tracked-store.ts';

export interface RequestsOptions {
  quick?: boolean;
  /** Stored sessions at which the first list page is counted. */
  listSizes?: number[];
  log?: (line: string) => void;
}

export interface S3Requests {
  get: number;
  put: number;
  list: number;
  delete: number;
  total: number;
}

/** What the design promises for one operation. */
export interface Expectation {
  text: string;
  met: boolean;
}

export interface RequestCountRow {
  /** Stable identifier (`create`, `append-100`, `list-10000`, …). */
  id: string;
  operation: string;
  requests: S3Requests;
  /** Operations performed (100 for the appending runner, else 1). */
  operations: number;
  /** Requests per operation. */
  perOperation: number;
  /** Sequential S3 round trips per operation: what latency it pays. */
  roundTripsPerOperation: number;
  expectation: Expectation;
}

export interface RequestsResult {
  rows: RequestCountRow[];
  listSizes: number[];
  /** Whether the first list page costs the same at every size of at least one page. */
  listCostFlat: boolean;
  seconds: number;
}

const BUCKET = 'bench-sessions';
const LEASES_BUCKET = 'bench-leases';
const SEQUENTIAL_APPENDS = 100;
const PAGE = 50;
const APPEND_TARGET = 1.1;

/** Stored sessions at which the first list page is counted, in a full run and in a quick one. */
export const DEFAULT_LIST_SIZES = [10, 10_000, 100_000];
export const QUICK_LIST_SIZES = [10, 1_000, 10_000];

/** Counts the S3 requests of every operation of the API, each on a fresh (cold) Lambda instance unless said otherwise. */
export async function measureRequests(options: RequestsOptions = {}): Promise<RequestsResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const listSizes = options.listSizes ?? (options.quick ? QUICK_LIST_SIZES : DEFAULT_LIST_SIZES);
  const fake = new S3Fake();
  const rows: RequestCountRow[] = [];
  try {
    const client = fakeS3Client();
    /** A new Lambda instance: its own repository, nothing remembered. */
    const coldInstance = () => {
      const tracked = trackRoundTrips(new S3ObjectStore({ bucket: BUCKET, client }));
      // The status index lives in the leases bucket; the fake counts the requests to both buckets.
      return {
        tracked,
        repository: new SessionRepository({ store: tracked.store, renewals: new S3ObjectStore({ bucket: LEASES_BUCKET, client }) }),
      };
    };
    const count = async (
      id: string,
      operation: string,
      operations: number,
      act: (repository: SessionRepository) => Promise<unknown>,
      expect: (requests: S3Requests) => Expectation,
    ) => {
      const { tracked, repository } = coldInstance();
      fake.resetCounts();
      await act(repository);
      const requests = {
        get: fake.requests.GetObject,
        put: fake.requests.PutObject,
        list: fake.requests.ListObjectsV2,
        delete: fake.requests.DeleteObject ?? 0,
        total: fake.totalRequests,
      };
      rows.push({
        id,
        operation,
        requests,
        operations,
        perOperation: requests.total / operations,
        roundTripsPerOperation: tracked.roundTrips() / operations,
        expectation: expect(requests),
      });
    };
    const exactly =
      (get: number, put: number, list: number, del = 0) =>
      (requests: S3Requests): Expectation => ({
        text: [get && `${get} GET`, put && `${put} PUT`, list && `${list} LIST`, del && `${del} DELETE`].filter(Boolean).join(' + '),
        // Nothing else either: total counts every kind of request the fake knows.
        met:
          requests.get === get &&
          requests.put === put &&
          requests.list === list &&
          requests.delete === del &&
          requests.total === get + put + list + del,
      });

    log('requests: single operations');
    // The session and its status index entry (`status/active/<id>.json`), both create-only.
    await count('create', 'create session, no name', 1, (repository) => repository.createSession(), exactly(0, 2, 0));
    // A named session also gets its create-only name index entry (`names/<sha256>/<id>.json`), for `GET /sessions?name=`.
    await count(
      'create-named',
      'create session with a name',
      1,
      (repository) => repository.createSession({ name: 'ssh-import' }),
      exactly(0, 3, 0),
    );
    const read = seed(fake);
    await count('get', 'get session', 1, (repository) => repository.getSession(read.id), exactly(1, 0, 0));
    const appendTo = seed(fake);
    await count(
      'add-job',
      'add job, uncontended, cold instance',
      1,
      (repository) => repository.addJob(appendTo.id, 'job-1'),
      exactly(1, 1, 0),
    );
    const present = seed(fake, { job_ids: ['job-1'] });
    await count(
      'add-job-present',
      'add job already present, cold instance',
      1,
      (repository) => repository.addJob(present.id, 'job-1'),
      exactly(1, 0, 0),
    );
    const runner = seed(fake);
    await count(
      'append-100',
      `${SEQUENTIAL_APPENDS} appends one after another, one instance (first cold, then warm)`,
      SEQUENTIAL_APPENDS,
      async (repository) => {
        for (let job = 1; job <= SEQUENTIAL_APPENDS; job++) await repository.addJob(runner.id, `job-${job}`);
      },
      (requests) => ({
        text: `≤ ${APPEND_TARGET} per job (target)`,
        met: requests.total / SEQUENTIAL_APPENDS <= APPEND_TARGET,
      }),
    );
    const paused = seed(fake);
    // The session's read and write; its status index entry moved: paused's made before and after the write, active's
    // deleted, then the session read again (another writer may have moved it back).
    await count(
      'set-status',
      'status change (active → paused), cold instance',
      1,
      (repository) => repository.setStatus(paused.id, 'paused'),
      exactly(2, 3, 0, 1),
    );

    for (const size of listSizes) {
      log(`requests: first list page at ${integer(size)} stored sessions`);
      fake.objects.clear();
      seedMany(fake, size);
      await count(
        `list-${size}`,
        `first list page of ${PAGE}, ${integer(size)} sessions stored`,
        1,
        (repository) => repository.listSessions({ limit: PAGE }),
        exactly(Math.min(size, PAGE), 0, 1),
      );
    }
  } finally {
    fake.restore();
  }
  const atFullPage = rows.filter((row) => row.id.startsWith('list-') && Number(row.id.slice(5)) >= PAGE);
  const listCostFlat = atFullPage.length > 0 && atFullPage.every((row) => row.requests.total === atFullPage[0]!.requests.total);
  return { rows, listSizes, listCostFlat, seconds: (performance.now() - started) / 1000 };
}

/** Stores one session straight into the fake, as another instance would have. */
function seed(fake: S3Fake, fields: Partial<Session> = {}, createdMs = Date.now()): Session {
  const seconds = Math.floor(createdMs / 1000);
  const session: Session = {
    id: newestFirstId(createdMs),
    name: null,
    job_ids: [],
    created_at: seconds,
    updated_at: seconds,
    status: 'active',
    ...fields,
  };
  fake.seed(sessionKey(session.id), JSON.stringify(session));
  return session;
}

/** `count` sessions, one created per millisecond going back from now, written into the fake's map directly. */
function seedMany(fake: S3Fake, count: number): void {
  const now = Date.now();
  for (let index = 0; index < count; index++) seed(fake, {}, now - index);
}

/** Section 1 of bench/RESULTS.md. */
export function requestsSection(result: RequestsResult): Section {
  const rows = result.rows.map((row) => [
    row.operation,
    integer(row.requests.get),
    integer(row.requests.put),
    integer(row.requests.list),
    integer(row.requests.total),
    row.operations === 1 ? integer(row.perOperation) : fixed(row.perOperation, 2),
    fixed(row.roundTripsPerOperation, row.operations === 1 ? 0 : 2),
    row.expectation.text,
    verdict(row.expectation.met),
  ]);
  const sizes = result.listSizes
    .filter((size) => size >= PAGE)
    .map(integer)
    .join(', ');
  return {
    title: '1. S3 requests per operation',
    intro: [
      "Counted exactly by the stateful S3 fake (`test/helpers/s3-fake.ts`) behind the service's own `S3ObjectStore`: " +
        'every GetObject, PutObject and ListObjectsV2 sent by one repository operation, on a fresh repository ' +
        '(a cold Lambda instance, nothing remembered) unless the row says otherwise. Each handler calls exactly one ' +
        'repository operation, so a row is the S3 cost of one API call. "Round trips" are the sequential S3 waits: ' +
        'the reads of a list page go out 32 at a time.',
      "The stored sessions for the list rows are written straight into the fake's map, not through the repository.",
    ],
    tables: [
      {
        headers: ['operation', 'GET', 'PUT', 'LIST', 'total', 'per op', 'round trips per op', 'design / target', 'met'],
        rows,
      },
    ],
    notes: [
      `First list page at ${sizes} stored sessions: ${result.listCostFlat ? 'the same number of requests at every size (target met)' : 'the number of requests changes with the number of stored sessions (target NOT met)'}.`,
    ],
  };
}
