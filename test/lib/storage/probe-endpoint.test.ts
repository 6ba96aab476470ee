import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { probeStore, type StoreProbeReport } from '#lib/storage/probe.ts';
import { defaultS3Client } from '#lib/storage/s3.ts';
import { measureWriteConditions, runPrefix, s3Endpoint } from '../../helpers/s3-endpoint.ts';

const { url: endpoint, bucket, versionedBucket } = s3Endpoint;
const configured = Boolean(endpoint && bucket && versionedBucket);
const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3, SESSIONS_TEST_BUCKET and SESSIONS_TEST_VERSIONED_BUCKET (and AWS credentials) to probe a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`probeStore on a real endpoint: ${SKIP_REASON}`);

function outcomes(report: StoreProbeReport): Record<string, boolean> {
  return Object.fromEntries(report.checks.map(({ name, ok }) => [name, ok]));
}

/** Every version and delete marker left under `prefix`. */
async function leftUnder(bucketName: string, prefix: string): Promise<number> {
  const page = await defaultS3Client().send(new ListObjectVersionsCommand({ Bucket: bucketName, Prefix: prefix }));
  return (page.Versions ?? []).length + (page.DeleteMarkers ?? []).length;
}

describe.skipIf(!configured)(
  configured ? `probeStore on a real endpoint (${endpoint})` : `probeStore on a real endpoint: ${SKIP_REASON}`,
  () => {
    it(`finds the bucket without versioning (${bucket}) safe, and leaves nothing under its prefix`, async () => {
      const report = await probeStore({ bucket: bucket! });

      expect(report).toMatchObject({ endpoint, bucket, safe: true });
      expect(outcomes(report)).toEqual({
        'create-only': true,
        'compare-and-swap': true,
        'missing-key-if-match': true,
        versions: true,
        'versioned-conditions': true,
        cleanup: true,
      });
      expect(report.checks.find((check) => check.name === 'versions')?.detail).toMatch(/^versioning never enabled;/);
      expect(await leftUnder(bucket!, report.prefix)).toBe(0);
    });

    it(`tells the versioned bucket (${versionedBucket}) apart exactly when the endpoint does not enforce conditions there`, async () => {
      // Measured independently of the probe (Ceph RGW 16: not enforced), so the probe's verdict is checked, not assumed.
      const measured = await measureWriteConditions(versionedBucket!, runPrefix('probe-check'));

      const report = await probeStore({ bucket: versionedBucket! });

      expect(report.safe).toBe(measured.enforced);
      expect(outcomes(report)).toMatchObject({ versions: true, 'versioned-conditions': measured.enforced, cleanup: true });
      expect(report.checks.find((check) => check.name === 'versions')?.detail).toMatch(/^versioning Enabled;/);
      expect(await leftUnder(versionedBucket!, report.prefix)).toBe(0);
    });

    it('on this Ceph RGW 16 endpoint, finds the versioned bucket unsafe: creates overwrite and If-Match is always refused', async ({
      skip,
    }) => {
      const measured = await measureWriteConditions(versionedBucket!, runPrefix('probe-check'));
      if (measured.enforced) skip(`the endpoint enforces conditions on a versioned bucket (${measured.detail})`);

      const report = await probeStore({ bucket: versionedBucket! });

      expect(report.safe).toBe(false);
      expect(outcomes(report)).toMatchObject({ 'create-only': false, 'compare-and-swap': false, 'versioned-conditions': false });
    });
  },
);
