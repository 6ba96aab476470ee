/**
 * Create test buckets on a local S3-compatible endpoint (idempotent), and turn on
 * versioning where asked. Used by scripts/ceph-rgw.sh.
 *
 *   node scripts/s3-bucket.ts BUCKET... [--versioned BUCKET]...
 *
 * Endpoint and credentials come from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_REGION; only a loopback endpoint is accepted.
 */
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetBucketVersioningCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';

const { values, positionals } = parseArgs({
  options: { versioned: { type: 'string', multiple: true, default: [] } },
  allowPositionals: true,
});
const versioned = values.versioned ?? [];
if (positionals.length + versioned.length === 0) {
  console.error('usage: node scripts/s3-bucket.ts BUCKET... [--versioned BUCKET]...');
  process.exit(2);
}

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
if (endpoint === undefined || !['127.0.0.1', 'localhost', '[::1]'].includes(new URL(endpoint).hostname)) {
  console.error(`s3-bucket: AWS_ENDPOINT_URL_S3 must be a loopback URL (got ${endpoint ?? 'nothing'})`);
  process.exit(2);
}

const client = new S3Client({ endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });

async function create(bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) throw error;
  }
}

async function enableVersioning(bucket: string): Promise<void> {
  await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const { Status } = await client.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  if (Status !== 'Enabled') throw new Error(`versioning on ${bucket} is ${Status ?? 'unset'}, not Enabled`);
}

let current = '';
try {
  for (const bucket of positionals) {
    current = bucket;
    await create(bucket);
  }
  for (const bucket of versioned) {
    current = bucket;
    await create(bucket);
    await enableVersioning(bucket);
  }
} catch (error) {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(`s3-bucket: ${current} at ${endpoint}: ${what}${status === undefined ? '' : ` (HTTP ${status})`}`);
  process.exitCode = 1;
} finally {
  client.destroy();
}
