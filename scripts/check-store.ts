/**
 * Whether an S3 bucket enforces the conditional writes the service relies on,
 * measured under a probe prefix of its own (see lib/store/probe.ts).
 *
 *   npm run check-store -- --bucket NAME [--endpoint URL] [--json]
 *
 * Credentials and region come from the standard AWS chain; the endpoint from
 * --endpoint, else AWS_ENDPOINT_URL_S3, else Amazon S3. Exit status: 0 safe,
 * 1 not safe (or the probe could not run), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { formatProbeReport, probeClient, probeStore } from '../lib/store/probe.ts';

const USAGE = 'usage: npm run check-store -- --bucket NAME [--endpoint URL] [--json]\n';

/** Where the command writes; `process` when run, buffers in tests. */
export interface CheckStoreIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Runs `check-store` with `argv` (the arguments after the script name) and returns its exit status. */
export async function checkStore(argv: string[], io: CheckStoreIo): Promise<number> {
  let bucket: string | undefined;
  let endpoint: string | undefined;
  let json: boolean;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        bucket: { type: 'string' },
        endpoint: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean' },
      },
      strict: true,
    });
    if (values.help === true) {
      io.stdout.write(USAGE);
      return 0;
    }
    bucket = values.bucket?.trim() || undefined;
    endpoint = values.endpoint;
    json = values.json === true;
    if (bucket === undefined) throw new TypeError('--bucket is required');
    if (endpoint !== undefined && !URL.canParse(endpoint)) throw new TypeError(`--endpoint must be a URL, got ${JSON.stringify(endpoint)}`);
  } catch (error) {
    io.stderr.write(`check-store: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const report = await probeStore({ bucket, client: probeClient({ endpoint }) });
  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatProbeReport(report));
  return report.safe ? 0 : 1;
}

if (import.meta.main) process.exitCode = await checkStore(process.argv.slice(2), process);
