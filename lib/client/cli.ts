import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { isSessionId } from '../domain/ids.ts';
import {
  JobIdSchema,
  LabelSchema,
  LEASE_SECONDS,
  LeaseSecondsSchema,
  SESSION_STATUSES,
  SessionNameSchema,
  type SessionStatus,
  SessionStatusSchema,
} from '../domain/session.ts';
import type * as z from '../domain/zod.ts';
import { IdempotencyKeySchema, ListSessionsQuerySchema, SessionHistoryQuerySchema } from '../http/schemas.ts';
import { VERSION_ID_PATTERN } from '../sessions/history.ts';
import { UsageError } from './cli/command.ts';
import { exportCommand } from './cli/export.ts';
import { importCommand } from './cli/import.ts';
import { CANNOT_RUN_EXIT, type ExecPlan, execIdempotencyKey, execUnderLease, LEASE_LOST_EXIT } from './cli-exec.ts';
import {
  formatHistoryTable,
  formatLease,
  formatSession,
  formatSessionTable,
  formatTime,
  historyTablePrinter,
  sessionTablePrinter,
  type TablePrinter,
} from './cli-output.ts';
import { type ChangeOptions, SessionsClient, type VersionedSession } from './client.ts';
import { LeaseLostError, NoResumableSession, SessionsApiError, SessionsConfigError, SessionsNetworkError } from './errors.ts';
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
  /** The lease is lost (`lease_lost`): another holder took it over, or it expired or was released. EX_TEMPFAIL. */
  LeaseLost: LEASE_LOST_EXIT,
  /** `exec`: the command could not be started. */
  CannotRun: CANNOT_RUN_EXIT,
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
  4  conflict: the status does not allow it (409), --if-match is out of date (412), or a lease is in the way (lease_held, 428)
  5  the service failed or is unavailable (5xx, 429), or could not be reached
  75 the lease is lost: taken over by another holder (acquire --force), expired or released
`;

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

interface Context {
  client: SessionsClient;
  /** A client like `client` whose calls end when `signal` aborts, or never when it is undefined. */
  clientWith(signal: AbortSignal | undefined): SessionsClient;
  io: CliIo;
  json: boolean;
  args: Parsed;
  /** What follows `--` on the command line (the command `exec` runs). */
  rest: string[];
  /** `--timeout` in seconds; 0 for no limit. */
  timeoutSeconds: number;
}

interface Command {
  usage: string;
  summary: string;
  details: string;
  options: ParseArgsOptionsConfig;
  /** Names of the positional arguments, in order. */
  positionals: string[];
  /** Takes the command line after `--` as a command to run. */
  takesCommand?: boolean;
  /** Resolves to the exit status when it is not simply `Ok`. */
  run(context: Context): Promise<undefined | number>;
}

const CHANGE_OPTIONS = { 'if-match': { type: 'string' }, epoch: { type: 'string' } } as const satisfies ParseArgsOptionsConfig;
const CHANGE_HELP =
  '  --if-match ETAG  change only that version of the session (the etag `get` shows); 412 otherwise\n' +
  '  --epoch N        the epoch of the lease you hold (sent as Lease-Epoch): needed while the session is held\n';
const LEASE_OPTIONS = { holder: { type: 'string' }, seconds: { type: 'string' } } as const satisfies ParseArgsOptionsConfig;
const LEASE_HELP =
  '  --holder H       who holds the lease, 1-256 characters (default: your IAM principal; local on the local server)\n' +
  `  --seconds N      lease length, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} seconds (default ${LEASE_SECONDS.default})\n`;

function statusCommand(status: SessionStatus, summary: string, details: string): Command {
  return {
    usage: `${verbFor(status)} ID [--if-match ETAG] [--epoch N]`,
    summary,
    details: `${details}\n\nOptions:\n${CHANGE_HELP}`,
    options: CHANGE_OPTIONS,
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      printSession(io, json, await client.setStatus(id, status, changeOptions(args)));
    },
  };
}

function verbFor(status: SessionStatus): string {
  return { active: 'resume', paused: 'pause', completed: 'complete', terminated: 'terminate' }[status];
}

const COMMANDS: Record<string, Command> = {
  create: {
    usage: 'create [--name NAME] [--idempotency-key K] [--lease N]',
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
  --lease N            open it held: a lease of N seconds (${LEASE_SECONDS.min}-${LEASE_SECONDS.max}), epoch 1
  --holder H           who holds that lease (default: your IAM principal; local on the local server)
`,
    options: { name: { type: 'string' }, 'idempotency-key': { type: 'string' }, lease: { type: 'string' }, holder: { type: 'string' } },
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
      const leaseSeconds = leaseSecondsOption(args, 'lease');
      const holder = holderOption(args);
      if (holder !== undefined && leaseSeconds === undefined)
        throw new UsageError('--holder needs --lease N: it names the holder of the lease the session is opened with');
      const created = await client.createSession({ name, idempotencyKey, leaseSeconds, holder });
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
    usage: 'add-job ID JOB [--if-match ETAG] [--epoch N]',
    summary: 'append a job ID to an active session',
    details: `Appends JOB (1-256 characters, no control characters) to the session. A job ID
that is already there changes nothing, so repeating the command is safe.

Options:
${CHANGE_HELP}`,
    options: CHANGE_OPTIONS,
    positionals: ['ID', 'JOB'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const job = args.positionals[1]!;
      if (!JobIdSchema.safeParse(job).success) throw new UsageError('JOB must be 1-256 characters without control characters');
      printSession(io, json, await client.addJob(id, job, changeOptions(args)));
    },
  },
  pause: statusCommand(
    'paused',
    'pause a session (the runner lost its connection)',
    'Moves an active session to paused; jobs cannot be added until it is resumed.',
  ),
  resume: statusCommand('active', 'resume a paused session', 'Moves a paused session back to active, where it takes jobs again.'),
  complete: statusCommand(
    'completed',
    'complete a session (final)',
    'Marks the session completed. Final: it cannot be resumed or take more jobs.',
  ),
  terminate: statusCommand(
    'terminated',
    'terminate a session (final)',
    'Marks the session terminated (abandoned). Final: it cannot be resumed or take more jobs.',
  ),
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
    options: {
      name: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean' },
    },
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
        const filters = [name !== undefined && `--name ${shellWord(name)}`, status && `--status ${status}`, limit && `--limit ${limit}`]
          .filter(Boolean)
          .join(' ');
        io.stdout.write(`\nmore: ${PROGRAM} list ${filters ? `${filters} ` : ''}--cursor ${page.nextCursor}   (or --all)\n`);
      }
    },
  },
  'resume-by-name': {
    usage: 'resume-by-name NAME [--holder H] [--seconds N]',
    summary: 'take the lease of the newest paused or active session named NAME (resuming it)',
    details: `What a runner does when it reconnects and knows only the name it gave:
finds the newest session with exactly that name that is paused or active,
acquires its lease (which resumes it if it is paused), and prints it, active,
with the lease's epoch: pass it as --epoch to the commands that change it.
Exits 3 when there is none (every session of that name is completed or
terminated, or there is none), 4 when another holder's lease on it is live.
An API without leases (v1) is asked only to resume it.
  ID=$(${PROGRAM} resume-by-name ssh-import --json | jq -r .session.id)

Options:
${LEASE_HELP}`,
    options: LEASE_OPTIONS,
    positionals: ['NAME'],
    async run({ client, io, json, args }) {
      const name = args.positionals[0]!;
      if (!SessionNameSchema.safeParse(name).success) throw new UsageError('NAME must be 1-256 characters without control characters');
      const lease = { holder: holderOption(args), seconds: leaseSecondsOption(args, 'seconds') };
      const resumed = await client.acquireByName(name, lease).catch((error: unknown) => {
        if (isMissingLeaseRoute(error)) return client.resumeByName(name);
        throw error;
      });
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
  acquire: {
    usage: 'acquire ID [--holder H] [--seconds N] [--force]',
    summary: 'take the lease of a session (resuming it if paused), print it with its epoch',
    details: `Takes the session's lease, with an epoch one above the last, and resumes the
session if it is paused. Pass the epoch as --epoch to every change while you hold it,
and keep it alive with 'heartbeat' (or run the work under '${PROGRAM} exec').
Exits 4 when another holder's lease is live: wait until it runs out, or --force.
Not retried after a lost answer (a second acquire would fence out the first):
see who holds it with '${PROGRAM} get ID'.
  EPOCH=$(${PROGRAM} acquire "$ID" --json | jq -r .session.lease.epoch)

Options:
${LEASE_HELP}  --force          take it even from a live holder, who is then fenced out (its changes get lease_lost)
`,
    options: { ...LEASE_OPTIONS, force: { type: 'boolean' } },
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const acquired = await client.acquireLease(id, {
        holder: holderOption(args),
        seconds: leaseSecondsOption(args, 'seconds'),
        force: args.values.force === true || undefined,
      });
      printSession(io, json, acquired);
    },
  },
  heartbeat: {
    usage: 'heartbeat ID --epoch N [--seconds N]',
    summary: 'extend the lease you hold',
    details: `Extends the lease of epoch N to now + its length (or --seconds), and prints it.
Exits 75 when that lease is lost: superseded by another acquire, expired or released.

Options:
  --epoch N        the epoch of the lease you hold (required)
  --seconds N      extend it by this many seconds, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} (default: the lease's own length)
`,
    options: { epoch: { type: 'string' }, seconds: { type: 'string' } },
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const epoch = epochOption(args);
      if (epoch === undefined) throw new UsageError('heartbeat needs --epoch N, the epoch of the lease you hold');
      const lease = await client.heartbeat(id, epoch, { seconds: leaseSecondsOption(args, 'seconds') });
      io.stdout.write(json ? `${JSON.stringify({ lease })}\n` : `lease    ${formatLease(lease)}\n`);
    },
  },
  exec: {
    usage: 'exec --name NAME [options] -- COMMAND [ARGS...]',
    summary: 'run a command while holding the lease of the session named NAME',
    details: `  ${PROGRAM} exec --name NAME [--lease N] [--job JOB] [--complete] [--on-lease-lost kill|continue] -- COMMAND [ARGS...]

Runs a job step under a lease: resumes the newest paused or active session named NAME
by taking its lease (or, if there is none, opens one held from its creation), appends
JOB to it, then runs COMMAND with this terminal's stdin, stdout and stderr, heartbeating
every third of the lease meanwhile. SIGINT, SIGTERM and SIGHUP are passed on to the command.
Afterwards the session is completed (with --complete, after a zero exit) or paused,
which releases the lease so that the next exec of NAME resumes it at once.

If the lease is lost while the command runs - another holder took it over with
'acquire --force', or no heartbeat got through before it ran out - one line on stderr
says so and why, and exec exits 75 without completing the session:
  runner-sessions: lease on session ID lost: superseded by epoch 5; stopping the command
  runner-sessions exec --name nightly-import --job "$CI_JOB_ID" --complete -- ./import.sh

Options:
  --name NAME              the session's name (required)
  --lease N                lease length, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} seconds (default ${LEASE_SECONDS.default})
  --job JOB                append this job ID to the session before the command runs
  --complete               complete the session when the command exits 0
  --on-lease-lost kill     on a lost lease, SIGTERM the command, then SIGKILL after --grace (default)
  --on-lease-lost continue on a lost lease, let the command finish; exec still exits 75
  --grace SECONDS          between that SIGTERM and SIGKILL (default 10)
  --holder H               the lease holder's name (default: HOST:PID of this exec)
  --invocation-id K        names this invocation: a rerun with the same K, NAME and host that
                           has to create the session gets the one the first run opened
                           (default: $RUNNER_SESSIONS_INVOCATION_ID, else new for each run)
  --timeout SECONDS        bounds each step around the command, not the command itself

Exit status of exec: the command's own (128+N when signal N ended it), or
  75   the lease was lost while the command ran (EX_TEMPFAIL): the session is not completed
  127  the command could not be started
  2-5  as below, when the session could not be taken or completed (the command did not run,
       or ran and exited 0 but --complete failed)
`,
    options: {
      name: { type: 'string' },
      lease: { type: 'string' },
      job: { type: 'string' },
      complete: { type: 'boolean' },
      'on-lease-lost': { type: 'string' },
      grace: { type: 'string' },
      holder: { type: 'string' },
      'invocation-id': { type: 'string' },
    },
    positionals: [],
    takesCommand: true,
    async run({ client, clientWith, io, args, rest, timeoutSeconds }) {
      const name = stringOption(args, 'name');
      if (name === undefined) throw new UsageError('exec needs --name NAME');
      if (!SessionNameSchema.safeParse(name).success) throw new UsageError('--name must be 1-256 characters without control characters');
      const job = stringOption(args, 'job');
      if (job !== undefined && !JobIdSchema.safeParse(job).success)
        throw new UsageError('--job must be 1-256 characters without control characters');
      const onLeaseLost = stringOption(args, 'on-lease-lost') ?? 'kill';
      if (onLeaseLost !== 'kill' && onLeaseLost !== 'continue')
        throw new UsageError(`--on-lease-lost must be kill or continue; got '${onLeaseLost}'`);
      const [program, ...programArgs] = rest;
      if (program === undefined || program === '')
        throw new UsageError('exec needs a command to run after --: exec --name NAME -- COMMAND [ARGS...]');
      const host = hostname();
      const invocation = stringOption(args, 'invocation-id') ?? (io.env.RUNNER_SESSIONS_INVOCATION_ID?.trim() || randomUUID());
      const plan: ExecPlan = {
        name,
        leaseSeconds: leaseSecondsOption(args, 'lease') ?? LEASE_SECONDS.default,
        holder: holderOption(args) ?? `${host}:${process.pid}`.slice(0, 256),
        idempotencyKey: execIdempotencyKey(name, host, invocation),
        job,
        complete: args.values.complete === true,
        onLeaseLost,
        graceMs: secondsOption(args, 'grace', 10) * 1000,
        command: [program, ...programArgs],
      };
      const finish = (): SessionsClient => clientWith(timeoutSeconds === 0 ? undefined : AbortSignal.timeout(timeoutSeconds * 1000));
      return execUnderLease(plan, { setup: client, keeper: clientWith(undefined), finish }, io.stderr);
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
  --if-match ETAG  change only that version of the session (the etag \`get\` shows); 412 otherwise
`,
    options: { 'if-match': { type: 'string' } },
    positionals: ['ID', 'VERSION'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      const version = args.positionals[1]!;
      if (!VERSION_ID_PATTERN.test(version)) throw new UsageError(`VERSION must be a version id from '${PROGRAM} history ${id}'`);
      printSession(io, json, await client.restore(id, version, { ifMatch: stringOption(args, 'if-match') }));
    },
  },
  console: {
    usage: 'console --url URL [--port N]',
    summary: 'serve the operator console for a deployed API on this machine',
    details: `Serves the operator console at http://127.0.0.1:N/console and forwards the
page's API calls to URL, SigV4-signed with your AWS credentials, so the browser
never holds them. Listens on loopback only; runs until interrupted (Ctrl-C).

Options:
  --port N  the port to listen on (default 8080; 0: any free port)
`,
    options: { port: { type: 'string' } },
    positionals: [],
    async run({ client, io, args }) {
      const port = portOption(args);
      const { startConsoleProxy } = await import('../console/proxy.ts');
      const proxy = await startConsoleProxy({ url: client.baseUrl, port, region: stringOption(args, 'region') });
      io.stdout.write(`console on ${proxy.url}/console (API calls signed for ${client.baseUrl})\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await proxy.close();
    },
  },
  export: exportCommand,
  import: importCommand,
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

Whether an S3-compatible bucket enforces the conditional writes the service needs:
  ${PROGRAM} check-store --bucket NAME [--endpoint URL] [--json]

Or, for one job step under a lease (exit 75 if another holder takes it over meanwhile):
  ${PROGRAM} exec --name NAME --job JOB --complete -- COMMAND [ARGS...]

Signed requests use the standard AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, SSO, instance and task roles). Every call is retried when the
service is busy (503, 429) or unreachable; create carries an Idempotency-Key, so a
retried create never opens a second session.

${EXIT_HELP}
Run '${PROGRAM} <command> --help' for a command's options.
`;
}

function commandHelp(command: Command): string {
  const options = command.takesCommand === true ? '' : ' [options]';
  return `Usage: ${PROGRAM} ${command.usage}${options}\n\n${command.details}\n${GLOBAL_HELP}\n${EXIT_HELP}`;
}

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
    // The store probe needs no API: it talks to a bucket. Loaded only when asked for, to keep the S3 SDK off start-up.
    if (argv[0] === 'check-store') return (await import('../storage/probe.ts')).checkStore(argv.slice(1), io, `${PROGRAM} check-store`);
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
    if (command === undefined)
      throw new UsageError(`unknown command '${commandName}'; the commands are ${Object.keys(COMMANDS).join(', ')}`);

    // What follows `--` is the command exec runs, not arguments of its own.
    const dashes = command.takesCommand === true ? argv.indexOf('--') : -1;
    const rest = dashes === -1 ? [] : argv.slice(dashes + 1);
    const parsed = parseCommandLine(commandName, command, dashes === -1 ? argv : argv.slice(0, dashes));
    if (parsed.values.help === true) {
      io.stdout.write(commandHelp(command));
      return ExitCode.Ok;
    }
    json = parsed.values.json === true;
    timeoutSeconds = timeoutOption(parsed);
    deadline = timeoutSeconds === 0 ? undefined : AbortSignal.timeout(timeoutSeconds * 1000);
    const baseUrl = urlOption(parsed, io.env);
    const clientWith = (signal: AbortSignal | undefined): SessionsClient =>
      new SessionsClient({
        baseUrl,
        region: stringOption(parsed, 'region'),
        sign: parsed.values.sign as boolean | undefined,
        fetch: io.fetch,
        retry: io.retry,
        env: io.env,
        signal,
      });
    const client = clientWith(deadline);
    apiUrl = client.baseUrl;
    const code = await command.run({ client, clientWith, io, json, args: parsed, rest, timeoutSeconds });
    return code ?? ExitCode.Ok;
  } catch (error) {
    // The reader went away (`| head -1`): it has what it wanted, so that is success, and nothing is left to say.
    if (isClosedPipe(error)) return ExitCode.Ok;
    const timedOut = deadline?.aborted === true ? timeoutSeconds : undefined;
    return reportFailure(error, { io, json, commandName, apiUrl, timedOut });
  }
}

/** True for the error of a write to a pipe whose reader has closed it. */
export function isClosedPipe(error: unknown): boolean {
  return (
    error instanceof Error &&
    ((error as NodeJS.ErrnoException).code === 'EPIPE' || (error as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED')
  );
}

function allOptions(): ParseArgsOptionsConfig {
  return Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMANDS).map((command) => command.options));
}

function parseCommandLine(name: string, command: Command, argv: string[]): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error));
  }
  if (parsed.values.help === true) return parsed;
  const positionals = parsed.positionals.slice(1);
  if (positionals.length !== command.positionals.length) {
    const expected = command.positionals.length === 0 ? 'no arguments' : command.positionals.join(' ');
    throw new UsageError(
      `${name} takes ${expected}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}`,
    );
  }
  return { values: parsed.values, positionals };
}

function portOption(args: Parsed): number {
  const text = stringOption(args, 'port') ?? '8080';
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port <= 65535)) throw new UsageError(`--port must be 0-65535; got '${text}'`);
  return port;
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
    throw new UsageError(
      `'${value}' is not a session ID: expected 32 lowercase hex characters, as printed by '${PROGRAM} create' or '${PROGRAM} list'`,
    );
  }
  return value;
}

/** `--if-match` and `--epoch` of a change. */
function changeOptions(args: Parsed): ChangeOptions {
  return { ifMatch: stringOption(args, 'if-match'), leaseEpoch: epochOption(args) };
}

/** `--epoch N`: a non-negative integer, as `Lease-Epoch` takes it. */
function epochOption(args: Parsed): number | undefined {
  const value = stringOption(args, 'epoch');
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--epoch must be the lease's epoch, a whole number; got '${value}'`);
  return Number(value);
}

function holderOption(args: Parsed): string | undefined {
  const holder = stringOption(args, 'holder');
  if (holder !== undefined && !LabelSchema.safeParse(holder).success)
    throw new UsageError('--holder must be 1-256 characters without control characters');
  return holder;
}

/** A lease length option: whole seconds within what the API takes. */
function leaseSecondsOption(args: Parsed, option: string): number | undefined {
  const value = stringOption(args, option);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !LeaseSecondsSchema.safeParse(Number(value)).success) {
    throw new UsageError(`--${option} must be a whole number of seconds from ${LEASE_SECONDS.min} to ${LEASE_SECONDS.max}; got '${value}'`);
  }
  return Number(value);
}

function secondsOption(args: Parsed, option: string, fallback: number): number {
  const value = stringOption(args, option);
  if (value === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${option} must be a number of seconds; got '${value}'`);
  return Number(value);
}

/** A 404 that is not about the session: the API predates leases (v1), so the lease routes are not there. */
function isMissingLeaseRoute(error: unknown): boolean {
  return error instanceof SessionsApiError && error.status === 404 && error.code !== 'session_not_found';
}

function nameOption(args: Parsed): string | undefined {
  const name = stringOption(args, 'name');
  if (name !== undefined && !SessionNameSchema.safeParse(name).success)
    throw new UsageError('--name must be 1-256 characters without control characters');
  return name;
}

/** `value` as one shell word, quoted only when it needs to be, for commands the CLI suggests. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
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
  if (isMissingLeaseRoute(error) && commandName !== undefined && LEASE_COMMANDS.has(commandName)) {
    return {
      code: 'leases_unsupported',
      exitCode: ExitCode.Failure,
      message: `the API at ${apiUrl} does not serve leases (${(error as SessionsApiError).message}); '${commandName}' needs runner-sessions v1.1 or later.`,
    };
  }
  if (error instanceof SessionsApiError)
    return { code: error.code, exitCode: exitCodeOf(error), message: explain(error, commandName, apiUrl) };
  return {
    code: 'unexpected',
    exitCode: ExitCode.Failure,
    message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
  };
}

/** The commands that need the lease routes. */
const LEASE_COMMANDS = new Set(['acquire', 'heartbeat', 'exec']);

function exitCodeOf(error: SessionsApiError): number {
  switch (error.code) {
    case 'lease_lost':
      return ExitCode.LeaseLost;
    case 'invalid_request':
    case 'payload_too_large':
    case 'unsupported_media_type':
      return ExitCode.Usage;
    case 'session_not_found':
      return ExitCode.NotFound;
    default:
      if (error.status === 409 || error.status === 412 || error.status === 428) return ExitCode.Conflict;
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
    case 'lease_held': {
      const until = typeof details.expires_at === 'number' ? ` until ${formatTime(details.expires_at)}` : '';
      return `session ${id} is held by ${String(details.holder)}${until}; wait for that lease to run out, or take it over with '${PROGRAM} acquire ${id} --force' (the holder is then fenced out).`;
    }
    case 'lease_lost': {
      const reason = error instanceof LeaseLostError ? error.reason : undefined;
      const why =
        reason === 'superseded'
          ? `superseded${error instanceof LeaseLostError && error.epoch !== undefined ? ` by epoch ${error.epoch}` : ''}`
          : (reason ?? 'gone');
      return `the lease on session ${id} is lost: ${why}. Nothing was changed; this runner no longer holds it ('${PROGRAM} get ${id}' shows who does).`;
    }
    case 'lease_required':
      return `session ${id} is held under a lease (epoch ${String(details.epoch)}); pass --epoch with the epoch of the lease you hold, or take it over with '${PROGRAM} acquire ${id} --force'.`;
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
