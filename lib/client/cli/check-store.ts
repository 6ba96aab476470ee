import { parseArgs } from 'node:util';
import { SESSIONS_PREFIX } from '../../domain/ids.ts';
import { type CliIo, type Command, type Parsed, UsageError } from './command.ts';
import { CheckStoreExit } from './failures.ts';
import { PROGRAM, stringOption, timeoutOption } from './options.ts';

const DEFAULT_PROBE_TIMEOUT_SECONDS = 60;

const OPTIONS = {
  bucket: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const USAGE = 'check-store --bucket NAME [--endpoint URL] [--region REGION] [--timeout SECONDS] [--json]';

const DETAILS = `Whether an S3 bucket (or an S3-compatible one) enforces the conditional writes the
service relies on: a second create (If-None-Match: *) refused, a change naming a
replaced ETag (If-Match) refused, a change of a key that does not exist refused.
Writes a few objects under probe/<run>/ of the bucket, never under the service's
own prefixes, and deletes them (every version) afterwards. Prints one line per
check, then the verdict. Needs no runner-sessions API.

Options:
  --bucket NAME        the bucket to probe (required)
  --endpoint URL       an S3-compatible server (default: $AWS_ENDPOINT_URL_S3, else Amazon S3)
  --region REGION      the region to sign for (default: $AWS_REGION, else the AWS config)
  --timeout SECONDS    give up after this long (default ${DEFAULT_PROBE_TIMEOUT_SECONDS}; 0: no limit): "could not check"
  --json               the report as JSON on stdout
  -h, --help           help

Credentials come from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, SSO, instance and task roles).

Exit status:
  0  safe: this bucket enforces the conditional writes
  1  NOT SAFE: a required check did not hold; the service must not run on this bucket
  2  usage error
  3  could not check: no region, no credentials, or the endpoint could not be reached
     (or --timeout ran out); the message says what to set
`;

export const checkStore: Command = {
  name: 'check-store',
  usage: 'check-store --bucket NAME [options]',
  summary: 'whether an S3 bucket enforces the conditional writes the service needs',
  details: DETAILS,
  options: { bucket: OPTIONS.bucket, endpoint: OPTIONS.endpoint, region: OPTIONS.region },
  positionals: [],
  usesApi: false,
  async run({ io, args }) {
    return probe(checkStoreOptions(args), io);
  },
};

interface CheckStoreOptions {
  bucket: string;
  endpoint: string | undefined;
  region: string | undefined;
  json: boolean;
  timeoutSeconds: number;
}

function checkStoreOptions(args: Parsed): CheckStoreOptions {
  const bucket = stringOption(args, 'bucket')?.trim();
  if (!bucket) throw new UsageError('--bucket is required');
  const endpoint = stringOption(args, 'endpoint');
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw new UsageError(`--endpoint must be a URL, got ${JSON.stringify(endpoint)}`);
  const timeoutSeconds = args.values.timeout === undefined ? DEFAULT_PROBE_TIMEOUT_SECONDS : timeoutOption(args);
  return { bucket, endpoint, region: stringOption(args, 'region'), json: args.values.json === true, timeoutSeconds };
}

/**
 * check-store on its own (`npm run check-store -- ARGS`): `argv` are its arguments, `program` how its
 * usage line names it. Resolves to its exit status (see `CheckStoreExit`).
 */
export async function runCheckStore(argv: string[], io: CliIo, program: string): Promise<number> {
  let options: CheckStoreOptions;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
    if (values.help === true) {
      io.stdout.write(`Usage: ${program} ${USAGE.replace(/^check-store /, '')}\n\n${DETAILS}`);
      return CheckStoreExit.Safe;
    }
    options = checkStoreOptions({ values, positionals });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error);
    io.stderr.write(`check-store: ${message}\nusage: ${program} ${USAGE.replace(/^check-store /, '')}\n`);
    return CheckStoreExit.Usage;
  }
  return probe(options, io);
}

/** Probes the bucket, prints the report and resolves to the exit status. */
async function probe(options: CheckStoreOptions, io: CliIo): Promise<number> {
  // Loaded only when asked for: the S3 SDK and the service's key spaces stay off the CLI's start-up.
  const [{ formatProbeReport, probeClient, probeStore }, { IDEMPOTENCY_PREFIX }, { NAMES_PREFIX }] = await Promise.all([
    import('../../storage/probe.ts'),
    import('../../sessions/idempotency.ts'),
    import('../../sessions/name-index.ts'),
  ]);
  const client = probeClient({ endpoint: options.endpoint, region: options.region });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    if (options.timeoutSeconds > 0) timer = setTimeout(() => resolve(undefined), options.timeoutSeconds * 1000);
  });
  const report = await Promise.race([
    probeStore({ bucket: options.bucket, client, reservedPrefixes: [SESSIONS_PREFIX, NAMES_PREFIX, IDEMPOTENCY_PREFIX] }),
    deadline,
  ]).finally(() => clearTimeout(timer));
  if (report === undefined) {
    client.destroy();
    const reason = `no answer from s3://${options.bucket} within --timeout ${options.timeoutSeconds} s`;
    io.stdout.write(
      options.json
        ? `${JSON.stringify({ bucket: options.bucket, safe: false, couldNotCheck: reason })}\n`
        : `could not check: ${reason}. ${whatToSet(reason)}\n`,
    );
    return CheckStoreExit.CouldNotCheck;
  }
  if (report.couldNotCheck !== undefined) report.couldNotCheck = `${report.couldNotCheck}. ${whatToSet(report.couldNotCheck)}`;
  io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatProbeReport(report));
  if (report.couldNotCheck !== undefined) return CheckStoreExit.CouldNotCheck;
  return report.safe ? CheckStoreExit.Safe : CheckStoreExit.NotSafe;
}

/** What to set, for why a probe got no answer. */
function whatToSet(reason: string): string {
  if (/region/i.test(reason)) return `Set AWS_REGION (or pass --region).`;
  if (/credential/i.test(reason))
    return 'Set AWS credentials: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or sign in with aws sso login).';
  return `Check --endpoint (or AWS_ENDPOINT_URL_S3) and that the store is reachable from here; a longer --timeout waits more. See '${PROGRAM} check-store --help'.`;
}
