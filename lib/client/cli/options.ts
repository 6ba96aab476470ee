/** The option parsers every command shares: each checks its value as the API would and says what it takes. */
import type { ParseArgsOptionsConfig } from 'node:util';
import { isSessionId } from '../../domain/ids.ts';
import {
  LabelSchema,
  LEASE_SECONDS,
  LeaseSecondsSchema,
  SESSION_STATUSES,
  SessionNameSchema,
  type SessionStatus,
  SessionStatusSchema,
} from '../../domain/session.ts';
import type * as z from '../../domain/zod.ts';
import type { ChangeOptions, VersionedSession } from '../client.ts';
import { type CliIo, type Parsed, UsageError } from './command.ts';
import { formatSession } from './output.ts';

export const PROGRAM = 'runner-sessions';
export const DEFAULT_URL = 'http://127.0.0.1:3000';
/** The longest a command may take by default, retries included: well under what a runner's job step would wait. */
export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The options of every command. */
export const BASIC_OPTIONS = {
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** The options of every command that talks to the API. */
export const API_OPTIONS = {
  ...BASIC_OPTIONS,
  url: { type: 'string' },
  region: { type: 'string' },
  sign: { type: 'boolean' },
} as const satisfies ParseArgsOptionsConfig;

export const API_HELP = `Options (every command but check-store):
  --url URL          the API (default: $RUNNER_SESSIONS_URL, else ${DEFAULT_URL})
  --region REGION    AWS region to sign for (default: from an execute-api URL, else $AWS_REGION)
  --no-sign          do not sign requests (SigV4 signing is on for every URL but localhost)
  --sign             sign even for localhost
                     (a local server's bearer token is read from $RUNNER_SESSIONS_TOKEN; it is sent
                     instead of a signature, and says whose sessions you own)
  --json             machine-readable output: the API's JSON, one document on stdout
  --timeout SECONDS  give up after this long, retries included (default ${DEFAULT_TIMEOUT_SECONDS}; 0: no limit)
  -h, --help         help
`;

export const CHANGE_OPTIONS = { 'if-match': { type: 'string' }, epoch: { type: 'string' } } as const satisfies ParseArgsOptionsConfig;
export const CHANGE_HELP =
  '  --if-match ETAG  change only that version of the session (the etag `get` shows); 412 otherwise\n' +
  '  --epoch N        the epoch of the lease you hold (sent as Lease-Epoch): needed while the session is held\n';
export const LEASE_OPTIONS = {
  holder: { type: 'string' },
  seconds: { type: 'string' },
  epoch: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;
export const LEASE_HELP =
  '  --holder H       a name for the holder, 1-256 characters (default: HOST:PID of this process)\n' +
  `  --seconds N      lease length, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} seconds (default ${LEASE_SECONDS.default})\n` +
  '  --epoch N        the epoch of the lease you hold: re-acquire it (a new epoch and length) while it is live;\n' +
  '                   without it (or --force) a live lease is not taken, whatever --holder says\n';

export function stringOption(args: Parsed, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function urlOption(args: Parsed, env: Record<string, string | undefined>): string {
  const url = stringOption(args, 'url') ?? (env.RUNNER_SESSIONS_URL?.trim() || DEFAULT_URL);
  if (!URL.canParse(url)) throw new UsageError(`'${url}' is not a URL; pass --url https://… or set RUNNER_SESSIONS_URL`);
  return url;
}

export function sessionIdArgument(value: string): string {
  if (!isSessionId(value)) {
    throw new UsageError(
      `'${value}' is not a session ID: expected 32 lowercase hex characters, as printed by '${PROGRAM} create' or '${PROGRAM} list'`,
    );
  }
  return value;
}

/** `--if-match` and `--epoch` of a change. */
export function changeOptions(args: Parsed): ChangeOptions {
  return { ifMatch: stringOption(args, 'if-match'), leaseEpoch: epochOption(args) };
}

/** `--epoch N`: a non-negative integer, as `Lease-Epoch` takes it. */
export function epochOption(args: Parsed): number | undefined {
  const value = stringOption(args, 'epoch');
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--epoch must be the lease's epoch, a whole number; got '${value}'`);
  return Number(value);
}

export function holderOption(args: Parsed): string | undefined {
  const holder = stringOption(args, 'holder');
  if (holder !== undefined && !LabelSchema.safeParse(holder).success)
    throw new UsageError('--holder must be 1-256 characters without control characters');
  return holder;
}

/** A lease length option: whole seconds within what the API takes. */
export function leaseSecondsOption(args: Parsed, option: string): number | undefined {
  const value = stringOption(args, option);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !LeaseSecondsSchema.safeParse(Number(value)).success) {
    throw new UsageError(`--${option} must be a whole number of seconds from ${LEASE_SECONDS.min} to ${LEASE_SECONDS.max}; got '${value}'`);
  }
  return Number(value);
}

export function secondsOption(args: Parsed, option: string, fallback: number): number {
  const value = stringOption(args, option);
  if (value === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${option} must be a number of seconds; got '${value}'`);
  return Number(value);
}

export function nameOption(args: Parsed): string | undefined {
  const name = stringOption(args, 'name');
  if (name !== undefined && !SessionNameSchema.safeParse(name).success)
    throw new UsageError('--name must be 1-256 characters without control characters');
  return name;
}

export function statusOption(args: Parsed): SessionStatus | undefined {
  const value = stringOption(args, 'status');
  if (value === undefined) return undefined;
  const parsed = SessionStatusSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--status must be one of ${SESSION_STATUSES.join(', ')}; got '${value}'`);
  return parsed.data;
}

/** `--limit`, checked by the route's own query schema, so that the CLI refuses exactly what the API would. */
export function limitOption(args: Parsed, schema: z.ZodMiniType<number | undefined, string | undefined>): number | undefined {
  const value = stringOption(args, 'limit');
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--limit ${parsed.error.issues[0]?.message ?? 'is not valid'}; got '${value}'`);
  return parsed.data;
}

/** `--timeout SECONDS`: a positive number of seconds, or 0 for no limit. */
export function timeoutOption(args: Parsed): number {
  const value = stringOption(args, 'timeout');
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(seconds)) {
    throw new UsageError(`--timeout must be a number of seconds (0 for no limit); got '${value}'`);
  }
  return seconds;
}

/** `value` as one shell word, quoted only when it needs to be, for commands the CLI suggests. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export function printSession(io: CliIo, json: boolean, version: VersionedSession): void {
  io.stdout.write(json ? `${JSON.stringify({ session: version.session, etag: version.etag ?? null })}\n` : formatSession(version));
}

/** `--holder`, `--seconds` and `--epoch` of a command that takes a lease. */
export function leaseOptions(args: Parsed): { holder: string | undefined; seconds: number | undefined; leaseEpoch: number | undefined } {
  return { holder: holderOption(args), seconds: leaseSecondsOption(args, 'seconds'), leaseEpoch: epochOption(args) };
}
