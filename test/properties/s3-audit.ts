import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { S3Fake } from '../helpers/s3-fake.ts';
import {
  isServiceKey,
  LIST_PREFIX,
  OWNER_INDEX_KEY,
  RENEWAL_KEY,
  SESSION_KEY,
  STATUS_INDEX_KEY,
  STATUS_RECORD_KEY,
  storedBodyProblem,
} from './contract.ts';

/** What one audit looked at. */
export interface AuditCount {
  commands: number;
  puts: number;
}

/**
 * The buckets a service under audit uses: the sessions bucket, and the one of
 * lease renewal records (the same bucket when a test keeps them side by side).
 */
export interface AuditedBuckets {
  readonly sessions: string;
  readonly leases: string;
}

/** Soft state — renewal records, status index entries and the backfill record — belongs in the leases bucket. */
const SOFT_STATE_KEYS = [RENEWAL_KEY, STATUS_INDEX_KEY, OWNER_INDEX_KEY, STATUS_RECORD_KEY];

/** A soft-state key, or a listing of soft state: what belongs in the leases bucket. */
function inLeasesBucket(name: string, input: Record<string, unknown>): boolean {
  if (name === 'ListObjectsV2Command')
    return (
      typeof input.Prefix === 'string' &&
      ['leases/', 'status/', 'owners/', 'indexes/'].some((prefix) => String(input.Prefix).startsWith(prefix))
    );
  return typeof input.Key === 'string' && SOFT_STATE_KEYS.some((shape) => shape.test(input.Key as string));
}

/**
 * Everything wrong with the S3 traffic a fake received, one line per fault:
 * only GetObject, PutObject, ListObjectsV2, ListObjectVersions (of exactly
 * one session key) and DeleteObject (of a renewal record), renewal records on
 * the leases bucket and all else on the sessions bucket (`buckets`, or one
 * bucket for both); every object
 * key of one of the service's fixed shapes (`sessions/<id>.json`, and the name
 * index and idempotency records, see `KEY_SHAPES` in contract.ts); every listing on
 * `sessions/` or one name's index prefix, starting after a key under that
 * prefix if at all, or of exactly one such key with MaxKeys 1 (a key probe); every PutObject conditional (`IfNoneMatch: '*'` or a
 * non-empty `IfMatch`, never both, never neither) with a whole body of the
 * kind its key holds.
 */
export function s3TrafficViolations(fake: S3Fake, buckets: string | AuditedBuckets): string[] {
  const { sessions, leases } = typeof buckets === 'string' ? { sessions: buckets, leases: buckets } : buckets;
  const violations: string[] = [];
  const calls = fake.stub.calls();
  for (const [index, call] of calls.entries()) {
    const command = call.args[0] as unknown as { constructor: { name: string }; input: Record<string, unknown> };
    const name = command.constructor.name;
    const input = command.input;
    const at = `#${index} ${name} ${JSON.stringify(input).slice(0, 200)}`;
    const bucket = inLeasesBucket(name, input) ? leases : sessions;
    if (input.Bucket !== bucket) violations.push(`${at}: bucket is not ${bucket}`);
    switch (name) {
      case 'GetObjectCommand':
        if (!isServiceKey(input.Key)) violations.push(`${at}: key of no shape the service uses`);
        break;
      case 'PutObjectCommand': {
        if (!isServiceKey(input.Key)) violations.push(`${at}: key of no shape the service uses`);
        const create = input.IfNoneMatch !== undefined;
        const replace = input.IfMatch !== undefined;
        if (create === replace) violations.push(`${at}: needs exactly one of IfNoneMatch and IfMatch`);
        if (create && input.IfNoneMatch !== '*') violations.push(`${at}: IfNoneMatch is not *`);
        if (replace && (typeof input.IfMatch !== 'string' || input.IfMatch.trim() === '' || input.IfMatch.trim() === '*')) {
          violations.push(`${at}: IfMatch names no version`);
        }
        if (typeof input.Key === 'string' && typeof input.Body === 'string') {
          const problem = storedBodyProblem(input.Key, input.Body);
          if (problem !== undefined) violations.push(`${at}: body ${problem}`);
        } else {
          violations.push(`${at}: body is not a string`);
        }
        break;
      }
      case 'ListObjectsV2Command':
        // A key probe (after a 403, is the key there?) lists exactly one key, from its start.
        if (isServiceKey(input.Prefix)) {
          if (input.MaxKeys !== 1 || input.StartAfter !== undefined) violations.push(`${at}: a key probe lists more than that key`);
          break;
        }
        if (typeof input.Prefix !== 'string' || !LIST_PREFIX.test(input.Prefix))
          violations.push(`${at}: lists a prefix the service does not use`);
        if (input.StartAfter !== undefined && !(isServiceKey(input.StartAfter) && input.StartAfter.startsWith(String(input.Prefix)))) {
          violations.push(`${at}: starts after something that is not a key under its prefix`);
        }
        if (!(Number.isInteger(input.MaxKeys) && (input.MaxKeys as number) >= 1 && (input.MaxKeys as number) <= 1000)) {
          violations.push(`${at}: MaxKeys out of 1–1000`);
        }
        break;
      case 'ListObjectVersionsCommand':
        // The history of one session: the versions of exactly its key.
        if (typeof input.Prefix !== 'string' || !SESSION_KEY.test(input.Prefix))
          violations.push(`${at}: lists versions of something that is not a session key`);
        if (input.KeyMarker !== undefined && input.KeyMarker !== input.Prefix) violations.push(`${at}: resumes after another key`);
        break;
      case 'DeleteObjectCommand':
        // Only renewal records and status index entries are ever deleted (soft state in a bucket without versions); sessions never are.
        if (typeof input.Key !== 'string' || !(RENEWAL_KEY.test(input.Key) || STATUS_INDEX_KEY.test(input.Key)))
          violations.push(`${at}: a command the service has no business sending`);
        else if (input.VersionId !== undefined) violations.push(`${at}: deletes a version`);
        break;
      default:
        violations.push(`${at}: a command the service has no business sending`);
    }
  }
  if (fake.puts.length !== calls.filter((call) => (call.args[0] as object).constructor.name === 'PutObjectCommand').length) {
    violations.push('the fake recorded PutObject inputs that its stub did not (was resetCounts used?)');
  }
  return violations;
}

/** The stored objects by key, with their ETags: equal snapshots mean nothing was written in between. */
export function storedVersions(fake: S3Fake): Map<string, string> {
  return new Map([...fake.objects].map(([key, { etag }]) => [key, etag]));
}

/** Asserts {@link s3TrafficViolations} is empty and answers what was audited. */
export function expectLawfulS3Traffic(fake: S3Fake, buckets: string | AuditedBuckets): AuditCount {
  expect(s3TrafficViolations(fake, buckets)).toEqual([]);
  return { commands: fake.stub.calls().length, puts: fake.puts.length };
}

/** Asserts that every stored object not in `except` is whole: a session, index entry or record under a key of its kind (nothing half-written). */
export function expectWholeSessions(fake: S3Fake, except: ReadonlySet<string> = new Set()): void {
  const problems = [...fake.objects.entries()]
    .filter(([key]) => !except.has(key))
    .flatMap(([key, { body }]) => storedBodyProblem(key, body) ?? []);
  expect(problems).toEqual([]);
}

export interface AuditedFake {
  /** The fake of the running test. */
  readonly fake: S3Fake;
  /** Totals over the file so far. */
  readonly audited: AuditCount;
  /** Exempts a key the running test deliberately filled with something that is not a session. */
  corrupted(key: string): void;
}

/**
 * A fresh {@link S3Fake} for each test of the file, whose whole traffic is
 * audited after the test ({@link s3TrafficViolations}) and whose stored
 * sessions must all be whole, except keys the test marked as deliberately
 * corrupted. At the end of the file the totals are printed.
 */
export function useAuditedS3Fake(buckets: string | AuditedBuckets): AuditedFake {
  let current: S3Fake | undefined;
  const corrupt = new Set<string>();
  const audited: AuditCount = { commands: 0, puts: 0 };
  beforeEach(() => {
    current = new S3Fake();
    corrupt.clear();
  });
  afterEach(() => {
    const fake = current!;
    current = undefined;
    fake.restore();
    const count = expectLawfulS3Traffic(fake, buckets);
    audited.commands += count.commands;
    audited.puts += count.puts;
    expectWholeSessions(fake, corrupt);
  });
  afterAll(() => {
    console.info(
      `S3 audit: ${audited.commands} commands, ${audited.puts} PutObject, every one conditional, on a key of the service's shapes`,
    );
  });
  return {
    get fake() {
      if (current === undefined) throw new Error('no fake outside a test');
      return current;
    },
    audited,
    corrupted: (key) => corrupt.add(key),
  };
}
