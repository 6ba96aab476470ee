import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DeleteObjectCommand, GetBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCheckStore } from '#lib/client/cli/check-store.ts';
import type { StoreProbeReport } from '#lib/storage/probe.ts';
import { S3Fake, s3Error } from '../../../helpers/s3-fake.ts';

let fake: S3Fake;

beforeEach(() => {
  fake = new S3Fake();
  fake.versioning = 'disabled';
  fake.stub.on(DeleteObjectCommand).callsFake(({ Key }: { Key: string }) => {
    fake.deleteObject(Key);
    return { $metadata: { httpStatusCode: 204 } };
  });
  fake.stub.on(GetBucketVersioningCommand).resolves({});
});

afterEach(() => {
  fake.restore();
});

async function run(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCheckStore(
    argv,
    { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, env: {} },
    'check-store',
  );
  return { status, stdout, stderr };
}

describe('check-store', () => {
  it('prints the table and exits 0 on a safe bucket', async () => {
    const { status, stdout, stderr } = await run('--bucket', 'b', '--endpoint', 'http://127.0.0.1:1');

    expect(status).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^store probe of s3:\/\/b at http:\/\/127\.0\.0\.1:1 \(under probe\/[^/]+\/\)\n/);
    expect(stdout).toMatch(/^create-only +ok +a second If-None-Match: \* PUT of an existing key was refused \(412 PreconditionFailed\)$/m);
    expect(stdout.trimEnd().split('\n')).toHaveLength(8);
  });

  it('exits 1 and says NOT SAFE when a check required for safety failed', async () => {
    fake.stub.on(PutObjectCommand, { IfNoneMatch: '*' }).resolves({ ETag: '"e"' });

    const { status, stdout } = await run('--bucket', 'b');

    expect(status).toBe(1);
    expect(stdout).toMatch(/^create-only +FAILED +a second If-None-Match: \* PUT of an existing key was accepted/m);
    expect(stdout).toMatch(/^NOT SAFE: create-only, compare-and-swap did not hold; the service must not run on this bucket$/m);
  });

  it('prints the report as JSON with --json', async () => {
    fake.fail('PutObject', s3Error('AccessDenied', 403), { times: 100 });

    const { status, stdout } = await run('--bucket', 'b', '--json');

    const report = JSON.parse(stdout) as StoreProbeReport;
    expect(status).toBe(1);
    expect(report).toMatchObject({ bucket: 'b', safe: false });
    expect(report.checks.map((check) => check.name)).toEqual([
      'create-only',
      'compare-and-swap',
      'missing-key-if-match',
      'versions',
      'versioned-conditions',
      'cleanup',
    ]);
  });

  it.each([
    ['no --bucket', [], '--bucket is required'],
    ['an empty --bucket', ['--bucket', ' '], '--bucket is required'],
    ['an unknown option', ['--bucket', 'b', '--force'], "Unknown option '--force'"],
    ['an endpoint that is not a URL', ['--bucket', 'b', '--endpoint', 'localhost'], '--endpoint must be a URL'],
    ['a positional argument', ['b'], 'Unexpected argument'],
  ])('exits 2 with the usage on %s, probing nothing', async (_, argv, message) => {
    const { status, stdout, stderr } = await run(...argv);

    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: check-store --bucket NAME [--endpoint URL] [--region REGION] [--timeout SECONDS] [--json]');
    expect(fake.totalRequests).toBe(0);
  });
});

describe('scripts/check-store.ts', () => {
  const script = new URL('../../../../scripts/check-store.ts', import.meta.url).pathname;
  const node = promisify(execFile);

  it('exits 2 with its npm usage line when run without --bucket', async () => {
    const failure = await node(process.execPath, [script]).catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: 2, stdout: '' });
    expect((failure as { stderr: string }).stderr).toBe(
      'check-store: --bucket is required\nusage: npm run check-store -- --bucket NAME [--endpoint URL] [--region REGION] [--timeout SECONDS] [--json]\n',
    );
  });

  it('prints its full help and exits 0 with --help', async () => {
    const { stdout } = await node(process.execPath, [script, '--help']);

    expect(stdout).toMatch(
      /^Usage: npm run check-store -- --bucket NAME \[--endpoint URL\] \[--region REGION\] \[--timeout SECONDS\] \[--json\]\n\n/,
    );
    expect(stdout).toContain('  --timeout SECONDS ');
    expect(stdout).toContain('  3  could not check: no region, no credentials, or the endpoint could not be reached');
  });

  it('exits 3, "could not check" and what to set, when there is no region', async () => {
    const env = { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };

    const failure = await node(process.execPath, [script, '--bucket', 'b'], { env }).catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: 3 });
    const stdout = (failure as { stdout: string }).stdout;
    expect(stdout).toMatch(/^could not check: .*[Rr]egion.*Set AWS_REGION \(or pass --region\)\.$/m);
    expect(stdout).not.toContain('NOT SAFE');
  });

  it('exits 3 when the endpoint cannot be reached, and says to check it', async () => {
    const env = { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };

    const failure = await node(
      process.execPath,
      [script, '--bucket', 'b', '--endpoint', 'http://127.0.0.1:9', '--region', 'us-east-1', '--json'],
      { env },
    ).catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: 3 });
    const report = JSON.parse((failure as { stdout: string }).stdout) as StoreProbeReport;
    expect(report.safe).toBe(false);
    expect(report.couldNotCheck).toMatch(/ECONNREFUSED.*Check --endpoint \(or AWS_ENDPOINT_URL_S3\)/);
  });

  it('--timeout bounds the probe: exit 3 when the store does not answer in time', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const env = { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
    const started = performance.now();

    const failure = await node(
      process.execPath,
      [script, '--bucket', 'b', '--endpoint', `http://127.0.0.1:${port}`, '--region', 'us-east-1', '--timeout', '0.5'],
      { env },
    ).catch((error: unknown) => error);
    silent.close();

    expect(failure).toMatchObject({ code: 3 });
    expect((failure as { stdout: string }).stdout).toMatch(/^could not check: no answer from s3:\/\/b within --timeout 0\.5 s\./);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
