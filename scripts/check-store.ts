/**
 * Whether an S3 bucket enforces the conditional writes the service relies on,
 * measured under a probe prefix of its own (see lib/storage/probe.ts).
 *
 *   npm run check-store -- --bucket NAME [--endpoint URL] [--json]
 *
 * Credentials and region come from the standard AWS chain; the endpoint from
 * --endpoint, else AWS_ENDPOINT_URL_S3, else Amazon S3. Exit status: 0 safe,
 * 1 not safe, 2 usage error.
 */
import { checkStore } from '../lib/storage/probe.ts';

process.exitCode = await checkStore(process.argv.slice(2), process, 'npm run check-store --');
