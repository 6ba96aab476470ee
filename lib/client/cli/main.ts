import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { SessionsClient } from '../client.ts';
import type { CliIo, Command, Context, Parsed } from './command.ts';
import { UsageError } from './command.ts';
import * as registry from './commands.ts';
import { EXIT_HELP, ExitCode, reportFailure } from './failures.ts';
import {
  API_HELP,
  API_OPTIONS,
  BASIC_OPTIONS,
  DEFAULT_TIMEOUT_SECONDS,
  PROGRAM,
  stringOption,
  timeoutOption,
  urlOption,
} from './options.ts';

export type { CliIo } from './command.ts';
export { ExitCode } from './failures.ts';

/** The commands by name, in the order the help lists them. */
const COMMANDS: ReadonlyMap<string, Command> = new Map(
  Object.values(registry)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((command) => [command.name, command]),
);

function globalOptions(command: Command): ParseArgsOptionsConfig {
  return command.usesApi === false ? BASIC_OPTIONS : API_OPTIONS;
}

function topLevelHelp(): string {
  const commands = [...COMMANDS.values()];
  const width = Math.max(...commands.map((command) => command.usage.length));
  const list = commands.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}\n`).join('');
  return `${PROGRAM} - record a runner's session of jobs in the runner-sessions API

Usage: ${PROGRAM} <command> [arguments] [options]
(in a clone of its repository, after npm ci: npx ${PROGRAM} <command> ...)

Commands:
${list}
${API_HELP}
A runner's life cycle:
  npx ${PROGRAM} create --name NAME      prints the session ID
  npx ${PROGRAM} add-job ID JOB          for every job it runs
  npx ${PROGRAM} pause ID / resume ID    when it loses / regains its connection
  npx ${PROGRAM} resume-by-name NAME     when it reconnects knowing only its name
  npx ${PROGRAM} complete ID             when it is done (or terminate ID)

Or, for one job step under a lease (exit 75 if another holder takes it over meanwhile):
  npx ${PROGRAM} exec --name NAME --job JOB --complete -- COMMAND [ARGS...]

Whether an S3-compatible bucket enforces the conditional writes the service needs:
  npx ${PROGRAM} check-store --bucket NAME [--endpoint URL] [--json]

Signed requests use the standard AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, SSO, instance and task roles). Every call is retried when the
service is busy (503, 429) or unreachable; create carries an Idempotency-Key, so a
retried create never opens a second session.

${EXIT_HELP}
Run 'npx ${PROGRAM} <command> --help' for a command's usage, options and exit codes.
`;
}

function commandHelp(command: Command): string {
  const options = command.takesCommand === true || command.usesApi === false ? '' : ' [options]';
  const usage = `Usage: ${PROGRAM} ${command.usage}${options}\n\n${command.details}`;
  return command.usesApi === false ? usage : `${usage}\n${API_HELP}\n${EXIT_HELP}`;
}

function parseCommandLine(command: Command, argv: string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...globalOptions(command), ...command.options },
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error));
  }
  const values = parsed.values as Parsed['values'];
  if (values.help === true) return { values, positionals: [] };
  const positionals = parsed.positionals.slice(1);
  if (positionals.length !== command.positionals.length) {
    const expected = command.positionals.length === 0 ? 'no arguments' : command.positionals.join(' ');
    throw new UsageError(
      `${command.name} takes ${expected}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}`,
    );
  }
  return { values, positionals };
}

/** True for the error of a write to a pipe whose reader has closed it. */
export function isClosedPipe(error: unknown): boolean {
  return (
    error instanceof Error &&
    ((error as NodeJS.ErrnoException).code === 'EPIPE' || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED')
  );
}

/**
 * Runs `runner-sessions` with `argv` (the arguments after the program name)
 * and resolves to the process exit code (see `ExitCode`). Never throws.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let command: Command | undefined;
  let json = argv.includes('--json');
  let apiUrl = 'the API';
  let deadline: AbortSignal | undefined;
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  let sessionId: string | undefined;
  try {
    const allOptions = Object.assign({}, API_OPTIONS, ...[...COMMANDS.values()].map((known) => known.options));
    const pre = parseArgs({ args: argv, options: allOptions, strict: false, allowPositionals: true, allowNegative: true });
    const name = pre.positionals[0];
    if (name === 'help') {
      const topic = pre.positionals[1] === undefined ? undefined : COMMANDS.get(pre.positionals[1]);
      io.stdout.write(topic === undefined ? topLevelHelp() : commandHelp(topic));
      return ExitCode.Ok;
    }
    if (name === undefined) {
      if (pre.values.help === true) {
        io.stdout.write(topLevelHelp());
        return ExitCode.Ok;
      }
      io.stderr.write(topLevelHelp());
      return ExitCode.Usage;
    }
    command = COMMANDS.get(name);
    if (command === undefined) throw new UsageError(`unknown command '${name}'; the commands are ${[...COMMANDS.keys()].join(', ')}`);

    // What follows `--` is the command exec runs, not arguments of its own.
    const dashes = command.takesCommand === true ? argv.indexOf('--') : -1;
    const rest = dashes === -1 ? [] : argv.slice(dashes + 1);
    const args = parseCommandLine(command, dashes === -1 ? argv : argv.slice(0, dashes));
    if (args.values.help === true) {
      io.stdout.write(commandHelp(command));
      return ExitCode.Ok;
    }
    json = args.values.json === true;
    sessionId = command.positionals[0] === 'ID' ? args.positionals[0] : stringOption(args, 'session');
    timeoutSeconds = timeoutOption(args);
    const overall = timeoutSeconds === 0 ? undefined : AbortSignal.timeout(timeoutSeconds * 1000);
    const clientWith = (signal: AbortSignal | undefined): SessionsClient => {
      const client = new SessionsClient({
        baseUrl: urlOption(args, io.env),
        region: stringOption(args, 'region'),
        sign: args.values.sign as boolean | undefined,
        token: io.env.RUNNER_SESSIONS_TOKEN?.trim() || undefined,
        fetch: io.fetch,
        retry: io.retry,
        env: io.env,
        signal,
      });
      apiUrl = client.baseUrl;
      return client;
    };
    let client: SessionsClient | undefined;
    const context: Context = {
      io,
      json,
      args,
      rest,
      timeoutSeconds,
      get client() {
        if (client === undefined) {
          deadline = overall;
          client = clientWith(overall);
        }
        return client;
      },
      clientWith,
    };
    if (command.usesApi !== false) void context.client;
    return (await command.run(context)) ?? ExitCode.Ok;
  } catch (error) {
    // The reader went away (`| head -1`): it has what it wanted, so that is success, and nothing is left to say.
    if (isClosedPipe(error)) return ExitCode.Ok;
    const timedOut = deadline?.aborted === true ? timeoutSeconds : undefined;
    const failure = reportFailure(error, {
      io,
      json,
      commandName: command?.name,
      usesLeases: command?.usesLeases === true,
      apiUrl,
      timedOut,
      sessionId,
    });
    if (command?.failureExit !== undefined && failure.exitCode !== ExitCode.LeaseLost) return command.failureExit;
    return failure.exitCode;
  }
}
