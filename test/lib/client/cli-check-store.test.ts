import { describe, expect, it } from 'vitest';
import { main } from '#lib/client/cli/main.ts';
import { s3Endpoint } from '../../helpers/s3-endpoint.ts';

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
    expect(err.join('')).toContain('usage: runner-sessions check-store --bucket NAME [--endpoint URL] [--json]');
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
