import { describe, it } from 'vitest';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { deleteUnder, PrefixedStore, runPrefix, s3Endpoint } from '../../helpers/s3-endpoint.ts';
import { expectEveryOutcomeOnce, finishConcurrently } from './job-outcome-scenarios.ts';

const { url: endpoint, bucket } = s3Endpoint;
const configured = Boolean(endpoint && bucket);
const prefix = runPrefix('job-outcomes');

const SKIP_REASON =
  'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (without versioning), and AWS credentials, to run 16 writers finishing jobs against a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`job outcomes on a real endpoint: ${SKIP_REASON}`);

describe.skipIf(!configured)(
  configured ? `job outcomes on a real endpoint (${endpoint}, prefix ${prefix})` : `job outcomes on a real endpoint: ${SKIP_REASON}`,
  () => {
    it('16 writers finishing different jobs of one session: every outcome present exactly once, the counts right', async () => {
      const store = new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), prefix);
      try {
        const { stored, retries } = await finishConcurrently(store, 4);

        expectEveryOutcomeOnce(stored, 4);
        console.info(`16×4 jobs on ${endpoint}, running then final: ${retries} retries`);
      } finally {
        await deleteUnder(bucket!, prefix);
      }
    }, 120_000);
  },
);
