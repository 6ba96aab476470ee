import { describe, expect, it } from 'vitest';
import { main } from '#lib/client/cli/main.ts';
import { s3Endpoint } from '../../../helpers/s3-endpoint.ts';

function io(env: Record<string, string | undefined> = process.env) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: { write: (text: string) => out.push(text) }, stderr: { write: (text: string) => err.push(text) }, env },
  };
}

describe('runner-sessions check-store', () => {
  it('is a CLI command: without --bucket it prints its usage and exits 2, touching nothing', async () => {
    const { err, io: cliIo } = io({});

    const code = await main(['check-store'], cliIo);

    expect(code).toBe(2);
    expect(err.join('')).toBe("runner-sessions: --bucket is required\nSee 'runner-sessions check-store --help'.\n");
  });

  it('check-store --help prints its full help: options, credentials and the four exit statuses', async () => {
    const { out, io: cliIo } = io({});

    const code = await main(['check-store', '--help'], cliIo);

    expect(code).toBe(0);
    const help = out.join('');
    expect(help).toMatch(/^Usage: runner-sessions check-store --bucket NAME \[options\]\n/);
    for (const line of ['  --timeout SECONDS ', '  0  safe', '  1  NOT SAFE', '  2  usage error', '  3  could not check'])
      expect(help).toContain(line);
    expect(help).not.toContain('--url');
  });

  it('check-store --timeout is taken, and refused when it is not a number', async () => {
    const { err, io: cliIo } = io({});

    const code = await main(['check-store', '--bucket', 'b', '--timeout', 'soon'], cliIo);

    expect(code).toBe(2);
    expect(err.join('')).toContain("--timeout must be a number of seconds (0 for no limit); got 'soon'");
  });

  it.skipIf(!(s3Endpoint.url && s3Endpoint.bucket && s3Endpoint.versionedBucket))(
    'tells the safe RGW bucket (exit 0) from the versioned one that ignores conditions (exit 1)',
    async () => {
      const safe = io();
      const unsafe = io();

      const codes = [
        await main(['check-store', '--bucket', s3Endpoint.bucket!], safe.io),
        await main(['check-store', '--bucket', s3Endpoint.versionedBucket!, '--json'], unsafe.io),
      ];

      expect(codes).toEqual([0, 1]);
      expect(safe.out.join('')).toContain('safe: this bucket enforces the conditional writes');
      expect(JSON.parse(unsafe.out.join(''))).toMatchObject({ safe: false });
    },
    60_000,
  );
});
