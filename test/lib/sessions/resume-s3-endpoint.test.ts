import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionKey } from '#lib/domain/ids.ts';
import { idempotencyRecordKey } from '#lib/sessions/idempotency.ts';
import { nameIndexKey } from '#lib/sessions/name-index.ts';
import { type CreateOptions, type CreateResult, SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { type ObjectStore, StoreFault } from '#lib/storage/port.ts';
import { defaultS3Client, S3ObjectStore } from '#lib/storage/s3.ts';

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
const bucket = process.env.SESSIONS_TEST_BUCKET;
const configured = Boolean(endpoint && bucket);
/** Names, keys and the actor are unique to the run, so runs against one bucket never meet. */
const run = randomUUID();
const actor = `arn:aws:sts::000000000000:assumed-role/resume-test/${run}`;

const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (an unversioned bucket) and AWS credentials to run resume-by-name and idempotent create against a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`resume by name on a real endpoint: ${SKIP_REASON}`);

/** Every key the tests wrote, deleted afterwards. */
const written = new Set<string>();

/** The S3 store, remembering what it wrote, and refusing the writes `failing` picks (as a crash there would leave things). */
class RecordingStore implements ObjectStore {
  readonly #inner = new S3ObjectStore({ bucket: bucket! });
  failing: ((key: string) => boolean) | undefined;

  get(key: string) {
    return this.#inner.get(key);
  }

  async put(key: string, body: string, condition: Parameters<ObjectStore['put']>[2]) {
    if (this.failing?.(key)) {
      this.failing = undefined;
      throw new StoreFault(`injected failure writing ${key}`);
    }
    written.add(key);
    return this.#inner.put(key, body, condition);
  }

  list(prefix: string, options: Parameters<ObjectStore['list']>[1]) {
    return this.#inner.list(prefix, options);
  }
}

function repository(store = new RecordingStore(), clock: () => number = Date.now) {
  return new SessionRepository({ renewals: new MemoryObjectStore(), store, clock, config: { idempotencyWindowSeconds: 60 } });
}

/** Retries a create that met storage trouble, as the client does with the same key. */
async function createRetrying(repo: SessionRepository, options: CreateOptions): Promise<CreateResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await repo.createSession(options);
    } catch (error) {
      // Ceph RGW answers some concurrent conditional writes with 500 (AWS: 409), which is StoreFault here.
      if (!(error instanceof StoreFault) || attempt >= 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

describe.skipIf(!configured)(
  configured
    ? `resume by name and idempotent create on a real endpoint (${endpoint}, bucket ${bucket}, run ${run})`
    : `resume by name on a real endpoint: ${SKIP_REASON}`,
  () => {
    afterAll(async () => {
      const client = defaultS3Client();
      await Promise.all([...written].map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    });

    it('a create repeated with its key answers the same session; the name lists it once', async () => {
      const name = `repeat ${run}`;
      const key = randomUUID();

      const first = await repository().createSession({ name, actor, idempotencyKey: key });
      const repeat = await repository().createSession({ name, actor, idempotencyKey: key });
      const page = await repository().listSessions({ name });

      expect([first.replayed, repeat.replayed]).toEqual([false, true]);
      expect(repeat.session).toEqual(first.session);
      expect(repeat.etag).toBe(first.etag);
      expect(page.sessions).toEqual([first.session]);
    });

    it('six concurrent first requests with one key open exactly one session, and every answer carries it', async () => {
      const name = `race ${run}`;
      const key = randomUUID();

      const answers = await Promise.all(
        Array.from({ length: 6 }, () => createRetrying(repository(), { name, actor, idempotencyKey: key })),
      );

      const id = answers[0]!.session.id;
      expect(answers.map((answer) => answer.session.id)).toEqual(Array(6).fill(id));
      expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
      expect((await repository().listSessions({ name })).sessions.map((s) => s.id)).toEqual([id]);
    });

    it('a repeat finishes a create that stopped after its record and index entry', async () => {
      const name = `half-way ${run}`;
      const key = randomUUID();
      const store = new RecordingStore();
      store.failing = (written) => written.startsWith('sessions/');

      await expect(repository(store).createSession({ name, actor, idempotencyKey: key })).rejects.toBeInstanceOf(StoreFault);
      expect((await repository().listSessions({ name })).sessions).toEqual([]);
      const repeat = await repository().createSession({ name, actor, idempotencyKey: key });

      expect(repeat.replayed).toBe(true);
      expect(written.has(nameIndexKey(name, repeat.session.id))).toBe(true);
      expect((await repository().listSessions({ name })).sessions).toEqual([repeat.session]);
    });

    it('an expired record is replaced by a compare-and-swap, and the key opens a new session', async () => {
      const key = randomUUID();
      let now = Date.now();
      const first = await repository(undefined, () => now).createSession({ actor, idempotencyKey: key });
      now += 61_000;

      const again = await repository(undefined, () => now).createSession({ actor, idempotencyKey: key });

      expect(again.replayed).toBe(false);
      expect(again.session.id).not.toBe(first.session.id);
      const record = await new S3ObjectStore({ bucket: bucket! }).get(idempotencyRecordKey(actor, key));
      expect(JSON.parse(record!.body)).toMatchObject({ session_id: again.session.id });
      expect(written.has(sessionKey(first.session.id)) && written.has(sessionKey(again.session.id))).toBe(true);
    });

    it('pages through one name newest first', async () => {
      const name = `pages ${run}`;
      const created: string[] = [];
      for (let n = 0; n < 3; n++) {
        created.unshift((await repository().createSession({ name, actor })).session.id);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }

      const first = await repository().listSessions({ name, limit: 2 });
      const second = await repository().listSessions({ name, limit: 2, cursor: first.nextCursor! });

      expect([...first.sessions, ...second.sessions].map((s) => s.id)).toEqual(created);
      expect(second.nextCursor).toBeNull();
    });
  },
);
