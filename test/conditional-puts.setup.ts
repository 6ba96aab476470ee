/**
 * A vitest setup file that watches every `PutObjectCommand` made anywhere in
 * the run, against the stateful fake, aws-sdk-client-mock or a real S3
 * endpoint alike, and fails the test during which the service's code made
 * one that is not conditional: exactly one of `IfNoneMatch: '*'` and a
 * non-empty `IfMatch`. Commands a test file builds itself (to seed or clean
 * a real bucket) are not the service's and are left alone.
 *
 * The command class is replaced by a subclass that records each input; the
 * subclass is made once per worker, so that modules loaded again after
 * `vi.resetModules()` still build the class the fake and the matchers know.
 */
import { fileURLToPath } from 'node:url';
import type { PutObjectCommandInput } from '@aws-sdk/client-s3';
import { afterEach, expect, vi } from 'vitest';

interface MadePut {
  input: PutObjectCommandInput;
  /** The first stack frame outside this file and the SDK: who made the command. */
  site: string;
}

const audit = vi.hoisted(() => ({
  made: [] as MadePut[],
  commandClass: undefined as unknown,
}));

vi.mock('@aws-sdk/client-s3', async (importOriginal) => {
  const original = await importOriginal<typeof import('@aws-sdk/client-s3')>();
  audit.commandClass ??= class PutObjectCommand extends original.PutObjectCommand {
    constructor(input: PutObjectCommandInput) {
      super(input);
      audit.made.push({ input, site: callSite(new Error().stack ?? '') });
    }
  };
  return { ...original, PutObjectCommand: audit.commandClass as typeof original.PutObjectCommand };
});

function callSite(stack: string): string {
  const frames = stack.split('\n').slice(1);
  const frame = frames.find(
    (line) => !line.includes('conditional-puts.setup') && !line.includes('/node_modules/') && !line.includes('node:internal'),
  );
  return frame?.trim().replace(/^at /, '') ?? 'unknown';
}

const TESTS = fileURLToPath(new URL('.', import.meta.url));

/** True when the command was built by a test file or test helper (under `test/`) rather than by the service's code. */
function madeByTest(site: string): boolean {
  const path = /(?:file:\/\/)?(\/[^:()]+):\d+:\d+\)?$/.exec(site)?.[1];
  return path?.startsWith(TESTS) === true;
}

function unconditional(input: PutObjectCommandInput): boolean {
  const create = input.IfNoneMatch !== undefined;
  const replace = input.IfMatch !== undefined;
  if (create === replace) return true;
  return create
    ? input.IfNoneMatch !== '*'
    : typeof input.IfMatch !== 'string' || input.IfMatch.trim() === '' || input.IfMatch.trim() === '*';
}

afterEach(() => {
  const made = audit.made.splice(0);
  const offending = made.filter(({ input, site }) => !madeByTest(site) && unconditional(input));
  expect(
    offending.map(
      ({ input, site }) => `${input.Key} (IfNoneMatch ${String(input.IfNoneMatch)}, IfMatch ${String(input.IfMatch)}) made at ${site}`,
    ),
    'every PutObject the service makes carries If-None-Match: * or If-Match',
  ).toEqual([]);
});
