import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiResponse, invoke, request } from '../helpers/api-event.ts';
import { OUTER_AWS_REGION as region, TEST_BUCKET } from '../helpers/lambda-env.ts';
import { storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';
import { expectContractError, sessionProblem } from './contract.ts';
import { coldStartWith } from './lambda-instances.ts';
import { useAuditedS3Fake } from './s3-audit.ts';

const telemetry = captureTelemetry();

const WRITERS = 16;
const JOBS_PER_WRITER = 25;

/** The production backoff (CAS_BASE_DELAY_MS, CAS_MAX_DELAY_MS), which the shared test environment turns off. */
const PRODUCTION_BACKOFF = { CAS_BASE_DELAY_MS: '10', CAS_MAX_DELAY_MS: '400' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Tally {
  conflictRetry: number;
  storageUnavailable: number;
}

/**
 * Sends `send()` until it is answered with something other than a 503, as a
 * client honouring the contract would: every 503 must be a contract error
 * with Retry-After; the client waits a jittered fraction of it (scaled down
 * from seconds to milliseconds, so that the test stays short) and tries again.
 */
async function untilNot503(send: () => Promise<ApiResponse>, tally: Tally): Promise<ApiResponse> {
  for (let attempt = 1; ; attempt++) {
    const response = await send();
    if (response.statusCode !== 503) return response;
    const code = expectContractError(response);
    if (code === 'conflict_retry') tally.conflictRetry++;
    else tally.storageUnavailable++;
    expect(attempt, 'a job still refused after 50 retries').toBeLessThan(50);
    await sleep(Math.random() * 20 * Number(response.headers['Retry-After']));
  }
}

/**
 * 16 writers, each its own warm Lambda instance of the add-job function,
 * append 25 jobs each to one session at the same time; a writer answered 503
 * retries like a client. Returns the session's final job list and the tally.
 */
async function sixteenByTwentyFive(env: Record<string, string>, readBack: (id: string) => Promise<{ job_ids: string[] }>) {
  const [create] = await coldStartWith('create-session', env);
  const writers = await coldStartWith('add-job', env, WRITERS);
  const created = await invoke(create!, request.createSession({ body: {} }));
  expect(created.statusCode, created.raw).toBe(201);
  const id: string = created.body.id;
  const tally: Tally = { conflictRetry: 0, storageUnavailable: 0 };
  const answered = new Map<string, ApiResponse>();

  await Promise.all(
    writers.map(async (handler, w) => {
      for (let j = 0; j < JOBS_PER_WRITER; j++) {
        const jobId = `w${w}-j${j}`;
        const response = await untilNot503(() => invoke(handler, request.addJob(id, { body: { job_id: jobId } })), tally);
        answered.set(jobId, response);
      }
    }),
  );

  const stored = await readBack(id);
  return { id, stored, tally, answered };
}

/** Asserts 400/400: every job answered 200, stored exactly once, each writer's jobs in the order it sent them. */
function expectEveryJobOnce({ stored, answered }: { stored: { job_ids: string[] }; answered: Map<string, ApiResponse> }): void {
  expect([...answered.values()].filter((response) => response.statusCode !== 200).map((response) => response.raw)).toEqual([]);
  for (const [jobId, response] of answered) expect(response.body.job_ids, jobId).toContain(jobId);
  expect(sessionProblem(stored)).toBeUndefined();
  expect(stored.job_ids).toHaveLength(WRITERS * JOBS_PER_WRITER);
  expect(new Set(stored.job_ids).size).toBe(WRITERS * JOBS_PER_WRITER);
  for (let w = 0; w < WRITERS; w++) {
    expect(stored.job_ids.filter((job) => job.startsWith(`w${w}-`))).toEqual(
      Array.from({ length: JOBS_PER_WRITER }, (_, j) => `w${w}-j${j}`),
    );
  }
}

function casConflicts(): number {
  return telemetry.metric('CasConflicts').reduce((sum, { value }) => sum + value, 0);
}

/**
 * add-job writers racing a runner that pauses, resumes and completes the
 * session: every job is either in the final session, answered 200, or was
 * refused 409 session_not_active, never answered 200 and then missing.
 */
async function raceWithPauseAndComplete(
  env: Record<string, string>,
  readBack: (id: string) => Promise<{ job_ids: string[]; status: string }>,
  { writers = 6, jobs = 8, pauses }: { writers?: number; jobs?: number; pauses: [number, number, number] },
) {
  const [create] = await coldStartWith('create-session', env);
  const [runner] = await coldStartWith('set-status', env);
  const adders = await coldStartWith('add-job', env, writers);
  const id: string = (await invoke(create!, request.createSession({ body: {} }))).body.id;
  const tally: Tally = { conflictRetry: 0, storageUnavailable: 0 };
  const outcome = new Map<string, string>();
  const setStatus = async (status: string) => {
    const response = await untilNot503(() => invoke(runner!, request.setStatus(id, { body: { status } })), tally);
    expect(response.statusCode, response.raw).toBe(200);
  };

  await Promise.all([
    ...adders.map(async (handler, w) => {
      for (let j = 0; j < jobs; j++) {
        const jobId = `w${w}-j${j}`;
        const response = await untilNot503(() => invoke(handler, request.addJob(id, { body: { job_id: jobId } })), tally);
        outcome.set(jobId, response.statusCode === 200 ? 'added' : `${response.statusCode} ${expectContractError(response)}`);
        if (response.statusCode === 200) expect(response.body.job_ids, jobId).toContain(jobId);
      }
    }),
    (async () => {
      await sleep(pauses[0]);
      await setStatus('paused');
      await sleep(pauses[1]);
      await setStatus('active');
      await sleep(pauses[2]);
      await setStatus('completed');
    })(),
  ]);

  const final = await readBack(id);
  expect(final.status).toBe('completed');
  expect([...outcome.values()].filter((value) => value !== 'added' && value !== '409 session_not_active')).toEqual([]);
  const added = [...outcome].filter(([, value]) => value === 'added').map(([jobId]) => jobId);
  expect([...final.job_ids].sort()).toEqual(added.sort());
  return { added: added.length, refused: outcome.size - added.length, tally };
}

describe('on the stateful fake, with 1–3 ms of latency per request', () => {
  const s3 = useAuditedS3Fake(TEST_BUCKET);
  const readBack = async (id: string) => storedSession(s3.fake, id)!;
  const env = { ...PRODUCTION_BACKOFF, SESSIONS_BUCKET: TEST_BUCKET };

  it(`${WRITERS} writers × ${JOBS_PER_WRITER} jobs on one session, each writer its own Lambda instance: all ${WRITERS * JOBS_PER_WRITER} jobs present exactly once`, async () => {
    s3.fake.latency = () => 1 + Math.floor(Math.random() * 3);

    const result = await sixteenByTwentyFive(env, readBack);

    expectEveryJobOnce(result);
    const { GetObject, PutObject } = s3.fake.requests;
    console.info(
      `contention on the fake: ${result.stored.job_ids.length}/${WRITERS * JOBS_PER_WRITER} jobs once, ` +
        `${result.tally.conflictRetry} answers 503 conflict_retry, ${result.tally.storageUnavailable} 503 storage_unavailable, ` +
        `${casConflicts()} compare-and-swap conflicts absorbed, S3: ${PutObject} PutObject, ${GetObject} GetObject`,
    );
    expect(result.tally.storageUnavailable).toBe(0);
    expect(casConflicts(), 'the writers should have contended').toBeGreaterThan(0);
  });

  it('add-job racing pause, resume and complete, at random moments: a job is in the final session iff it was answered 200; the others were refused 409 session_not_active (12 runs)', async () => {
    s3.fake.latency = () => 1 + Math.floor(Math.random() * 3);
    const totals = { added: 0, refused: 0, conflictRetry: 0 };

    await fc.assert(
      fc.asyncProperty(fc.tuple(fc.nat(40), fc.nat(40), fc.nat(40)), async (pauses) => {
        const result = await raceWithPauseAndComplete(env, readBack, { pauses });
        totals.added += result.added;
        totals.refused += result.refused;
        totals.conflictRetry += result.tally.conflictRetry;
      }),
      { numRuns: 12 },
    );

    console.info(
      `races on the fake: ${totals.added} jobs added and present, ${totals.refused} refused 409 session_not_active and absent, ${totals.conflictRetry} 503 conflict_retry`,
    );
    expect(totals.refused, 'completing the session should have refused some jobs').toBeGreaterThan(0);
    expect(totals.added).toBeGreaterThan(0);
  });
});

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
const bucket = process.env.SESSIONS_TEST_BUCKET;
const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (eval "$(bash scripts/ceph-rgw.sh env)") to run contention against a real S3-compatible endpoint';
if (!(endpoint && bucket)) console.warn(`contention on a real endpoint: ${SKIP_REASON}`);

describe.skipIf(!(endpoint && bucket))(
  endpoint && bucket ? `on a real S3-compatible endpoint (${endpoint}, bucket ${bucket})` : `on a real endpoint: ${SKIP_REASON}`,
  () => {
    const env = { ...PRODUCTION_BACKOFF, SESSIONS_BUCKET: bucket!, AWS_REGION: region ?? 'us-east-1' };
    let client: S3Client;
    const written: string[] = [];

    beforeAll(() => {
      client = new S3Client({ region: env.AWS_REGION, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    });
    afterAll(async () => {
      for (const id of written) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `sessions/${id}.json` }));
      client.destroy();
    });

    const readBack = async (id: string) => {
      written.push(id);
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `sessions/${id}.json` }));
      return JSON.parse(await object.Body!.transformToString('utf-8'));
    };

    it(`${WRITERS} writers × ${JOBS_PER_WRITER} jobs on one session: all ${WRITERS * JOBS_PER_WRITER} jobs present exactly once`, {
      timeout: 120_000,
    }, async () => {
      const sends = vi.spyOn(S3Client.prototype, 'send');

      const result = await sixteenByTwentyFive(env, readBack);

      const commands = sends.mock.calls.map(([command]) => command.constructor.name.replace(/Command$/, ''));
      sends.mockRestore();
      expectEveryJobOnce(result);
      // The read-back is this test's own GetObject, not the service's.
      const count = (name: string) => commands.filter((command) => command === name).length - (name === 'GetObject' ? 1 : 0);
      console.info(
        `contention on ${endpoint}: ${result.stored.job_ids.length}/${WRITERS * JOBS_PER_WRITER} jobs once, ` +
          `${result.tally.conflictRetry} answers 503 conflict_retry, ${result.tally.storageUnavailable} 503 storage_unavailable, ` +
          `${casConflicts()} compare-and-swap conflicts absorbed, S3: ${count('PutObject')} PutObject, ${count('GetObject')} GetObject`,
      );
    });

    it('add-job racing pause, resume and complete: a job is in the final session iff it was answered 200', {
      timeout: 60_000,
    }, async () => {
      const result = await raceWithPauseAndComplete(env, readBack, { pauses: [30, 30, 60] });

      console.info(
        `race on ${endpoint}: ${result.added} jobs added and present, ${result.refused} refused and absent, ${result.tally.conflictRetry} 503 conflict_retry`,
      );
    });
  },
);
