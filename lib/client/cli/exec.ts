import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { JobIdSchema, LEASE_SECONDS, SessionNameSchema } from '../../domain/session.ts';
import { defaultHolder } from '../client.ts';
import { type Command, UsageError } from './command.ts';
import { type ExecSession, execIdempotencyKey, execUnderLease, findSetpriv } from './exec-run.ts';
import { ExecExit } from './failures.ts';
import { epochOption, holderOption, leaseSecondsOption, PROGRAM, secondsOption, sessionIdArgument, stringOption } from './options.ts';

const SETPRIV = findSetpriv(process.env);

export const exec: Command = {
  name: 'exec',
  usage: 'exec --name NAME [options] -- COMMAND [ARGS...]',
  summary: 'run a command while holding the lease of a session',
  details: `  ${PROGRAM} exec --name NAME [--lease N] [--job JOB] [--complete] [--on-lease-lost kill|continue] -- COMMAND [ARGS...]
  ${PROGRAM} exec --session ID --epoch N [--job JOB] [--complete] -- COMMAND [ARGS...]

Runs a job step under a lease. With --name: resumes the newest paused or active session
named NAME by taking its lease (or, if there is none, opens one held from its creation).
With --session ID --epoch N: runs under the lease of epoch N you already hold (from
'create --lease' or 'acquire'), confirmed by a heartbeat first. Then records JOB as
running, says on stderr which session and epoch it runs under, and runs COMMAND with
this terminal's stdin, stdout and stderr, heartbeating every third of the lease
meanwhile. SIGINT, SIGTERM and SIGHUP are passed on to the command. When it ends, JOB's
outcome is recorded: succeeded (exit 0), failed with the exit code, failed with the
signal that killed it (SIGTERM...), or cancelled when exec stopped it because the lease
was lost (recorded only if no other holder's lease is live by then). Afterwards the
session is completed (with --complete, after a zero exit) or paused, which releases the
lease so that the next exec resumes it at once. With --json, a summary (session_id,
epoch, job, command_exit_code, command_signal, job_outcome, session, exit_code) is the
last line on stderr; job_outcome is {state, exit_code, signal, recorded}.

${
  SETPRIV === undefined
    ? `The command is NOT stopped if exec itself is killed (kill -9): this system has no
util-linux setpriv (or is not Linux), so nothing ties the command's life to exec's.`
    : `If exec itself is killed (kill -9), the command is killed too (SIGKILL, set with
${SETPRIV} --pdeathsig), so nothing runs on without the lease.`
}

If the lease is lost while the command runs - another holder took it over with
'acquire --force', or no heartbeat got through before it ran out - one line on stderr
says so and why, and exec exits 75 without completing the session:
  runner-sessions: lease on session ID lost: superseded by epoch 5; stopping the command
  npx ${PROGRAM} exec --name nightly-import --job "$CI_JOB_ID" --complete -- ./import.sh

Options:
  --name NAME              the session's name
  --session ID             or: the session whose lease you hold (with --epoch)
  --epoch N                the epoch of that lease
  --lease N                lease length, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} seconds (default ${LEASE_SECONDS.default}); each heartbeat extends it by this
  --job JOB                record this job as running before the command runs, and its outcome after
  --complete               complete the session when the command exits 0
  --on-lease-lost kill     on a lost lease, SIGTERM the command, then SIGKILL after --grace (default)
  --on-lease-lost continue on a lost lease, let the command finish; exec still exits 75
  --grace SECONDS          between that SIGTERM and SIGKILL (default 10)
  --holder H               with --name: the lease holder's name (default: HOST:PID of this exec)
  --invocation-id K        with --name: names this invocation: a rerun with the same K, NAME and
                           host that has to create the session gets the one the first run opened
                           (default: $RUNNER_SESSIONS_INVOCATION_ID, else new for each run)
  --timeout SECONDS        bounds each step around the command, not the command itself

Exit status of exec: the command's own (128+N when signal N ended it), or
  75   the lease was lost while the command ran (EX_TEMPFAIL): the session is not completed
  125  exec itself failed: a usage error, or the session could not be taken (the command
       did not run), or the command exited 0 but --complete failed; stderr says why
  126  the command was found but cannot be run (not executable)
  127  the command was not found
(As with timeout and env, 125-127 are exec's; the exit codes listed below apply to the
other commands.)
`,
  options: {
    name: { type: 'string' },
    session: { type: 'string' },
    epoch: { type: 'string' },
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
  usesLeases: true,
  failureExit: ExecExit.Failed,
  async run({ client, clientWith, io, json, args, rest, timeoutSeconds }) {
    const session = sessionOption(args, io.env);
    const job = stringOption(args, 'job');
    if (job !== undefined && !JobIdSchema.safeParse(job).success)
      throw new UsageError('--job must be 1-256 characters without control characters');
    const onLeaseLost = stringOption(args, 'on-lease-lost') ?? 'kill';
    if (onLeaseLost !== 'kill' && onLeaseLost !== 'continue')
      throw new UsageError(`--on-lease-lost must be kill or continue; got '${onLeaseLost}'`);
    const [program, ...programArgs] = rest;
    if (program === undefined || program === '')
      throw new UsageError('exec needs a command to run after --: exec --name NAME -- COMMAND [ARGS...]');
    const plan = {
      session,
      leaseSeconds: leaseSecondsOption(args, 'lease') ?? LEASE_SECONDS.default,
      job,
      complete: args.values.complete === true,
      onLeaseLost,
      graceMs: secondsOption(args, 'grace', 10) * 1000,
      command: [program, ...programArgs] as [string, ...string[]],
      setpriv: SETPRIV,
    } as const;
    const finish = () => clientWith(timeoutSeconds === 0 ? undefined : AbortSignal.timeout(timeoutSeconds * 1000));
    const announce = (id: string, epoch: number): void =>
      void io.stderr.write(`${PROGRAM}: running under session ${id}, lease epoch ${epoch}\n`);
    const summary = await execUnderLease(plan, { setup: client, keeper: clientWith(undefined), finish }, io.stderr, announce);
    if (json) io.stderr.write(`${JSON.stringify({ exec: summary })}\n`);
    return summary.exit_code;
  },
};

/** `--name NAME` (with --holder, --invocation-id) or `--session ID --epoch N`. */
function sessionOption(args: Parameters<Command['run']>[0]['args'], env: Record<string, string | undefined>): ExecSession {
  const name = stringOption(args, 'name');
  const id = stringOption(args, 'session');
  const epoch = epochOption(args);
  if (id !== undefined) {
    if (name !== undefined) throw new UsageError('exec takes --name NAME or --session ID, not both');
    if (epoch === undefined) throw new UsageError('--session ID needs --epoch N, the epoch of the lease you hold on it');
    if (args.values.holder !== undefined || args.values['invocation-id'] !== undefined)
      throw new UsageError('--holder and --invocation-id go with --name: with --session the lease is already held');
    return { id: sessionIdArgument(id), epoch };
  }
  if (name === undefined) throw new UsageError('exec needs --name NAME, or --session ID --epoch N');
  if (epoch !== undefined) throw new UsageError('--epoch goes with --session ID: with --name, exec takes the lease itself');
  if (!SessionNameSchema.safeParse(name).success) throw new UsageError('--name must be 1-256 characters without control characters');
  const host = hostname();
  const invocation = stringOption(args, 'invocation-id') ?? (env.RUNNER_SESSIONS_INVOCATION_ID?.trim() || randomUUID());
  return { name, holder: holderOption(args) ?? defaultHolder(), idempotencyKey: execIdempotencyKey(name, host, invocation) };
}
