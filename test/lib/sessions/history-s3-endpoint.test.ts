import { describe, expect, it } from 'vitest';
import { ConflictRetry } from '#lib/domain/errors.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import {
  ConditionCheckingStore,
  deleteUnder,
  measureWriteConditions,
  PrefixedStore,
  runPrefix,
  s3Endpoint,
} from '../../helpers/s3-endpoint.ts';
import { describeHistoryScenarios, OPERATOR, RUNNER } from './history-scenarios.ts';

const { url: endpoint, bucket, versionedBucket } = s3Endpoint;
const configured = Boolean(endpoint && bucket && versionedBucket);
const prefix = runPrefix('history');
let namespaces = 0;

const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3, SESSIONS_TEST_VERSIONED_BUCKET (versioning enabled) and SESSIONS_TEST_BUCKET (without versioning), and AWS credentials, to run history and restore against a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`history and restore on a real endpoint: ${SKIP_REASON}`);

const conditions = configured ? await measureWriteConditions(versionedBucket!, prefix) : undefined;
if (conditions !== undefined && !conditions.enforced) {
  console.warn(
    `history and restore on ${endpoint}, bucket ${versionedBucket}: this endpoint does not enforce write conditions on a versioned bucket ` +
      `(${conditions.detail}). Sessions are written through ConditionCheckingStore: the version listings, version reads, the changes ` +
      'computed from them and the restored content are the endpoint’s; that no concurrent writer slips between a read and a write is not.',
  );
}

describe.skipIf(!configured)(
  configured
    ? `history and restore on a real endpoint (${endpoint}, prefix ${prefix})`
    : `history and restore on a real endpoint: ${SKIP_REASON}`,
  () => {
    describeHistoryScenarios(
      `S3 endpoint ${endpoint}, versioned bucket ${versionedBucket}${conditions?.enforced === false ? ' (writes through ConditionCheckingStore)' : ''}`,
      async () => {
        const namespace = `${prefix}${++namespaces}/`;
        const store =
          conditions?.enforced === false
            ? new ConditionCheckingStore(versionedBucket!, namespace)
            : new PrefixedStore(new S3ObjectStore({ bucket: versionedBucket! }), namespace);
        return { store, cleanup: () => deleteUnder(versionedBucket!, namespace) };
      },
      async () => {
        const namespace = `${prefix}${++namespaces}/`;
        return {
          store: new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), namespace),
          cleanup: () => deleteUnder(bucket!, namespace),
        };
      },
    );
  },
);

describe.skipIf(conditions?.enforced !== false)(
  `on an endpoint that ignores write conditions on versioned buckets (${conditions?.detail ?? 'not this one'})`,
  () => {
    it('still writes every change conditionally: a restore through the real S3 store meets the refused If-Match, answers conflict_retry and writes nothing', async () => {
      const namespace = `${prefix}${++namespaces}/`;
      try {
        const writer = new SessionRepository({
          renewals: new MemoryObjectStore(),
          store: new ConditionCheckingStore(versionedBucket!, namespace),
        });
        const { session } = await writer.createSession({ actor: RUNNER });
        await writer.addJob(session.id, 'job-1', { actor: RUNNER });
        const [, created] = (await writer.sessionHistory(session.id)).versions;
        const real = new SessionRepository({
          renewals: new MemoryObjectStore(),
          store: new PrefixedStore(new S3ObjectStore({ bucket: versionedBucket! }), namespace),
          config: { casMaxAttempts: 3, casBaseDelayMs: 0, casMaxDelayMs: 0 },
        });

        const restore = real.restoreVersion(session.id, created!.version_id, { actor: OPERATOR });

        await expect(restore).rejects.toBeInstanceOf(ConflictRetry);
        expect((await real.sessionHistory(session.id)).versions.map((entry) => entry.change)).toEqual(['job_added job-1', 'created']);
      } finally {
        await deleteUnder(versionedBucket!, namespace);
      }
    });
  },
);
