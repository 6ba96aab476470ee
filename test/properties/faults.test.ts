import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withJobCounts } from '#lib/domain/session.ts';
import { type ApiResponse, apiEvent, invoke, request } from '../helpers/api-event.ts';
import { TEST_BUCKET, testService } from '../helpers/handlers.ts';
import { networkError, s3Error } from '../helpers/s3-fake.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';
import { expectContractError, expectListAnswer, expectSessionAnswer, STATUSES } from './contract.ts';
import { coldStart } from './lambda-instances.ts';
import { useAuditedS3Fake } from './s3-audit.ts';
import { FAULT_KINDS, type FaultKind, landThenFail, READ_FAULT_KINDS } from './s3-faults.ts';

const telemetry = captureTelemetry();
const s3 = useAuditedS3Fake(TEST_BUCKET);
const { addJob, createSession, getSession, listSessions, restoreSession, setStatus } = testService();

/** The compare-and-swap budget the handlers run with (CAS_MAX_ATTEMPTS, default 8). */
const CAS_BUDGET = 8;
const T0 = Date.UTC(2026, 0, 1);
const NOT_JSON = '{"id": "fffe6a1c2b3d4e5f60718293a4b5c6d7", "job_ids": [';

/** Asserts a 503 with the code `kind` ends in, Retry-After, and not a word of the AWS or Node error or the storage layout. */
function expectExhausted(response: ApiResponse, code: string, kind?: FaultKind): void {
  expect([response.statusCode, expectContractError(response)]).toEqual([503, code]);
  for (const text of [...(kind?.internals ?? []), TEST_BUCKET, 'sessions/', '.json', '    at ', 'Error', 'S3']) {
    expect(response.raw).not.toContain(text);
  }
}

/** The oldest stored version of a session's key in the fake. */
function oldestVersion(id: string): string {
  return s3.fake.versions.get(`sessions/${id}.json`)!.at(-1)!.versionId;
}

/**
 * The routes that change a session, each with a request that changes the
 * seeded active session (`job_ids: ['job-0']`) and a check that the change is
 * in place. A restore goes back to the seeded version from a second one that
 * `prepare` writes on top.
 */
const CHANGES = [
  {
    route: 'POST /sessions/{id}/jobs',
    handler: addJob,
    prepare: (_key: string) => {},
    send: (id: string) => request.addJob(id, { body: { job_id: 'job-1' } }),
    applied: (id: string) => storedSession(s3.fake, id)!.job_ids.filter((job) => job === 'job-1').length === 1,
  },
  {
    route: 'PATCH /sessions/{id}',
    handler: setStatus,
    prepare: (_key: string) => {},
    send: (id: string) => request.setStatus(id, { body: { status: 'paused' } }),
    applied: (id: string) => storedSession(s3.fake, id)!.status === 'paused',
  },
  {
    route: 'POST /sessions/{id}/restore',
    handler: restoreSession,
    prepare: (key: string) => {
      const current = JSON.parse(s3.fake.body(key)!);
      s3.fake.seed(key, JSON.stringify({ ...current, job_ids: [...current.job_ids, 'job-x'] }));
    },
    send: (id: string) => apiEvent('POST /sessions/{id}/restore', { id }, { body: { version_id: oldestVersion(id) } }),
    applied: (id: string) => {
      const stored = storedSession(s3.fake, id)! as { job_ids: string[]; restored_from?: string };
      return stored.restored_from === oldestVersion(id) && stored.job_ids.includes('job-0') && !stored.job_ids.includes('job-x');
    },
  },
];

/** Seeds the active session a change starts from, with `job_ids: ['job-0']`. */
function seedChangeable(change: (typeof CHANGES)[number]) {
  const seeded = seedSession(s3.fake, { job_ids: ['job-0'] });
  change.prepare(seeded.key);
  return seeded;
}

describe.each(CHANGES)('$route under S3 faults', (change) => {
  const { route, handler, send, applied } = change;
  describe.each(FAULT_KINDS)('$name', (kind) => {
    it('on the conditional write, three times over: 200 with the change applied once, answered as stored', async () => {
      const { fake } = s3;
      const { session, key } = seedChangeable(change);
      fake.fail('PutObject', kind.error, { times: 3 });

      const response = await invoke(handler, send(session.id));

      expect(response.statusCode, response.raw).toBe(200);
      expectSessionAnswer(response);
      expect(applied(session.id)).toBe(true);
      expect(response.body).toEqual(storedSession(fake, session.id));
      expect(response.headers.ETag).toBe(fake.objects.get(key)!.etag);
      expect(fake.puts).toHaveLength(4);
    });

    it(`once it outlasts the budget of ${CAS_BUDGET} writes: 503 ${kind.exhausted} with Retry-After, the session byte for byte as it was`, async () => {
      const { fake } = s3;
      const { session, key } = seedChangeable(change);
      const before = fake.body(key);
      fake.fail('PutObject', kind.error, { times: 1000 });

      const response = await invoke(handler, send(session.id));

      expectExhausted(response, kind.exhausted, kind);
      expect(fake.puts).toHaveLength(CAS_BUDGET);
      expect(fake.body(key)).toBe(before);
    });
  });

  describe.each(FAULT_KINDS.filter((kind) => kind.mayHaveLanded))('a write that landed though its answer was $name', (kind) => {
    it('200, applied once, not written again', async () => {
      const { fake } = s3;
      const { session, key } = seedChangeable(change);
      landThenFail(fake, kind.error);

      const response = await invoke(handler, send(session.id));

      expect(response.statusCode, response.raw).toBe(200);
      expect(applied(session.id)).toBe(true);
      expect(response.body).toEqual(storedSession(fake, session.id));
      expect(response.headers.ETag).toBe(fake.objects.get(key)!.etag);
      expect(fake.puts).toHaveLength(1);
    });
  });

  describe.each(READ_FAULT_KINDS)('$name on the read', (kind) => {
    it('503 storage_unavailable with Retry-After, and nothing written', async () => {
      const { fake } = s3;
      const { session, key } = seedChangeable(change);
      const before = fake.body(key);
      fake.fail('GetObject', kind.error);

      const response = await invoke(handler, send(session.id));

      expectExhausted(response, 'storage_unavailable', kind);
      expect(fake.puts).toEqual([]);
      expect(fake.body(key)).toBe(before);
    });
  });

  it('a stored object that is not JSON: 500 internal_error naming nothing inside, and nothing written over it', async () => {
    const { fake } = s3;
    const { session, key } = seedChangeable(change);
    fake.seed(key, NOT_JSON);
    s3.corrupted(key);
    const event = send(session.id);

    const response = await invoke(handler, event);

    expect([response.statusCode, expectContractError(response)]).toEqual([500, 'internal_error']);
    expect(response.body.error.details).toEqual({ request_id: event.requestContext.requestId });
    for (const text of [key, 'JSON', 'Unexpected', 'position', TEST_BUCKET, '    at ']) expect(response.raw).not.toContain(text);
    expect(fake.puts).toEqual([]);
    expect(fake.body(key)).toBe(NOT_JSON);
  });

  // lib/sessions/repository.ts #change, for restoreVersion: when the restore's own write landed with its answer
  // lost and another writer changed the session before the re-read, the body no longer equals the
  // attempt; the restore finds its write among the versions since and is not applied a second time
  // over the other writer's change, which had been answered 200. add-job and set-status re-apply harmlessly.
  it('412 on a write of its own that landed, then a change by another writer before the re-read: 200, applied once, the other change kept', async () => {
    const { fake } = s3;
    const { session, key } = seedChangeable(change);
    // The lost answer's write lands, and another writer appends before this instance reads again.
    landThenFail(fake, () => s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'), {
      when: () => {
        queueMicrotask(() => {
          const current = JSON.parse(fake.body(key)!);
          fake.seed(key, JSON.stringify({ ...current, job_ids: [...current.job_ids, 'job-other'] }));
        });
        return true;
      },
    });

    const response = await invoke(handler, send(session.id));

    expect(response.statusCode, response.raw).toBe(200);
    expect(applied(session.id)).toBe(true);
    expect(storedSession(fake, session.id)!.job_ids).toContain('job-other');
    expect(response.body).toEqual(storedSession(fake, session.id));
  });
});

describe('POST /sessions under S3 faults', () => {
  /** Every object under sessions/ once the test is done. */
  const sessionKeys = () => [...s3.fake.objects.keys()].filter((key) => key.startsWith('sessions/'));

  describe.each(READ_FAULT_KINDS)('$name', (kind) => {
    it('503 storage_unavailable with Retry-After; nothing stored', async () => {
      s3.fake.fail('PutObject', kind.error);

      const response = await invoke(createSession, request.createSession({ body: {} }));

      expectExhausted(response, 'storage_unavailable', kind);
      expect(sessionKeys()).toEqual([]);
    });
  });

  it('a lost answer (412 on its own retried write): 201 with the session it wrote, one session stored', async () => {
    s3.fake.loseNextPutAnswer();

    const response = await invoke(createSession, request.createSession({ body: {} }));

    expect(response.statusCode, response.raw).toBe(201);
    expectSessionAnswer(response);
    expect(sessionKeys()).toEqual([`sessions/${response.body.id}.json`]);
    expect(storedSession(s3.fake, response.body.id)).toEqual(response.body);
  });

  it('409 ConditionalRequestConflict twice: 201 on the third ID, one session stored', async () => {
    s3.fake.fail('PutObject', () => s3Error('ConditionalRequestConflict', 409), { times: 2 });

    const response = await invoke(createSession, request.createSession({ body: {} }));

    expect(response.statusCode, response.raw).toBe(201);
    expect(sessionKeys()).toEqual([`sessions/${response.body.id}.json`]);
  });

  // lib/sessions/repository.ts createSession: after its third refused create it answers conflict_retry, a
  // ServiceError, so a spent retry budget is a 503 with Retry-After and not the store's ConditionNotMet
  // surfacing as 500 internal_error.
  it('409 ConditionalRequestConflict on every attempt: 503 with Retry-After once the create attempts are spent', async () => {
    s3.fake.fail('PutObject', () => s3Error('ConditionalRequestConflict', 409), { times: 1000 });

    const response = await invoke(createSession, request.createSession({ body: {} }));

    expect(response.statusCode).toBe(503);
    expect(['conflict_retry', 'storage_unavailable']).toContain(expectContractError(response));
    expect(sessionKeys()).toEqual([]);
  });

  // lib/sessions/repository.ts createSession: a StoreFault from the create-only PUT is followed by the
  // re-read the 412 path does, so a create that landed though its answer was a 500 or a reset is
  // answered 201, and no retry of the client's makes a second session.
  it.each(FAULT_KINDS.filter((kind) => kind.mayHaveLanded))(
    'a create that landed though its answer was $name, retried by the client on 503: one session stored',
    async (kind) => {
      landThenFail(s3.fake, kind.error);

      let response = await invoke(createSession, request.createSession({ body: {} }));
      if (response.statusCode === 503) response = await invoke(createSession, request.createSession({ body: {} }));

      expect(response.statusCode).toBe(201);
      expect(sessionKeys()).toEqual([`sessions/${response.body.id}.json`]);
    },
  );

  describe.each(FAULT_KINDS.filter((kind) => kind.mayHaveLanded))(
    'with an Idempotency-Key, a write that landed though its answer was $name',
    (kind) => {
      it.each(['idempotency/', 'names/', 'sessions/'])(
        'on its %s object, repeated by the client with the same key on 503: one session, answered with the same ID',
        async (prefix) => {
          const create = () =>
            invoke(createSession, request.createSession({ body: { name: 'keyed' }, headers: { 'idempotency-key': `retry-${prefix}` } }));
          landThenFail(s3.fake, kind.error, { when: (input) => String(input.Key).startsWith(prefix) });

          const first = await create();
          const repeated = await create();

          expectExhausted(first, 'storage_unavailable', kind);
          expect(repeated.statusCode, repeated.raw).toBe(200);
          expect(repeated.headers['Idempotent-Replayed']).toBe('true');
          expect(sessionKeys()).toEqual([`sessions/${repeated.body.id}.json`]);
          expect(storedSession(s3.fake, repeated.body.id)).toEqual(repeated.body);
        },
      );
    },
  );

  it('a create that landed though its answer was a reset: whatever it answers, what is stored is a whole session', async () => {
    landThenFail(s3.fake, FAULT_KINDS.find((kind) => kind.name === 'a connection reset')!.error);

    const response = await invoke(createSession, request.createSession({ body: {} }));

    expect([201, 503]).toContain(response.statusCode);
    expect(sessionKeys()).toHaveLength(1);
  });
});

describe('a named POST /sessions cut short between its name index entry and its session', () => {
  it.each(READ_FAULT_KINDS)(
    '$name on the session write: 503; listing by name shows nothing until a retry creates the session, then exactly it',
    async (kind) => {
      const name = `cut-short ${kind.name}`;
      s3.fake.fail('PutObject', kind.error, { when: (input) => String(input.Key).startsWith('sessions/') });

      const failed = await invoke(createSession, request.createSession({ body: { name } }));
      const listedBefore = await invoke(listSessions, request.listSessions({ name }));
      const retried = await invoke(createSession, request.createSession({ body: { name } }));
      const listedAfter = await invoke(listSessions, request.listSessions({ name }));

      expectExhausted(failed, 'storage_unavailable', kind);
      expect([listedBefore.statusCode, listedBefore.body.sessions]).toEqual([200, []]);
      expect(retried.statusCode, retried.raw).toBe(201);
      expect(listedAfter.body.sessions).toEqual([retried.body]);
    },
  );
});

describe('GET /sessions/{id} under S3 faults', () => {
  it.each(READ_FAULT_KINDS)('$name: 503 storage_unavailable with Retry-After, nothing about the fault in the body', async (kind) => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('GetObject', kind.error);

    const response = await invoke(getSession, request.getSession(session.id));

    expectExhausted(response, 'storage_unavailable', kind);
  });
});

describe('network failures on the way to S3', () => {
  const answer = async (code: string) => {
    const { session } = seedSession(s3.fake);
    s3.fake.fail('GetObject', () => networkError(code));
    return invoke(getSession, request.getSession(session.id));
  };

  it.each(['ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED'])(
    '%s: 503 storage_unavailable with Retry-After',
    async (code) => {
      expectExhausted(await answer(code), 'storage_unavailable');
    },
  );

  // lib/storage/s3.ts isNetworkError counts EHOSTUNREACH, ENETUNREACH and ENETDOWN as transient, so an
  // unreachable S3 endpoint is answered 503 storage_unavailable with Retry-After, not the 500
  // internal_error of configuration faults.
  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN'])('%s: 503 storage_unavailable with Retry-After', async (code) => {
    expectExhausted(await answer(code), 'storage_unavailable');
  });
});

/** Follows next_cursor from the first page to the last, retrying a page on 503 with the same cursor as a client would. */
async function walkPages(query: Record<string, string>, { maxRetries = 5 } = {}) {
  const pages: Array<{ ids: string[]; cursor: string | null }> = [];
  let retries = 0;
  let cursor: string | undefined;
  for (;;) {
    const response = await invoke(listSessions, request.listSessions({ ...query, ...(cursor === undefined ? {} : { cursor }) }));
    if (response.statusCode === 503) {
      expectExhausted(response, 'storage_unavailable');
      expect(++retries).toBeLessThanOrEqual(maxRetries);
      continue;
    }
    expect(response.statusCode, response.raw).toBe(200);
    expectListAnswer(response, Number(query.limit ?? 50));
    pages.push({ ids: response.body.sessions.map((session: { id: string }) => session.id), cursor: response.body.next_cursor });
    if (response.body.next_cursor === null) return { pages, retries };
    cursor = response.body.next_cursor;
  }
}

describe('GET /sessions when a page fails mid-way', () => {
  /**
   * Eight sessions, newest first s7…s0; s6 holds something that is not JSON,
   * and a key under the prefix that is no session key sorts before them all.
   */
  function seedListing() {
    const { fake } = s3;
    const sessions = Array.from({ length: 8 }, (_, n) =>
      seedSession(fake, { status: n % 2 === 0 ? 'active' : 'paused' }, T0 + n * 1000),
    ).reverse();
    fake.seed(sessions[1]!.key, NOT_JSON);
    s3.corrupted(sessions[1]!.key);
    fake.seed('sessions/0000-notes.txt', 'not a session');
    s3.corrupted('sessions/0000-notes.txt');
    // As the list answers them: stored before counts were kept, with their counts counted.
    const valid = sessions.filter((_, index) => index !== 1).map(({ session }) => withJobCounts(session));
    return { sessions, valid };
  }

  it('skips the object that is not JSON and reports it, and still fills the page from further keys', async () => {
    const { valid, sessions } = seedListing();

    const { pages } = await walkPages({ limit: '3' });

    expect(pages.map((page) => page.ids)).toEqual(
      [valid.slice(0, 3), valid.slice(3, 6), valid.slice(6)].map((page) => page.map((session) => session.id)),
    );
    expect(s3.fake.requests.ListObjectsV2).toBeGreaterThan(pages.length);
    const warning = telemetry.logs().find((line) => line.level === 'WARN' && line.key === sessions[1]!.key);
    expect(warning?.message).toMatch(/not a valid session/);
  });

  it.each(READ_FAULT_KINDS)('$name on the second LIST of a page: 503, and the same request then answers the right page', async (kind) => {
    const { valid } = seedListing();
    // The first page needs a second LIST (one of its first three keys is not a session, one does not parse).
    s3.fake.fail('ListObjectsV2', kind.error, { when: (input) => input.StartAfter !== undefined });

    const failed = await invoke(listSessions, request.listSessions({ limit: '3' }));
    const retried = await invoke(listSessions, request.listSessions({ limit: '3' }));

    expectExhausted(failed, 'storage_unavailable', kind);
    expect(retried.statusCode).toBe(200);
    expect(retried.body.sessions).toEqual(valid.slice(0, 3));
  });

  it.each(READ_FAULT_KINDS)(
    '$name on one GET of a page reached by cursor: 503, and the same cursor then answers the right page',
    async (kind) => {
      const { valid } = seedListing();
      const first = await invoke(listSessions, request.listSessions({ limit: '3' }));
      const cursor = first.body.next_cursor as string;
      s3.fake.fail('GetObject', kind.error, { when: (input) => input.Key === `sessions/${valid[4]!.id}.json` });

      const failed = await invoke(listSessions, request.listSessions({ limit: '3', cursor }));
      const retried = await invoke(listSessions, request.listSessions({ limit: '3', cursor }));

      expectExhausted(failed, 'storage_unavailable', kind);
      expect(retried.statusCode).toBe(200);
      expect(retried.body.sessions).toEqual(valid.slice(3, 6));
      expect(retried.body.next_cursor).not.toBeNull();
    },
  );

  it('any sessions, corrupt objects, limit, status filter and one fault at any LIST or GET: walking the pages with retries yields every matching session once, newest first (60 runs)', async () => {
    const { fake } = s3;
    const scenario = fc.record({
      count: fc.integer({ min: 1, max: 30 }),
      corrupt: fc.uniqueArray(fc.nat(29), { maxLength: 4 }),
      statuses: fc.array(fc.constantFrom(...STATUSES), { minLength: 30, maxLength: 30 }),
      limit: fc.integer({ min: 1, max: 7 }),
      status: fc.option(fc.constantFrom(...STATUSES), { nil: undefined }),
      fault: fc.record({
        command: fc.constantFrom('ListObjectsV2' as const, 'GetObject' as const),
        at: fc.nat(40),
        kind: fc.constantFrom(...READ_FAULT_KINDS),
        times: fc.integer({ min: 1, max: 3 }),
      }),
    });
    let run = 0;

    await fc.assert(
      fc.asyncProperty(scenario, async ({ count, corrupt, statuses, limit, status, fault }) => {
        fake.objects.clear();
        run++;
        const seeded = Array.from({ length: count }, (_, n) =>
          seedSession(fake, { status: statuses[n]!, name: `run-${run}` }, T0 + n * 1000),
        ).reverse();
        for (const index of corrupt.filter((index) => index < count)) {
          fake.seed(seeded[index]!.key, NOT_JSON);
          s3.corrupted(seeded[index]!.key);
        }
        const expected = seeded
          .filter((_, index) => !corrupt.includes(index))
          .map(({ session }) => session)
          .filter((session) => status === undefined || session.status === status)
          .map((session) => session.id);
        let seen = 0;
        const thisRun = run;
        // Faults a run left armed stay in the fake; the run counter keeps them from firing in later runs.
        fake.fail(fault.command, fault.kind.error, { times: fault.times, when: () => run === thisRun && seen++ >= fault.at });

        const { pages } = await walkPages(
          { limit: String(limit), ...(status === undefined ? {} : { status }) },
          { maxRetries: fault.times },
        );

        expect(pages.flatMap((page) => page.ids)).toEqual(expected);
        for (const page of pages.slice(0, -1)) expect(page.ids).toHaveLength(limit);
        expect(pages.at(-1)!.cursor).toBeNull();
      }),
      { numRuns: 60 },
    );
  });
});

describe('a runner appending and pausing through random S3 faults, on two warm instances of each function', () => {
  it('every job answered 200 is stored once, in order; paused sessions refuse jobs; nothing is lost or duplicated (80 runs)', async () => {
    const { fake } = s3;
    const instances = {
      add: [await coldStart('add-job'), await coldStart('add-job')],
      status: [await coldStart('set-status'), await coldStart('set-status')],
    };
    const fault = fc.record({
      command: fc.constantFrom('GetObject' as const, 'PutObject' as const),
      kind: fc.constantFrom(...FAULT_KINDS),
      times: fc.integer({ min: 1, max: 4 }),
      landed: fc.boolean(),
    });
    const step = fc.record({
      action: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('job-a', 'job-b', 'job-c', 'job-d', 'job-e', 'job-f') },
        { weight: 1, arbitrary: fc.constantFrom('active' as const, 'paused' as const) },
      ),
      instance: fc.nat(1),
      faults: fc.array(fault, { maxLength: 2 }),
    });
    let answers503 = 0;
    let run = 0;

    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const { session, key } = seedSession(fake);
        const thisRun = ++run;
        // Faults an earlier run left armed stay in the fake; this keeps them from firing now.
        const when = () => run === thisRun;
        const model = { jobs: [] as string[], status: 'active' as 'active' | 'paused' };
        let armed = 0;
        for (const { action, instance, faults } of steps) {
          for (const planned of faults) {
            armed += planned.times;
            if (planned.command === 'PutObject' && planned.landed && planned.kind.mayHaveLanded)
              landThenFail(fake, planned.kind.error, { times: planned.times, when });
            else if (planned.command === 'PutObject' || planned.kind.exhausted === 'storage_unavailable')
              fake.fail(planned.command, planned.kind.error, { times: planned.times, when });
          }
          const isStatus = action === 'active' || action === 'paused';
          let response: ApiResponse;
          for (let attempt = 1; ; attempt++) {
            response = isStatus
              ? await invoke(instances.status[instance]!, request.setStatus(session.id, { body: { status: action } }))
              : await invoke(instances.add[instance]!, request.addJob(session.id, { body: { job_id: action } }));
            if (response.statusCode !== 503) break;
            answers503++;
            expectContractError(response);
            // Every 503 spends at least one armed fault, so a client gets through once they are spent.
            expect(attempt, 'answered 503 with no fault left to explain it').toBeLessThanOrEqual(armed);
          }

          if (isStatus) {
            expect(response.statusCode, response.raw).toBe(200);
            model.status = action;
          } else if (model.status === 'paused' && !model.jobs.includes(action)) {
            expect([response.statusCode, expectContractError(response)]).toEqual([409, 'session_not_active']);
          } else {
            expect(response.statusCode, response.raw).toBe(200);
            if (!model.jobs.includes(action)) model.jobs.push(action);
            expect(response.body.job_ids).toContain(action);
          }
          expect(storedSession(fake, session.id)).toMatchObject({ job_ids: model.jobs, status: model.status });
          if (response.statusCode === 200) {
            // A session not yet written since counts were kept is answered with them counted.
            expect(response.body).toEqual(withJobCounts(storedSession(fake, session.id)!));
            expect(response.headers.ETag).toBe(fake.objects.get(key)!.etag);
          }
        }
      }),
      { numRuns: 80 },
    );
    console.info(`fault schedules: ${answers503} answers of 503 retried by the client, every job kept once`);
    expect(answers503, 'the schedules should spend the retry budget now and then').toBeGreaterThan(0);
  });
});
