/**
 * A probe of an S3 bucket's conditional writes. The service is only correct
 * on a store that refuses a second create (`If-None-Match: *`), a change
 * naming an old ETag (`If-Match`) and a change of a key that does not exist;
 * several S3-compatible servers accept such writes on some buckets (Ceph RGW
 * 16 on versioned buckets), so this is measured, not assumed. The checks
 * themselves are in `probe-checks.ts`.
 */
import { randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { gotNoAnswer, Probe, type ProbeCheck, type ProbeCheckName, REQUIRED_CHECKS, versionedConditions } from './probe-checks.ts';
import { defaultS3Client, S3_CLIENT_CONFIG } from './s3.ts';

export { type ProbeCheck, type ProbeCheckName, REQUIRED_CHECKS } from './probe-checks.ts';

/** Where probes write unless told otherwise; each run under a fresh `<run>/` of its own. */
export const PROBE_PREFIX = 'probe/';

/** What a probe found. */
export interface StoreProbeReport {
  /** The S3 endpoint, as configured for the client. */
  endpoint: string;
  bucket: string;
  /** The prefix this run wrote under (and removed). */
  prefix: string;
  checks: ProbeCheck[];
  /** True only when create-only, compare-and-swap and missing-key If-Match all held. */
  safe: boolean;
  /**
   * Why the probe could not check the store at all, when none of the required checks got an answer from
   * it (no region, no credentials, an endpoint that cannot be reached): then `safe` says nothing.
   */
  couldNotCheck?: string;
}

export interface ProbeOptions {
  bucket: string;
  /** Default: the service's shared client ({@link defaultS3Client}). */
  client?: S3Client;
  /** Reserved for probes, ending in "/"; never one of `reservedPrefixes`. Default {@link PROBE_PREFIX}. */
  prefix?: string;
  /** The service's own key spaces (`sessions/`, …), where a probe never writes. */
  reservedPrefixes?: readonly string[];
}

/** An S3 client for probing `endpoint` (an S3-compatible server, addressed path-style) in `region`, or the service's own client. */
export function probeClient({ endpoint, region }: { endpoint?: string | undefined; region?: string | undefined } = {}): S3Client {
  if (endpoint === undefined && region === undefined) return defaultS3Client();
  return new S3Client({
    ...S3_CLIENT_CONFIG,
    ...(region === undefined ? {} : { region }),
    ...(endpoint === undefined ? {} : { endpoint, forcePathStyle: true }),
  });
}

/**
 * Writes a few objects under a fresh `<prefix><run>/` of `bucket` with the
 * service's S3 store, checks each conditional-write semantic separately,
 * then deletes everything it wrote, every version included. It never throws
 * for what the store answers: a check that could not run fails with the reason.
 * @throws RangeError when `prefix` is empty, does not end in "/" or lies in the service's key space.
 */
export async function probeStore({
  bucket,
  client = defaultS3Client(),
  prefix = PROBE_PREFIX,
  reservedPrefixes = [],
}: ProbeOptions): Promise<StoreProbeReport> {
  if (!prefix.endsWith('/') || prefix === '/') {
    throw new RangeError(`probe prefix must be a non-empty folder ending in "/", got ${JSON.stringify(prefix)}`);
  }
  const reserved = reservedPrefixes.find((service) => prefix.startsWith(service) || service.startsWith(prefix));
  if (reserved !== undefined) throw new RangeError(`probe prefix ${JSON.stringify(prefix)} overlaps the service's ${reserved}`);

  const run = `${prefix}${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(6).toString('hex')}/`;
  const probe = new Probe(bucket, client, run);
  const checks: ProbeCheck[] = [];
  try {
    checks.push(await probe.createOnly(), await probe.compareAndSwap(), await probe.missingKeyIfMatch());
    const versions = await probe.versions();
    checks.push(versions.check, versionedConditions(versions.kept, checks));
  } finally {
    checks.push(await probe.cleanup());
  }
  const safe = REQUIRED_CHECKS.every((name) => checks.find((check) => check.name === name)?.ok === true);
  const required = checks.filter((check) => REQUIRED_CHECKS.includes(check.name));
  const couldNotCheck = required.every(gotNoAnswer) ? required[0]?.detail.replace(/^could not run: /, '') : undefined;
  return {
    endpoint: await describeEndpoint(client),
    bucket,
    prefix: run,
    checks,
    safe,
    ...(couldNotCheck === undefined ? {} : { couldNotCheck }),
  };
}

/** The endpoint the client sends to: its own setting, the SDK's environment variables, or Amazon S3 in its region. */
async function describeEndpoint(client: S3Client): Promise<string> {
  const configured = await client.config.endpoint?.();
  if (configured !== undefined) {
    const port = configured.port === undefined ? '' : `:${configured.port}`;
    return `${configured.protocol}//${configured.hostname}${port}${configured.path === '/' ? '' : configured.path}`;
  }
  const fromEnvironment = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  if (fromEnvironment !== undefined) return fromEnvironment;
  const region = await client.config.region().catch(() => undefined);
  return region === undefined ? 'Amazon S3' : `https://s3.${region}.amazonaws.com`;
}

/** The report as a table: one line per check, "ok" or "FAILED" and what was seen, and a closing verdict. */
export function formatProbeReport(report: StoreProbeReport): string {
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const lines = report.checks.map((check) => `${check.name.padEnd(width)}  ${check.ok ? 'ok    ' : 'FAILED'}  ${check.detail}`);
  const verdict =
    report.couldNotCheck !== undefined
      ? `could not check: ${report.couldNotCheck}`
      : report.safe
        ? 'safe: this bucket enforces the conditional writes the service relies on'
        : `NOT SAFE: ${failedRequirements(report).join(', ')} did not hold; the service must not run on this bucket`;
  return `store probe of s3://${report.bucket} at ${report.endpoint} (under ${report.prefix})\n${lines.join('\n')}\n${verdict}\n`;
}

function failedRequirements(report: StoreProbeReport): ProbeCheckName[] {
  return REQUIRED_CHECKS.filter((name) => report.checks.find((check) => check.name === name)?.ok !== true);
}

/** The store does not enforce the conditional writes the service relies on; `report` says what failed. */
export class StoreNotSafe extends Error {
  override readonly name = 'StoreNotSafe';
  readonly report: StoreProbeReport;
  constructor(report: StoreProbeReport) {
    const failures = report.checks
      .filter((check) => REQUIRED_CHECKS.includes(check.name) && !check.ok)
      .map((check) => `${check.name}: ${check.detail}`);
    super(`s3://${report.bucket} at ${report.endpoint} does not enforce conditional writes; ${failures.join('; ')}`);
    this.report = report;
  }
}

/**
 * Probes the bucket and returns the report when it is safe.
 * @throws StoreNotSafe naming the semantics that did not hold.
 */
export async function assertStoreSafe(options: ProbeOptions): Promise<StoreProbeReport> {
  const report = await probeStore(options);
  if (!report.safe) throw new StoreNotSafe(report);
  return report;
}
