import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type * as z from '../zod.ts';
import { VERSION_ID_PATTERN } from '../history.ts';
import { isSessionId } from '../ids.ts';
import { JobIdSchema, SessionNameSchema, SessionStatusSchema, SESSION_STATUSES, type SessionStatus } from '../session.ts';
import { IdempotencyKeySchema, ListSessionsQuerySchema, SessionHistoryQuerySchema } from '../http/schemas.ts';
import { SessionsClient, type VersionedSession } from './client.ts';
import { formatHistoryTable, formatSession, formatSessionTable, historyTablePrinter, sessionTablePrinter, type TablePrinter } from './cli-output.ts';
import { NoResumableSession, SessionsApiError, SessionsConfigError, SessionsNetworkError } from './errors.ts';
import type { RetryOptions } from './retry.ts';

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

/** The process exit codes of `runner-sessions`. */
export const ExitCode = {
  Ok: 0,
  /** Anything else, such as access denied or an answer that is not the API's. */
  Failure: 1,
  /** Bad arguments, or the API refused the input (400, 413, 415), or the client cannot be configured. */
  Usage: 2,
  /** No session with that ID (404). */
  NotFound: 3,
  /** The session's state does not allow the change (409), or `--if-match` names an old version (412). */
  Conflict: 4,
  /** The service failed or is unavailable (5xx, 429), or could not be reached. */
  Unavailable: 5,
} as const;

const PROGRAM = 'runner-sessions';
const DEFAULT_URL = 'http://127.0.0.1:3000';
/** The longest a command may take by default, retries included: well under what a runner's job step would wait. */
const DEFAULT_TIMEOUT_SECONDS = 30;

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  region: { type: 'string' },
  sign: { type: 'boolean' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

const GLOBAL_HELP = `Options (every command):
  --url URL          the API (default: $RUNNER_SESSIONS_URL, else ${DEFAULT_URL})
  --region REGION    AWS region to sign for (default: from an execute-api URL, else $AWS_REGION)
  --no-sign          do not sign requests (SigV4 signing is on for every URL but localhost)
  --sign             sign even for localhost
  --json             machine-readable output: the API's JSON, one document on stdout
  --timeout SECONDS  give up after this long, retries included (default ${DEFAULT_TIMEOUT_SECONDS}; 0: no limit)
  -h, --help         help
`;

const EXIT_HELP = `Exit codes:
  0  done
  1  any other failure (access denied: check the AWS credentials; an answer that is not the API's)
  2  usage error, or the API refused the input (400, 413, 415)
  3  no such session (404), or none to resume by that name
  4  conflict: the session's status does not allow it (409), or --if-match is out of date (412)
  5  the service failed or is unavailable (5xx, 429), or could not be reached
`;

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

interface Context {
  client: SessionsClient;
  io: CliIo;
  json: boolean;
  args: Parsed;
}

interface Command {
  usage: string;
  summary: string;
  details: string;
  options: ParseArgsOptionsConfig;
  /** Names of the positional arguments, in order. */
  positionals: string[];
  run(context: Context): Promise<void>;
}

const IF_MATCH_OPTION = { 'if-match': { type: 'string' } } as const satisfies ParseArgsOptionsConfig;
const IF_MATCH_HELP = '  --if-match ETAG  change only that version of the session (the etag `get` shows); 412 otherwise\n';

function statusCommand(status: SessionStatus, summary: string, details: string): Command {
  return {
    usage: `${verbFor(status)} ID [--if-match ETAG]`,
    summary,
    details: `${details}\n\nOptions:\n${IF_MATCH_HELP}`,
    options: IF_MATCH_OPTION,
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      printSession(io, json, await client.setStatus(id, status, { ifMatch: stringOption(args, 'if-match') }));
    },
  };
}

function verbFor(status: SessionStatus): string {
  return { active: 'resume', paused: 'pause', completed: 'complete', terminated: 'terminate' }[status];
}

const COMMANDS: Record<string, Command> = {
  create: {
    usage: 'create [--name NAME] [--idempotency-key K]',
    summary: 'open a new active session and print it',
    details: `Opens a session with no jobs. Keep its ID, or its name: every other command
needs the ID, and 'resume-by-name NAME' finds it again by name.
  ID=$(${PROGRAM} create --name ssh-import --json | jq -r .session.id)

The request carries an Idempotency-Key, and is retried with it when the service
is busy or unreachable: a retry never opens a second session.

Options:
  --name NAME          a label for the session (1-256 characters, no control characters)
  --idempotency-key K  1-255 printable ASCII characters (default: a new random UUID).
                       Running create again with the same key and name, within a day,
                       prints the session the first run opened instead of a new one.
`,
    options: { name: { type: 'string' }, 'idempotency-key': { type: 'string' } },
    positionals: [],
    async run({ client, io, json, args }) {
      const name = stringOption(args, 'name');
      if (name !== undefined && !SessionNameSchema.safeParse(name).success) {
        throw new UsageError('--name must be 1-256 characters without control characters');
      }
      const idempotencyKey = stringOption(args, 'idempotency-key');
      if (idempotencyKey !== undefined && !IdempotencyKeySchema.safeParse(idempotencyKey).success) {
        throw new UsageError('--idempotency-key must be 1-255 printable ASCII characters');
      }
      const created = await client.createSession({ name, idempotencyKey });
      if (json) {
        io.stdout.write(`${JSON.stringify({ session: created.session, etag: created.etag ?? null, replayed: created.replayed })}\n`);
        return;
      }
      io.stdout.write(formatSession(created));
      if (created.replayed) io.stdout.write('replayed yes: an earlier create with this --idempotency-key opened this session\n');
    },
  },
  get: {
    usage: 'get ID',
    summary: 'show a session: status, jobs, times, etag',
    details: 'Shows the session and its etag (pass it to --if-match to change exactly this version).\n',
    options: {},
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      printSession(io, json, await client.getSession(sessionIdArgument(args.positionals[0]!)));
    },
  },
  'add-job': {
    usage: 'add-job ID JOB [--if-match ETAG]',
    summary: 'append a job ID to an active session',
    details: `Appends JOB (1-256 characters, no control characters) to the session. A job ID
that is already there changes nothing, so repeating the command is safe.

Options:
${IF_MATCH_HELP}`,
    options: IF_MATCH_OPTION,
    positionals: ['ID', 'JOB'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const job = args.positionals[1]!;
      if (!JobIdSchema.safeParse(job).success) throw new UsageError('JOB must be 1-256 characters without control characters');
      printSession(io, json, await client.addJob(id, job, { ifMatch: stringOption(args, 'if-match') }));
    },
  },
  pause: statusCommand('paused', 'pause a session (the runner lost its connection)', 'Moves an active session to paused; jobs cannot be added until it is resumed.'),
  resume: statusCommand('active', 'resume a paused session', 'Moves a paused session back to active, where it takes jobs again.'),
  complete: statusCommand('completed', 'complete a session (final)', 'Marks the session completed. Final: it cannot be resumed or take more jobs.'),
  terminate: statusCommand('terminated', 'terminate a session (final)', 'Marks the session terminated (abandoned). Final: it cannot be resumed or take more jobs.'),
  list: {
    usage: 'list [--name NAME] [--status STATUS] [--limit N] [--cursor C] [--all]',
    summary: 'list sessions, newest first',
    details: `Lists one page of sessions, newest first, and how to get the next one.

Options:
  --name NAME      only sessions with exactly this name
  --status STATUS  only sessions with this status (${SESSION_STATUSES.join(', ')})
  --limit N        sessions per page, 1-100 (default 50)
  --cursor C       start where a previous page ended
  --all            every page, not just the first, each printed as it arrives
                   (a long listing may need a longer --timeout, or --timeout 0)
`,
    options: { name: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } },
    positionals: [],
    async run({ client, io, json, args }) {
      const name = nameOption(args);
      const status = statusOption(args);
      const limit = limitOption(args, ListSessionsQuerySchema.shape.limit);
      const cursor = stringOption(args, 'cursor');
      if (args.values.all === true) {
        const pages = client.sessionPages({ name, status, pageSize: limit, cursor });
        await streamPages(io, json, 'sessions', pages, (page) => page.sessions, sessionTablePrinter());
        return;
      }
      const page = await client.listSessions({ name, status, limit, cursor });
      if (json) {
        io.stdout.write(`${JSON.stringify({ sessions: page.sessions, next_cursor: page.nextCursor })}\n`);
        return;
      }
      io.stdout.write(formatSessionTable(page.sessions));
      if (page.nextCursor !== null) {
        const filters = [name !== undefined && `--name ${shellWord(name)}`, status && `--status ${status}`, limit && `--limit ${limit}`].filter(Boolean).join(' ');
        io.stdout.write(`\nmore: ${PROGRAM} list ${filters ? `${filters} ` : ''}--cursor ${page.nextCursor}   (or --all)\n`);
      }
    },
  },
  'resume-by-name': {
    usage: 'resume-by-name NAME',
    summary: 'find the newest paused or active session named NAME, resume it, print it',
    details: `What a runner does when it reconnects and knows only the name it gave:
finds the newest session with exactly that name that is paused or active,
resumes it if it is paused, and prints it, active. Exits 3 when there is none
(every session of that name is completed or terminated, or there is none).
  ID=$(${PROGRAM} resume-by-name ssh-import --json | jq -r .session.id)
`,
    options: {},
    positionals: ['NAME'],
    async run({ client, io, json, args }) {
      const name = args.positionals[0]!;
      if (!SessionNameSchema.safeParse(name).success) throw new UsageError('NAME must be 1-256 characters without control characters');
      const resumed = await client.resumeByName(name);
      if (json) {
        io.stdout.write(`${JSON.stringify({ session: resumed.session, etag: resumed.etag ?? null, was_paused: resumed.wasPaused })}\n`);
        return;
      }
      const id = resumed.session.id;
      io.stdout.write(resumed.wasPaused ? `resumed paused session ${id}\n` : `session ${id} was already active\n`);
      io.stdout.write(formatSession(resumed));
    },
  },
  history: {
    usage: 'history ID [--limit N] [--cursor C] [--all]',
    summary: 'show every change of a session, newest first: version, time, who, what',
    details: `Lists the session's stored versions, newest first: each one's version id, when it
was stored, who wrote it and what it changed (created, job_added JOB, status A→B,
restored VERSION). Pass a version id to 'restore' to bring that version back.

Options:
  --limit N        versions per page, 1-100 (default 20)
  --cursor C       start where a previous page ended
  --all            every page, down to the session's creation, each printed as it arrives
`,
    options: { limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } },
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const limit = limitOption(args, SessionHistoryQuerySchema.shape.limit);
      if (args.values.all === true) {
        const pages = client.historyPages(id, { pageSize: limit, cursor: stringOption(args, 'cursor') });
        await streamPages(io, json, 'versions', pages, (page) => page.versions, historyTablePrinter());
        return;
      }
      const page = await client.history(id, { limit, cursor: stringOption(args, 'cursor') });
      if (json) {
        io.stdout.write(`${JSON.stringify({ versions: page.versions, next_cursor: page.nextCursor })}\n`);
        return;
      }
      io.stdout.write(formatHistoryTable(page.versions));
      if (page.nextCursor !== null) {
        io.stdout.write(`\nmore: ${PROGRAM} history ${id} ${limit ? `--limit ${limit} ` : ''}--cursor ${page.nextCursor}   (or --all)\n`);
      }
    },
  },
  restore: {
    usage: 'restore ID VERSION [--if-match ETAG]',
    summary: 'undo: make an earlier version of a session current again',
    details: `Makes the content of VERSION (a version id from '${PROGRAM} history ID') current
again - its jobs and its status, even out of completed or terminated - as a new
version, which the history then shows as 'restored VERSION' (so a restore can be
undone the same way). Restoring what the session already holds changes nothing.

Options:
${IF_MATCH_HELP}`,
    options: IF_MATCH_OPTION,
    positionals: ['ID', 'VERSION'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const version = args.positionals[1]!;
      if (!VERSION_ID_PATTERN.test(version)) throw new UsageError(`VERSION must be a version id from '${PROGRAM} history ${id}'`);
      printSession(io, json, await client.restore(id, version, { ifMatch: stringOption(args, 'if-match') }));
    },
  },
};

function topLevelHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((command) => command.usage.length));
  const commands = Object.values(COMMANDS)
    .map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}\n`)
    .join('');
  return `${PROGRAM} - record a runner's session of jobs in the runner-sessions API

Usage: ${PROGRAM} <command> [arguments] [options]

Commands:
${commands}
${GLOBAL_HELP}
A runner's life cycle:
  ${PROGRAM} create --name NAME      prints the session ID
  ${PROGRAM} add-job ID JOB          for every job it runs
  ${PROGRAM} pause ID / resume ID    when it loses / regains its connection
  ${PROGRAM} resume-by-name NAME     when it reconnects knowing only its name
  ${PROGRAM} complete ID             when it is done (or terminate ID)

Signed requests use the standard AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, SSO, instance and task roles). Every call is retried when the
service is busy (503, 429) or unreachable; create carries an Idempotency-Key, so a
retried create never opens a second session.

${EXIT_HELP}
Run '${PROGRAM} <command> --help' for a command's options.
`;
}

function commandHelp(command: Command): string {
  return `Usage: ${PROGRAM} ${command.usage} [options]\n\n${command.details}\n${GLOBAL_HELP}\n${EXIT_HELP}`;
}

/** A problem with the command line: exit code 2, with a pointer to the help. */
class UsageError extends Error {}

/**
 * Prints every page as it arrives: a table that grows page by page, or with
 * `--json` the same one document a single page gives (`{"<key>": [...], "next_cursor": null}`),
 * written element by element.
 */
async function streamPages<Page, Item>(
  io: CliIo,
  json: boolean,
  key: string,
  pages: AsyncIterable<Page>,
  itemsOf: (page: Page) => readonly Item[],
  table: TablePrinter<Item>,
): Promise<void> {
  let written = 0;
  if (json) io.stdout.write(`{${JSON.stringify(key)}:[`);
  for await (const page of pages) {
    const items = itemsOf(page);
    if (json) {
      if (items.length > 0) io.stdout.write(`${written === 0 ? '' : ','}${items.map((item) => JSON.stringify(item)).join(',')}`);
    } else {
      io.stdout.write(table.page(items));
    }
    written += items.length;
  }
  io.stdout.write(json ? '],"next_cursor":null}\n' : table.end());
}

/**
 * Runs `runner-sessions` with `argv` (the arguments after the program name)
 * and resolves to the process exit code (see `ExitCode`). Never throws.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let commandName: string | undefined;
  let json = argv.includes('--json');
  let apiUrl = 'the API';
  let deadline: AbortSignal | undefined;
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  try {
    const pre = parseArgs({ args: argv, options: allOptions(), strict: false, allowPositionals: true, allowNegative: true });
    commandName = pre.positionals[0];
    if (commandName === 'help') {
      const topic = pre.positionals[1];
      const command = topic === undefined ? undefined : COMMANDS[topic];
      io.stdout.write(command === undefined ? topLevelHelp() : commandHelp(command));
      return ExitCode.Ok;
    }
    if (commandName === undefined) {
      if (pre.values.help === true) {
        io.stdout.write(topLevelHelp());
        return ExitCode.Ok;
      }
      io.stderr.write(topLevelHelp());
      return ExitCode.Usage;
    }
    const command = COMMANDS[commandName];
    if (command === undefined) throw new UsageError(`unknown command '${commandName}'; the commands are ${Object.keys(COMMANDS).join(', ')}`);

    const parsed = parseCommandLine(commandName, command, argv);
    if (parsed.values.help === true) {
      io.stdout.write(commandHelp(command));
      return ExitCode.Ok;
    }
    json = parsed.values.json === true;
    timeoutSeconds = timeoutOption(parsed);
    deadline = timeoutSeconds === 0 ? undefined : AbortSignal.timeout(timeoutSeconds * 1000);
    const client = new SessionsClient({
      baseUrl: urlOption(parsed, io.env),
      region: stringOption(parsed, 'region'),
      sign: parsed.values.sign as boolean | undefined,
      fetch: io.fetch,
      retry: io.retry,
      env: io.env,
      signal: deadline,
    });
    apiUrl = client.baseUrl;
    await command.run({ client, io, json, args: parsed });
    return ExitCode.Ok;
  } catch (error) {
    // The reader went away (`| head -1`): it has what it wanted, so that is success, and nothing is left to say.
    if (isClosedPipe(error)) return ExitCode.Ok;
    const timedOut = deadline?.aborted === true ? timeoutSeconds : undefined;
    return reportFailure(error, { io, json, commandName, apiUrl, timedOut });
  }
}

/** True for the error of a write to a pipe whose reader has closed it. */
export function isClosedPipe(error: unknown): boolean {
  return error instanceof Error && ((error as NodeJS.ErrnoException).code === 'EPIPE' || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED');
}

function allOptions(): ParseArgsOptionsConfig {
  return Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMANDS).map((command) => command.options));
}

function parseCommandLine(name: string, command: Command, argv: string[]): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: true, allowNegative: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error));
  }
  if (parsed.values.help === true) return parsed;
  const positionals = parsed.positionals.slice(1);
  if (positionals.length !== command.positionals.length) {
    const expected = command.positionals.length === 0 ? 'no arguments' : command.positionals.join(' ');
    throw new UsageError(`${name} takes ${expected}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}`);
  }
  return { values: parsed.values, positionals };
}

function stringOption(args: Parsed, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

function urlOption(args: Parsed, env: Record<string, string | undefined>): string {
  const url = stringOption(args, 'url') ?? (env.RUNNER_SESSIONS_URL?.trim() || DEFAULT_URL);
  if (!URL.canParse(url)) throw new UsageError(`'${url}' is not a URL; pass --url https://… or set RUNNER_SESSIONS_URL`);
  return url;
}

function sessionIdArgument(value: string): string {
  if (!isSessionId(value)) {
    throw new UsageError(`'${value}' is not a session ID: expected 32 lowercase hex characters, as printed by '${PROGRAM} create' or '${PROGRAM} list'`);
  }
  return value;
}

function nameOption(args: Parsed): string | undefined {
  const name = stringOption(args, 'name');
  if (name !== undefined && !SessionNameSchema.safeParse(name).success) throw new UsageError('--name must be 1-256 characters without control characters');
  return name;
}

/** `value` as one shell word, quoted only when it needs to be, for commands the CLI suggests. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_.\/:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

function statusOption(args: Parsed): SessionStatus | undefined {
  const value = stringOption(args, 'status');
  if (value === undefined) return undefined;
  const parsed = SessionStatusSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--status must be one of ${SESSION_STATUSES.join(', ')}; got '${value}'`);
  return parsed.data;
}

/** `--limit`, checked by the route's own query schema, so that the CLI refuses exactly what the API would. */
function limitOption(args: Parsed, schema: z.ZodMiniType<number | undefined, string | undefined>): number | undefined {
  const value = stringOption(args, 'limit');
  if (value === undefined) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--limit ${parsed.error.issues[0]?.message ?? 'is not valid'}; got '${value}'`);
  return parsed.data;
}

/** `--timeout SECONDS`: a positive number of seconds, or 0 for no limit. */
function timeoutOption(args: Parsed): number {
  const value = stringOption(args, 'timeout');
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(seconds)) {
    throw new UsageError(`--timeout must be a number of seconds (0 for no limit); got '${value}'`);
  }
  return seconds;
}

function printSession(io: CliIo, json: boolean, version: VersionedSession): void {
  io.stdout.write(json ? `${JSON.stringify({ session: version.session, etag: version.etag ?? null })}\n` : formatSession(version));
}

interface FailureContext {
  io: CliIo;
  json: boolean;
  commandName: string | undefined;
  /** The API's URL once known, for messages. */
  apiUrl: string;
  /** The `--timeout` in seconds, when it ran out. */
  timedOut?: number | undefined;
}

/** Writes what went wrong and what to do next to stderr, and returns the exit code. */
function reportFailure(error: unknown, { io, json, commandName, apiUrl, timedOut }: FailureContext): number {
  const { code, exitCode, message } = describeFailure(error, commandName, apiUrl, timedOut);
  if (json) {
    const apiError = error instanceof SessionsApiError ? error : undefined;
    const body = {
      error: {
        code,
        message,
        ...(apiError === undefined ? {} : { status: apiError.status, details: apiError.details, request_id: apiError.requestId ?? null }),
      },
    };
    io.stderr.write(`${JSON.stringify(body)}\n`);
  } else {
    io.stderr.write(`${PROGRAM}: ${message}\n`);
  }
  return exitCode;
}

function describeFailure(
  error: unknown,
  commandName: string | undefined,
  apiUrl: string,
  timedOut: number | undefined,
): { code: string; exitCode: number; message: string } {
  if (error instanceof UsageError) {
    const help = commandName !== undefined && commandName in COMMANDS ? `${PROGRAM} ${commandName} --help` : `${PROGRAM} --help`;
    return { code: 'usage', exitCode: ExitCode.Usage, message: `${error.message}\nSee '${help}'.` };
  }
  if (error instanceof SessionsConfigError) return { code: 'configuration', exitCode: ExitCode.Usage, message: error.message };
  if (error instanceof SessionsNetworkError) {
    const tries = error.attempts > 1 ? ` after ${error.attempts} attempts` : '';
    const mayHaveCreated =
      commandName === 'create'
        ? ` If a request did reach it, a session may have been opened: find it with '${PROGRAM} list --name NAME', or run create again with the same --idempotency-key to get it.`
        : '';
    if (timedOut !== undefined) {
      return {
        code: 'timeout',
        exitCode: ExitCode.Unavailable,
        message: `no answer from the API at ${apiUrl} within --timeout ${timedOut} s${tries}. Is it running and is --url / RUNNER_SESSIONS_URL right? A longer --timeout waits more.${mayHaveCreated}`,
      };
    }
    return {
      code: 'network_error',
      exitCode: ExitCode.Unavailable,
      message:
        `cannot reach the API at ${apiUrl} (${error.errno ?? 'network error'})${tries}. ` +
        `Is it running ('npm start' serves it locally)? Set its URL with --url or RUNNER_SESSIONS_URL.${mayHaveCreated}`,
    };
  }
  if (error instanceof NoResumableSession) {
    const name = shellWord(error.sessionName);
    return {
      code: 'no_resumable_session',
      exitCode: ExitCode.NotFound,
      message: `no paused or active session named ${name} at ${apiUrl}. '${PROGRAM} list --name ${name}' shows every session of that name; '${PROGRAM} create --name ${name}' opens a new one.`,
    };
  }
  if (error instanceof SessionsApiError) return { code: error.code, exitCode: exitCodeOf(error), message: explain(error, commandName, apiUrl) };
  return { code: 'unexpected', exitCode: ExitCode.Failure, message: `unexpected error: ${error instanceof Error ? error.message : String(error)}` };
}

function exitCodeOf(error: SessionsApiError): number {
  switch (error.code) {
    case 'invalid_request':
    case 'payload_too_large':
    case 'unsupported_media_type':
      return ExitCode.Usage;
    case 'session_not_found':
      return ExitCode.NotFound;
    default:
      if (error.status === 409 || error.status === 412) return ExitCode.Conflict;
      if (error.status >= 500 || error.status === 429) return ExitCode.Unavailable;
      return ExitCode.Failure;
  }
}

/** The API's error, said with what to do about it. */
function explain(error: SessionsApiError, commandName: string | undefined, apiUrl: string): string {
  const details = error.details;
  const id = typeof details.id === 'string' ? details.id : undefined;
  const tries = error.attempts > 1 ? ` (tried ${error.attempts} times)` : '';
  const requestId = error.requestId === undefined ? '' : ` (request id ${error.requestId})`;
  switch (error.code) {
    case 'invalid_request':
      return `the API refused the request: ${error.message}. See '${PROGRAM} ${commandName ?? ''} --help'.`;
    case 'session_not_found':
      return `no session ${id ?? ''} at ${apiUrl}. Check the ID and the URL (--url or RUNNER_SESSIONS_URL); '${PROGRAM} list' shows the sessions there.`;
    case 'session_not_active':
      return details.status === 'paused'
        ? `session ${id} is paused; resume it with '${PROGRAM} resume ${id}' before adding jobs.`
        : `session ${id} is ${String(details.status)} and takes no more jobs; open a new one with '${PROGRAM} create'.`;
    case 'session_full':
      return `session ${id} already holds the maximum of ${String(details.max_jobs)} jobs; complete it ('${PROGRAM} complete ${id}') and continue in a new session ('${PROGRAM} create').`;
    case 'invalid_transition':
      return `session ${id} is ${String(details.from)} and cannot become ${String(details.to)}: completed and terminated are final. See it with '${PROGRAM} get ${id}'.`;
    case 'precondition_failed':
      return `session ${id} has changed since version ${String(details.if_match)}; read the current etag with '${PROGRAM} get ${id}' and retry with it, or without --if-match.`;
    case 'payload_too_large':
      return `the request is too large for the API (${String(details.limit_bytes ?? '16384')} bytes at most); use a shorter name or job ID.`;
    case 'unsupported_media_type':
      return `the API refused the request's content type (this CLI sends application/json); is ${apiUrl} the runner-sessions API?`;
    case 'versioning_disabled':
      return `${error.message}.`;
    case 'conflict_retry':
      return `session ${id ?? ''} is being changed by many writers at once${tries}; try again in a few seconds.`;
    case 'storage_unavailable':
      return `the service's storage is unavailable${tries}${requestId}; try again in a few seconds.`;
    case 'internal_error':
      return `the service failed${requestId}; try again, and report the request id if it keeps failing.`;
    case 'access_denied':
      return (
        `the API refused the request (HTTP ${error.status}: ${error.message}). Check the AWS credentials ` +
        `(AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region (--region) and that the principal may call execute-api:Invoke on this API.`
      );
    case 'throttled':
      return `the API is throttling requests${tries}; try again later.`;
    case 'unexpected_response':
      return `unexpected answer from ${apiUrl}: ${error.message}. Is --url / RUNNER_SESSIONS_URL the runner-sessions API?`;
    default:
      return `${error.code}: ${error.message}${requestId}`;
  }
}
