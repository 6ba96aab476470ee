import { describe, expect, it } from 'vitest';
import { NULL_VERSION_ID } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import {
  ConditionCheckingStore,
  deleteUnder,
  measureWriteConditions,
  PrefixedStore,
  runPrefix,
  s3Endpoint,
} from '../../helpers/s3-endpoint.ts';
import {
  describeObjectStoreConformance,
  describePrunableStoreConformance,
  describeVersionedStoreConformance,
  md5Etag,
} from './conformance.ts';

const { url: endpoint, bucket, versionedBucket } = s3Endpoint;
const configured = Boolean(endpoint && bucket);
const versionedConfigured = Boolean(endpoint && versionedBucket);
const prefix = runPrefix('conformance');

let namespaces = 0;

const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (and AWS credentials) to run the conformance suite against a real S3 endpoint';
const VERSIONED_SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_VERSIONED_BUCKET (a bucket with versioning enabled, and AWS credentials) to run the versions conformance suite against a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`S3ObjectStore on a real endpoint: ${SKIP_REASON}`);
if (!versionedConfigured) console.warn(`S3ObjectStore versions on a real endpoint: ${VERSIONED_SKIP_REASON}`);

describe.skipIf(!configured)(
  configured
    ? `S3ObjectStore on a real endpoint (${endpoint}, bucket ${bucket}, prefix ${prefix})`
    : `S3ObjectStore on a real endpoint: ${SKIP_REASON}`,
  () => {
    describeObjectStoreConformance(`S3 endpoint ${endpoint}`, async () => {
      const namespace = `${prefix}${++namespaces}/`;
      return {
        store: new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), namespace),
        cleanup: () => deleteUnder(bucket!, namespace),
      };
    });

    describePrunableStoreConformance(`S3 endpoint ${endpoint}`, async () => {
      const namespace = `${prefix}${++namespaces}/`;
      return {
        store: new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), namespace),
        cleanup: () => deleteUnder(bucket!, namespace),
      };
    });

    it('keeps no versions on a bucket without versioning: writes report none, and the listing shows the one "null" version', async () => {
      const namespace = `${prefix}${++namespaces}/`;
      const store = new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), namespace);
      try {
        const created = await store.putVersion('sessions/a.json', 'v1', { ifNoneMatch: '*' });
        const replaced = await store.putVersion('sessions/a.json', 'v2', { ifMatch: created.etag });

        const listed = await store.listVersions('sessions/a.json', { limit: 10 });

        expect([created.versionId, replaced.versionId]).toEqual([undefined, undefined]);
        expect(listed).toEqual({
          versions: [{ versionId: NULL_VERSION_ID, etag: md5Etag('v2'), lastModified: expect.any(Date), isLatest: true }],
        });
        expect((await store.getVersion('sessions/a.json', NULL_VERSION_ID))?.body).toBe('v2');
      } finally {
        await deleteUnder(bucket!, namespace);
      }
    });
  },
);

/** Whether the versioned bucket enforces write conditions, measured once; printed, since the suite below depends on it. */
const conditions = versionedConfigured ? await measureWriteConditions(versionedBucket!, prefix) : undefined;
if (conditions !== undefined && !conditions.enforced) {
  console.warn(
    `S3ObjectStore versions on ${endpoint}, bucket ${versionedBucket}: this endpoint does not enforce write conditions on a versioned bucket ` +
      `(${conditions.detail}). The versions are written through ConditionCheckingStore (the condition checked against a read, then an ` +
      'unconditional PUT), so the listings and version reads are the endpoint’s own, but conditional writes are not proved here.',
  );
}

describe.skipIf(!versionedConfigured)(
  versionedConfigured
    ? `S3ObjectStore versions on a real endpoint (${endpoint}, bucket ${versionedBucket}, prefix ${prefix})`
    : `S3ObjectStore versions on a real endpoint: ${VERSIONED_SKIP_REASON}`,
  () => {
    describeVersionedStoreConformance(
      `S3 endpoint ${endpoint}, versioned bucket${conditions?.enforced === false ? ', writes through ConditionCheckingStore' : ''}`,
      async () => {
        const namespace = `${prefix}${++namespaces}/`;
        const store =
          conditions?.enforced === false
            ? new ConditionCheckingStore(versionedBucket!, namespace)
            : new PrefixedStore(new S3ObjectStore({ bucket: versionedBucket! }), namespace);
        return { store, cleanup: () => deleteUnder(versionedBucket!, namespace) };
      },
      {
        conditionalWrites:
          conditions?.enforced === false
            ? { skipReason: `the endpoint does not enforce them on a versioned bucket: ${conditions.detail}` }
            : true,
      },
    );
  },
);
