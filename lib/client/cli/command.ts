import type { ParseArgsOptionsConfig } from 'node:util';
import type { SessionsClient } from '../client.ts';
import type { RetryOptions } from '../retry.ts';

/** Where the CLI writes and what it reads; `process` in the executable, buffers in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** `RUNNER_SESSIONS_URL`, `AWS_REGION`, `AWS_DEFAULT_REGION` are read from here; AWS credentials from the standard chain. */
  env: Record<string, string | undefined>;
  fetch?: typeof globalThis.fetch | undefined;
  /** Overrides the client's retry settings (embedding, tests). */
  retry?: Partial<RetryOptions> | undefined;
}

/** A command line, parsed against the global options and the command's own. */
export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  /** The command's positional arguments (its name left out). */
  positionals: string[];
}

/** What a command runs with. */
export interface Context {
  io: CliIo;
  /** `--json`: one JSON document on stdout, failures as JSON on stderr. */
  json: boolean;
  args: Parsed;
  /** What follows `--` on the command line (the command `exec` runs). */
  rest: string[];
  /** `--timeout` in seconds; 0 for no limit. */
  timeoutSeconds: number;
  /** The API client, its calls bounded by `--timeout`; built on first use, so a command that needs no API never builds one. */
  readonly client: SessionsClient;
  /** A client like `client` whose calls end when `signal` aborts, or never when it is undefined. */
  clientWith(signal: AbortSignal | undefined): SessionsClient;
}

/**
 * One `runner-sessions` command: its help, its options and what it does. Each lives in a file of its
 * own under `lib/client/cli/`, and is registered by one line in `commands.ts`.
 */
export interface Command {
  /** The word on the command line: `create`, `add-job`. */
  name: string;
  /** The usage line after the program's name: `add-job ID JOB [--if-match ETAG]`. */
  usage: string;
  /** One line for the command list of `runner-sessions --help`. */
  summary: string;
  /** The rest of `runner-sessions NAME --help`: what it does, an example, its options. */
  details: string;
  /** Its own options (`node:util` parseArgs); the global ones are added. */
  options: ParseArgsOptionsConfig;
  /** Names of the positional arguments, in order. */
  positionals: string[];
  /** Takes the command line after `--` as a command to run (`Context.rest`). */
  takesCommand?: boolean;
  /** Talks to the API: the global --url, --region and --sign apply (default true). */
  usesApi?: boolean;
  /** Needs the lease routes (API v1.1): a 404 that is not about a session then means the API predates them. */
  usesLeases?: boolean;
  /**
   * When set, every failure of the command itself exits with this status (a lost lease excepted: 75),
   * so that it cannot be taken for the exit status of the program it runs (`exec`).
   */
  failureExit?: number;
  /** Resolves to the exit status, or undefined for `ExitCode.Ok`; throws what `failures.ts` reports. */
  run(context: Context): Promise<number | undefined>;
}

/** A problem with the command line: exit code 2, with a pointer to the help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
