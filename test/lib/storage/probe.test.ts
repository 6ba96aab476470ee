import {
  DeleteObjectCommand,
  type DeleteObjectCommandInput,
  GetBucketVersioningCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SESSIONS_PREFIX } from '#lib/domain/ids.ts';
import { IDEMPOTENCY_PREFIX } from '#lib/sessions/idempotency.ts';
import { NAMES_PREFIX } from '#lib/sessions/name-index.ts';
import {
  assertStoreSafe,
  formatProbeReport,
  type ProbeCheckName,
  probeStore,
  StoreNotSafe,
  type StoreProbeReport,
} from '#lib/storage/probe.ts';
import { networkError, S3Fake, s3Error } from '../../helpers/s3-fake.ts';

const ENDPOINT = 'http://s3.probe.test:9000';
const client = new S3Client({
  region: 'us-east-1',
  endpoint: ENDPOINT,
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
});
let fake: S3Fake;
let deletes: DeleteObjectCommandInput[];

beforeEach(() => {
  fake = new S3Fake();
  deletes = [];
  fake.stub.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
    deletes.push(input);
    deleteFromFake(input);
    return { $metadata: { httpStatusCode: 204 } };
  });
  fake.stub
    .on(GetBucketVersioningCommand)
    .callsFake(() => ({ ...(fake.versioning === 'enabled' ? { Status: 'Enabled' } : {}), $metadata: { httpStatusCode: 200 } }));
});

afterEach(() => {
  fake.restore();
});

/** DeleteObject on the fake: one version with a VersionId, else the current object (a delete marker when versioned). */
function deleteFromFake({ Key: key = '', VersionId: versionId }: DeleteObjectCommandInput): void {
  if (versionId === undefined) {
    fake.deleteObject(key);
    return;
  }
  const remaining = (fake.versions.get(key) ?? []).filter((version) => version.versionId !== versionId);
  if (remaining.length === 0) fake.versions.delete(key);
  else fake.versions.set(key, remaining);
  const current = remaining[0];
  if (current === undefined || current.deleteMarker) fake.objects.delete(key);
  else fake.objects.set(key, { body: current.body, etag: current.etag, lastModified: current.lastModified });
}

interface ServerFaults {
  /** `If-None-Match: *` is not enforced: the PUT writes anyway. */
  ifNoneMatch?: 'ignored';
  /** `If-Match` is not enforced (`ignored`), or refused whatever the ETag (`always-412`, Ceph RGW 16 on a versioned bucket). */
  ifMatch?: 'ignored' | 'always-412';
}

/**
 * The client as seen through a server that does not enforce some write
 * conditions: the PUT reaches the stateful fake without them. Every PutObject
 * the probe made is kept in `sent`, as made.
 */
function serverWith(faults: ServerFaults): { client: S3Client; sent: PutObjectCommandInput[] } {
  const sent: PutObjectCommandInput[] = [];
  const send = async (command: { input: object }) => {
    if (!(command instanceof PutObjectCommand)) return client.send(command as PutObjectCommand);
    const input = { ...command.input };
    sent.push(command.input);
    if (input.IfMatch !== undefined && faults.ifMatch === 'always-412') throw s3Error('PreconditionFailed', 412);
    if (faults.ifNoneMatch === 'ignored') delete input.IfNoneMatch;
    if (faults.ifMatch === 'ignored') delete input.IfMatch;
    return client.send(new PutObjectCommand(input));
  };
  const faulty = new Proxy(client, {
    get: (target, property, receiver) => (property === 'send' ? send : Reflect.get(target, property, receiver)),
  });
  return { client: faulty, sent };
}

function check(report: StoreProbeReport, name: ProbeCheckName) {
  const found = report.checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no ${name} check in the report`);
  return found;
}

function outcomes(report: StoreProbeReport): Record<string, boolean> {
  return Object.fromEntries(report.checks.map(({ name, ok }) => [name, ok]));
}

/** Every key still stored, every version included. */
function storedKeys(): string[] {
  return [...new Set([...fake.objects.keys(), ...fake.versions.keys()])];
}

describe('probeStore on a bucket that enforces conditional writes', () => {
  it('reports every check ok and the bucket safe, with versions kept', async () => {
    const report = await probeStore({ bucket: 'b', client });

    expect(report).toMatchObject({ endpoint: ENDPOINT, bucket: 'b', safe: true });
    expect(report.prefix).toMatch(/^probe\/[^/]+\/$/);
    expect(outcomes(report)).toEqual({
      'create-only': true,
      'compare-and-swap': true,
      'missing-key-if-match': true,
      versions: true,
      'versioned-conditions': true,
      cleanup: true,
    });
    expect(check(report, 'create-only').detail).toBe(
      'a second If-None-Match: * PUT of an existing key was refused (412 PreconditionFailed)',
    );
    expect(check(report, 'missing-key-if-match').detail).toContain('refused (404 NoSuchKey)');
    expect(check(report, 'versions').detail).toBe('versioning Enabled; ListObjectVersions shows 2 versions of a key written 2 times');
    expect(check(report, 'versioned-conditions').detail).toContain('all held on this versioned bucket');
  });

  it('sends only conditional PUTs under its own run prefix: creates with If-None-Match: *, changes with the bare ETag', async () => {
    const report = await probeStore({ bucket: 'b', client });

    expect(fake.puts.map((put) => put.Key?.startsWith(report.prefix))).toEqual(fake.puts.map(() => true));
    const swaps = fake.puts.filter((put) => put.Key === `${report.prefix}compare-and-swap.json`);
    expect(swaps.map((put) => [put.IfNoneMatch, put.IfMatch])).toEqual([
      ['*', undefined],
      [undefined, expect.stringMatching(/^[0-9a-f]{32}$/)],
      [undefined, swaps[1]?.IfMatch],
    ]);
    const creates = fake.puts.filter((put) => put.Key === `${report.prefix}create-only.json`);
    expect(creates.map((put) => put.IfNoneMatch)).toEqual(['*', '*']);
  });

  it('on a bucket without versioning, says so and finds the versioned check not applicable', async () => {
    fake.versioning = 'disabled';

    const report = await probeStore({ bucket: 'b', client });

    expect(report.safe).toBe(true);
    expect(check(report, 'versions')).toEqual({
      name: 'versions',
      ok: true,
      detail: 'versioning never enabled; ListObjectVersions shows 1 version of a key written 2 times',
    });
    expect(check(report, 'versioned-conditions')).toEqual({
      name: 'versioned-conditions',
      ok: true,
      detail: 'not applicable: the bucket keeps no versions',
    });
  });

  it('writes under the prefix it is given', async () => {
    const report = await probeStore({ bucket: 'b', client, prefix: 'ops/checks/' });

    expect(report.prefix).toMatch(/^ops\/checks\/[^/]+\/$/);
    expect(fake.puts.every((put) => put.Key?.startsWith(report.prefix))).toBe(true);
  });
});

describe('probeStore on a bucket that does not enforce them', () => {
  it('finds a create that overwrites when If-None-Match is ignored', async () => {
    const server = serverWith({ ifNoneMatch: 'ignored' });

    const report = await probeStore({ bucket: 'b', client: server.client });

    expect(report.safe).toBe(false);
    expect(check(report, 'create-only')).toEqual({
      name: 'create-only',
      ok: false,
      detail: 'a second If-None-Match: * PUT of an existing key was accepted as a new version: a create can overwrite',
    });
    expect(outcomes(report)).toMatchObject({ 'compare-and-swap': true, 'missing-key-if-match': true, versions: true, cleanup: true });
    expect(check(report, 'versioned-conditions')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^create-only did not hold on this versioned bucket/),
    });
    expect(server.sent.filter((put) => put.IfNoneMatch === '*')).toHaveLength(3);
  });

  it('finds a stale change and a change that creates when If-Match is ignored', async () => {
    fake.versioning = 'disabled';
    const server = serverWith({ ifMatch: 'ignored' });

    const report = await probeStore({ bucket: 'b', client: server.client });

    expect(report.safe).toBe(false);
    expect(outcomes(report)).toMatchObject({
      'create-only': true,
      'compare-and-swap': false,
      'missing-key-if-match': false,
      cleanup: true,
    });
    expect(check(report, 'compare-and-swap').detail).toBe(
      'If-Match with the current ETag was accepted; If-Match with a replaced ETag was accepted',
    );
    expect(check(report, 'missing-key-if-match').detail).toBe(
      'a PUT with If-Match on a key that does not exist was accepted: a change can create',
    );
    expect(check(report, 'versioned-conditions').ok).toBe(true);
  });

  it('finds what Ceph RGW 16 does on a versioned bucket: creates overwrite, If-Match is always refused', async () => {
    const server = serverWith({ ifNoneMatch: 'ignored', ifMatch: 'always-412' });

    const report = await probeStore({ bucket: 'b', client: server.client });

    expect(outcomes(report)).toEqual({
      'create-only': false,
      'compare-and-swap': false,
      'missing-key-if-match': true,
      versions: true,
      'versioned-conditions': false,
      cleanup: true,
    });
    expect(check(report, 'compare-and-swap').detail).toBe(
      'If-Match with the current ETag was refused (412 PreconditionFailed); If-Match with a replaced ETag was refused (412 PreconditionFailed)',
    );
    expect(check(report, 'versioned-conditions').detail).toMatch(/^create-only, compare-and-swap did not hold on this versioned bucket/);
    expect(report.safe).toBe(false);
  });
});

describe('probeStore cleanup', () => {
  it.each([
    ['a safe versioned bucket', 'enabled', {}],
    ['a safe bucket without versioning', 'disabled', {}],
    ['a versioned bucket ignoring If-None-Match', 'enabled', { ifNoneMatch: 'ignored' }],
    ['a bucket ignoring If-Match', 'disabled', { ifMatch: 'ignored' }],
  ] as const)('leaves nothing behind on %s, every version deleted by its ID', async (_, versioning, faults) => {
    fake.versioning = versioning;
    fake.seed('sessions/kept.json', '{}');

    const report = await probeStore({ bucket: 'b', client: serverWith(faults).client });

    expect(storedKeys()).toEqual(['sessions/kept.json']);
    expect(deletes.length).toBeGreaterThan(0);
    expect(deletes.every((input) => input.Key?.startsWith(report.prefix) && input.VersionId !== undefined)).toBe(true);
    expect(check(report, 'cleanup')).toEqual({
      name: 'cleanup',
      ok: true,
      detail: `deleted ${deletes.length} object versions under ${report.prefix}`,
    });
  });

  it('deletes the current objects of the keys it wrote when versions cannot be listed, and says older ones may remain', async () => {
    fake.versioning = 'disabled';
    fake.fail('ListObjectVersions', s3Error('NotImplemented', 501), { times: 100 });

    const report = await probeStore({ bucket: 'b', client });

    expect(storedKeys()).toEqual([]);
    expect(report.safe).toBe(true);
    expect(check(report, 'cleanup')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('ListObjectVersions failed (501 NotImplemented)'),
    });
    expect(check(report, 'versions')).toEqual({
      name: 'versions',
      ok: true,
      detail: 'versioning never enabled; ListObjectVersions failed (501 NotImplemented)',
    });
  });

  it('fails cleanup with the reason when a delete is refused, and still reports the other checks', async () => {
    fake.stub.on(DeleteObjectCommand).rejects(s3Error('AccessDenied', 403));

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'cleanup')).toEqual({ name: 'cleanup', ok: false, detail: 'could not run: 403 AccessDenied' });
    expect(report.safe).toBe(true);
  });

  it('still cleans up when a check meets an unexpected error', async () => {
    fake.fail('PutObject', new TypeError('boom'), { when: (input) => String(input.Key).endsWith('compare-and-swap.json') });

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'compare-and-swap')).toEqual({ name: 'compare-and-swap', ok: false, detail: 'could not run: TypeError: boom' });
    expect(storedKeys()).toEqual([]);
    expect(check(report, 'cleanup').ok).toBe(true);
  });
});

describe('probeStore when the store fails', () => {
  it('fails every write check with the reason when writes are denied, and never throws', async () => {
    fake.fail('PutObject', s3Error('AccessDenied', 403), { times: 100 });

    const report = await probeStore({ bucket: 'b', client });

    expect(report.safe).toBe(false);
    for (const name of ['create-only', 'compare-and-swap', 'missing-key-if-match'] as const) {
      expect(check(report, name)).toEqual({ name, ok: false, detail: 'could not run: 403 AccessDenied' });
    }
    expect(check(report, 'versions')).toMatchObject({ ok: true, detail: expect.stringMatching(/^versioning Enabled;/) });
    expect(check(report, 'versioned-conditions').ok).toBe(false);
  });

  it('names a network failure of the store', async () => {
    fake.fail('PutObject', networkError('ECONNREFUSED'), { times: 100 });

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'create-only').detail).toMatch(/^could not run: StoreFault: put probe\/.*ECONNREFUSED/);
    expect(report.safe).toBe(false);
  });

  it('could not check, not "not safe", when no required check got an answer from the store', async () => {
    fake.fail('PutObject', networkError('ECONNREFUSED'), { times: 100 });

    const report = await probeStore({ bucket: 'b', client });

    expect(report.couldNotCheck).toMatch(/^StoreFault: put probe\/.*ECONNREFUSED/);
    expect(formatProbeReport(report)).toMatch(/\ncould not check: StoreFault: .*ECONNREFUSED.*\n$/);
    expect(formatProbeReport(report)).not.toContain('NOT SAFE');
  });

  it('an answer of the store, even a refusal, is a check: no could-not-check', async () => {
    fake.fail('PutObject', s3Error('AccessDenied', 403), { times: 100 });

    const report = await probeStore({ bucket: 'b', client });

    expect(report.couldNotCheck).toBeUndefined();
    expect(formatProbeReport(report)).toContain('NOT SAFE');
  });

  it('fails create-only when the first create of a new key is refused', async () => {
    fake.fail('PutObject', s3Error('PreconditionFailed', 412), { when: (input) => String(input.Key).endsWith('create-only.json') });

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'create-only')).toEqual({
      name: 'create-only',
      ok: false,
      detail: 'the first If-None-Match: * PUT of a new key was refused (412 PreconditionFailed)',
    });
    expect(report.safe).toBe(false);
  });

  it('cannot tell whether versions are kept when neither the status nor the listing answers', async () => {
    fake.stub.on(GetBucketVersioningCommand).rejects(s3Error('AccessDenied', 403));
    fake.fail('ListObjectVersions', s3Error('AccessDenied', 403));

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'versions')).toEqual({
      name: 'versions',
      ok: false,
      detail: 'GetBucketVersioning failed (403 AccessDenied); ListObjectVersions failed (403 AccessDenied)',
    });
    expect(check(report, 'versioned-conditions').detail).toContain('whether it keeps versions is unknown');
    expect(report.safe).toBe(true);
  });

  it('fails versions when the bucket says Enabled but keeps one version', async () => {
    fake.versioning = 'disabled';
    fake.stub.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });

    const report = await probeStore({ bucket: 'b', client });

    expect(check(report, 'versions')).toMatchObject({
      ok: false,
      detail: 'versioning Enabled; ListObjectVersions shows 1 version of a key written 2 times',
    });
  });

  it.each(['sessions/', 'names/x/', 'idempotency/', 'probe', '/', '', 'se'])('refuses the prefix %j', async (prefix) => {
    const reservedPrefixes = [SESSIONS_PREFIX, NAMES_PREFIX, IDEMPOTENCY_PREFIX];

    await expect(probeStore({ bucket: 'b', client, prefix, reservedPrefixes })).rejects.toBeInstanceOf(RangeError);
    expect(fake.totalRequests).toBe(0);
  });
});

describe('formatProbeReport', () => {
  it('prints one line per check with ok or FAILED and the detail, then the verdict', async () => {
    const report = await probeStore({ bucket: 'b', client: serverWith({ ifNoneMatch: 'ignored' }).client });

    const lines = formatProbeReport(report).trimEnd().split('\n');

    expect(lines[0]).toBe(`store probe of s3://b at ${ENDPOINT} (under ${report.prefix})`);
    expect(lines.slice(1, -1)).toEqual(
      report.checks.map((c) => expect.stringMatching(new RegExp(`^${c.name} +${c.ok ? 'ok' : 'FAILED'} +${literally(c.detail)}$`))),
    );
    expect(lines.at(-1)).toBe('NOT SAFE: create-only did not hold; the service must not run on this bucket');
  });

  it('ends with "safe" when the bucket is', async () => {
    const report = await probeStore({ bucket: 'b', client });

    expect(formatProbeReport(report).trimEnd().split('\n').at(-1)).toBe(
      'safe: this bucket enforces the conditional writes the service relies on',
    );
  });
});

describe('assertStoreSafe', () => {
  it('returns the report of a safe bucket', async () => {
    await expect(assertStoreSafe({ bucket: 'b', client })).resolves.toMatchObject({ safe: true });
  });

  it('throws StoreNotSafe naming each semantic that failed and why', async () => {
    const failure = await assertStoreSafe({
      bucket: 'b',
      client: serverWith({ ifNoneMatch: 'ignored', ifMatch: 'always-412' }).client,
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(StoreNotSafe);
    expect((failure as StoreNotSafe).message).toMatch(
      new RegExp(
        `^s3://b at ${literally(ENDPOINT)} does not enforce conditional writes; create-only: a second .* accepted .*; compare-and-swap: If-Match with the current ETag was refused`,
      ),
    );
    expect((failure as StoreNotSafe).report.safe).toBe(false);
  });
});

function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
