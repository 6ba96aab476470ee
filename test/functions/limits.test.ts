import { describe, expect, it } from 'vitest';
import { readServiceConfig } from '#lib/domain/config.ts';
import { JOB_ID_MAX_BYTES, MAX_PAGE_BYTES } from '#lib/domain/limits.ts';
import { invoke, lambdaContext, request } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { largestJobIds } from '../helpers/largest-session.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();

/** What Lambda carries back for a structured result: the result itself as JSON, the body a JSON string inside it. */
const LAMBDA_ANSWER_LIMIT = 6 * 1024 * 1024;
const MAX_JOBS = readServiceConfig({}).maxJobsPerSession;

describe('the limits, at the limit, through the Lambda handlers', () => {
  it(`POST /sessions/{id}/jobs takes a job ID of ${JOB_ID_MAX_BYTES} bytes and refuses one of ${JOB_ID_MAX_BYTES + 1} (multi-byte)`, async () => {
    const { session } = seedSession(s3.fake);

    const taken = await invoke(s3.addJob, request.addJob(session.id, { body: { job_id: 'é'.repeat(JOB_ID_MAX_BYTES / 2) } }));
    const refused = await invoke(s3.addJob, request.addJob(session.id, { body: { job_id: `${'é'.repeat(JOB_ID_MAX_BYTES / 2)}j` } }));

    expect(taken.statusCode).toBe(200);
    expect(refused.statusCode).toBe(400);
    expect(refused.body.error.details.issues).toEqual([
      { field: 'body.job_id', message: `must be at most ${JOB_ID_MAX_BYTES} bytes of UTF-8` },
    ]);
  });

  it('the largest session the limits allow fits one Lambda answer with room to spare', async () => {
    const { session } = seedSession(s3.fake, { name: '"'.repeat(256), job_ids: largestJobIds(MAX_JOBS) });

    const result = await s3.getSession(request.getSession(session.id), lambdaContext());
    const answer = Buffer.byteLength(JSON.stringify(result));

    expect(result.statusCode).toBe(200);
    expect(answer).toBeLessThan(LAMBDA_ANSWER_LIMIT / 2);
  });

  it('a history page of the largest session ends early by bytes, and next_cursor walks every version once', async () => {
    const { session, key } = seedSession(s3.fake);
    const jobs = largestJobIds(MAX_JOBS);
    for (let version = 1; version <= 4; version++) {
      s3.fake.seed(key, JSON.stringify({ ...session, job_ids: jobs.slice(0, MAX_JOBS - 4 + version) }));
    }
    const seen: string[] = [];
    let cursor: string | null | undefined;
    const answers: number[] = [];

    do {
      const query: Record<string, string> = cursor ? { limit: '100', cursor } : { limit: '100' };
      const result = await s3.sessionHistory(request.sessionHistory(session.id, query), lambdaContext());
      answers.push(Buffer.byteLength(JSON.stringify(result)));
      const page = JSON.parse(result.body as string) as { versions: { version_id: string }[]; next_cursor: string | null };
      seen.push(...page.versions.map((entry) => entry.version_id));
      cursor = page.next_cursor;
    } while (cursor);

    expect(seen).toEqual(s3.fake.versionIds(key));
    expect(answers.length).toBeGreaterThan(1);
    expect(Math.max(...answers)).toBeLessThan(LAMBDA_ANSWER_LIMIT / 2);
  });

  it(`a history page of small versions stops at ${MAX_PAGE_BYTES} bytes`, async () => {
    const { session, key } = seedSession(s3.fake);
    const jobs = largestJobIds(400);
    for (let version = 1; version <= 100; version++) s3.fake.seed(key, JSON.stringify({ ...session, job_ids: jobs }));

    const page = await invoke(s3.sessionHistory, request.sessionHistory(session.id, { limit: '100' }));

    expect(page.body.versions.length).toBeLessThan(100);
    expect(Buffer.byteLength(page.raw)).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    expect(page.body.next_cursor).toEqual(expect.any(String));
  });

  it('history stops reading versions once the invocation deadline has passed', async () => {
    const { session, key } = seedSession(s3.fake);
    for (let version = 1; version <= 100; version++) s3.fake.seed(key, JSON.stringify({ ...session, job_ids: [`job-${version}`] }));
    s3.fake.latency = (command) => (command === 'GetObject' ? 20 : 0);
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 50 };

    const result = await s3.sessionHistory(request.sessionHistory(session.id, { limit: '100' }), context);
    const readsAtAnswer = s3.fake.requests.GetObject;
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(result.statusCode).toBeGreaterThanOrEqual(500);
    expect(s3.fake.requests.GetObject).toBe(readsAtAnswer);
    expect(readsAtAnswer).toBeLessThan(101);
  });
});
