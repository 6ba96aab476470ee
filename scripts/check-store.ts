/**
 * Whether an S3 bucket enforces the conditional writes the service relies on,
 * measured under a probe prefix of its own (see lib/client/cli/check-store.ts).
 *
 *   npm run check-store -- --bucket NAME [--endpoint URL] [--region REGION] [--timeout SECONDS] [--json]
 *
 * Credentials and region come from the standard AWS chain; the endpoint from
 * --endpoint, else AWS_ENDPOINT_URL_S3, else Amazon S3. Exit status: 0 safe,
 * 1 not safe, 2 usage error, 3 could not check (no region, no credentials,
 * endpoint unreachable, --timeout ran out).
 */
import { runCheckStore } from '../lib/client/cli/check-store.ts';

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
const code = await runCheckStore(process.argv.slice(2), io, 'npm run check-store --');
process.exitCode = code;
// A probe given up on (--timeout) may still have requests in flight: they must not hold the answer back.
// Output still queued for a slow reader is let out first.
const exitOnceWritten = (): void => {
  if (process.stdout.writableLength === 0) process.exit(code);
  else setTimeout(exitOnceWritten, 100).unref();
};
setTimeout(exitOnceWritten, 1000).unref();
