/** What `runner-sessions exec` does: take a session's lease, run a command under it, then release or complete it. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants, platform } from 'node:os';
import path from 'node:path';
import type { FinalJobState } from '../../domain/job-outcome.ts';
import type { Lease } from '../../domain/session.ts';
import type { SessionsClient, VersionedSession } from '../client.ts';
import { LeaseLostError, SessionsApiError, SessionsNetworkError } from '../errors.ts';
import type { Session } from '../schemas.ts';
import { ExecExit } from './failures.ts';

/** Where the session comes from: found or created by name, or a lease the caller already holds. */
export type ExecSession = { name: string; holder: string; idempotencyKey: string } | { id: string; epoch: number };

/** What `runner-sessions exec` was asked to do. */
export interface ExecPlan {
  session: ExecSession;
  leaseSeconds: number;
  job: string | undefined;
  complete: boolean;
  onLeaseLost: 'kill' | 'continue';
  /** How long the command has to exit after SIGTERM before it is sent SIGKILL. */
  graceMs: number;
  /** The program and its arguments. */
  command: [string, ...string[]];
  /** The command is killed when exec dies, by `setpriv --pdeathsig` (undefined: not possible here). */
  setpriv: string | undefined;
}

/** The clients `exec` works with: one bound by `--timeout` for each step around the command, one with no deadline for the heartbeats. */
export interface ExecClients {
  /** Finds or creates the session, acquires it, adds the job. */
  setup: SessionsClient;
  /** Heartbeats while the command runs, for as long as it runs. */
  keeper: SessionsClient;
  /** A client with a fresh `--timeout`, for what is done after the command. */
  finish(): SessionsClient;
}

/** What an exec came to: `--json` prints it on stderr. */
export interface ExecSummary {
  session_id: string;
  epoch: number;
  job: string | null;
  /** The command's exit code, or null when a signal ended it or it did not run. */
  command_exit_code: number | null;
  command_signal: string | null;
  /**
   * How the job ended (with `--job`): `succeeded` after exit 0, `failed` with the exit code or the signal, `cancelled`
   * when exec stopped the command because the lease was lost; `recorded` says whether the session took it.
   */
  job_outcome: (JobOutcomeReport & { recorded: boolean }) | null;
  /** What became of the session: completed, paused (its lease released), lease_lost, or left_to_expire when the pause failed. */
  session: 'completed' | 'paused' | 'lease_lost' | 'left_to_expire';
  /** exec's own exit status. */
  exit_code: number;
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A job's final outcome as exec reports it. */
export interface JobOutcomeReport {
  state: FinalJobState;
  exit_code: number | null;
  signal: string | null;
}

/**
 * The `Idempotency-Key` of the create `exec` sends: the same name, host and invocation give the same
 * key, so a rerun of one invocation after a lost answer finds the session it opened.
 */
export function execIdempotencyKey(name: string, host: string, invocation: string): string {
  return `exec-${createHash('sha256').update(`${name}\n${host}\n${invocation}`).digest('hex')}`;
}

/** util-linux `setpriv` on this PATH, on Linux, where a parent-death signal can tie the command's life to exec's. */
export function findSetpriv(env: Record<string, string | undefined>): string | undefined {
  if (platform() !== 'linux') return undefined;
  return findProgram('setpriv', env);
}

/** `program` as exec would run it: its path when found and executable; else why not, as the exit status says. */
export function locateProgram(
  program: string,
  env: Record<string, string | undefined>,
): { path: string } | { exit: number; reason: string } {
  if (program.includes('/')) {
    try {
      if (statSync(program).isDirectory()) return { exit: ExecExit.NotRunnable, reason: 'is a directory' };
      accessSync(program, fsConstants.X_OK);
      return { path: program };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ENOENT'
        ? { exit: ExecExit.NotFound, reason: 'no such file' }
        : { exit: ExecExit.NotRunnable, reason: `not executable (${code})` };
    }
  }
  const found = findProgram(program, env);
  return found === undefined ? { exit: ExecExit.NotFound, reason: 'not found on PATH' } : { path: found };
}

function findProgram(name: string, env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, fsConstants.X_OK);
        return candidate;
      }
    } catch {}
  }
  return undefined;
}

/**
 * Runs `plan.command` while holding the session's lease, and resolves to what came of it: the exit
 * status is the command's own (128 + n for signal n), `ExecExit.LeaseLost` when the lease was lost
 * meanwhile, `NotFound`/`NotRunnable` when the command could not be started.
 */
export async function execUnderLease(
  plan: ExecPlan,
  clients: ExecClients,
  stderr: { write(text: string): unknown },
  onSession: (id: string, epoch: number) => void,
): Promise<ExecSummary> {
  const say = (line: string): void => void stderr.write(`runner-sessions: ${line}\n`);
  const { id, epoch, lease: taken } = await takeSession(clients.setup, plan);
  let lease = taken;
  onSession(id, epoch);
  const summary = (fields: Pick<ExecSummary, 'session' | 'exit_code'> & Partial<ExecSummary>): ExecSummary => ({
    session_id: id,
    epoch,
    job: plan.job ?? null,
    command_exit_code: null,
    command_signal: null,
    job_outcome: null,
    ...fields,
  });
  // Recorded as running before the command starts; the append answers small (Prefer: return=minimal): a job script
  // never needs the session's whole job list.
  if (plan.job !== undefined)
    lease = (await clients.setup.appendJob(id, plan.job, { state: 'running', leaseEpoch: epoch })).summary.lease ?? lease;
  // A lease the caller handed in (--session, --epoch) is confirmed by a heartbeat before the command starts.
  const held = await clients.keeper.holdLease(id, { seconds: plan.leaseSeconds, lease, epoch: lease === undefined ? epoch : undefined });

  const outcome = await runCommand(plan, held.signal, (loss) => {
    say(
      `${loss.message}; ${plan.onLeaseLost === 'kill' ? 'stopping the command' : 'letting the command finish (--on-lease-lost continue)'}`,
    );
  });
  await held.stop();
  const command = { command_exit_code: outcome.code, command_signal: outcome.signal };
  if (outcome.cannotRun !== undefined) say(`cannot run ${plan.command[0]}: ${outcome.cannotRun}`);
  const finish = clients.finish();
  const report = jobOutcome(outcome, held.lost !== undefined && plan.onLeaseLost === 'kill');
  if (held.lost !== undefined) {
    // Fenced out: the outcome is recorded only as an ordinary change, which the service takes when no lease is live.
    const job_outcome = plan.job === undefined ? null : await recordOutcome(finish, id, plan.job, report, undefined, say);
    return summary({ ...command, job_outcome, session: 'lease_lost', exit_code: ExecExit.LeaseLost });
  }

  const status = outcome.status;
  const completing = plan.complete && status === 0;
  let job_outcome: ExecSummary['job_outcome'] = null;
  const lostAfter = (error: LeaseLostError, what: string): ExecSummary => {
    say(
      `lease on session ${id} lost: ${error.reason ?? 'expired'}${error.epoch === undefined ? '' : ` (epoch now ${error.epoch})`}; ${what}`,
    );
    return summary({ ...command, job_outcome, session: 'lease_lost', exit_code: ExecExit.LeaseLost });
  };
  try {
    if (plan.job !== undefined) job_outcome = await recordOutcome(finish, id, plan.job, report, epoch, say);
  } catch (error) {
    if (error instanceof LeaseLostError) {
      job_outcome = { ...report, recorded: false };
      return lostAfter(error, `job ${plan.job} was not recorded as ${report.state}`);
    }
    throw error;
  }
  try {
    if (completing) await finish.complete(id, { leaseEpoch: epoch });
    // Released now rather than left to expire, so that the next exec of this name resumes the session at once.
    else await finish.pause(id, { leaseEpoch: epoch });
  } catch (error) {
    if (error instanceof LeaseLostError) return lostAfter(error, `the session was not ${completing ? 'completed' : 'paused'}`);
    if (completing) throw error;
    say(
      `could not pause session ${id} after the command (${error instanceof Error ? error.message : String(error)}); its lease will run out instead`,
    );
    return summary({ ...command, job_outcome, session: 'left_to_expire', exit_code: status });
  }
  return summary({ ...command, job_outcome, session: completing ? 'completed' : 'paused', exit_code: status });
}

/** How the job ended: cancelled when exec stopped it for a lost lease, else as the command's exit code or signal says. */
function jobOutcome(outcome: Outcome, stoppedForLoss: boolean): JobOutcomeReport {
  if (stoppedForLoss) return { state: 'cancelled', exit_code: outcome.code, signal: outcome.signal };
  if (outcome.signal !== null) return { state: 'failed', exit_code: null, signal: outcome.signal };
  return outcome.status === 0
    ? { state: 'succeeded', exit_code: 0, signal: null }
    : { state: 'failed', exit_code: outcome.status, signal: null };
}

/**
 * Records the job's outcome, under the lease of `epoch` (undefined: fenced out, as an ordinary change). A lost lease
 * is thrown when an epoch was given; any other refusal is said on stderr and answered as not recorded.
 */
async function recordOutcome(
  client: SessionsClient,
  id: string,
  job: string,
  report: JobOutcomeReport,
  epoch: number | undefined,
  say: (line: string) => void,
): Promise<JobOutcomeReport & { recorded: boolean }> {
  try {
    await client.appendJob(id, job, {
      state: report.state,
      exitCode: report.exit_code ?? undefined,
      signal: report.signal ?? undefined,
      leaseEpoch: epoch,
    });
    return { ...report, recorded: true };
  } catch (error) {
    if (epoch !== undefined && error instanceof LeaseLostError) throw error;
    const why =
      error instanceof SessionsApiError && (error.code === 'lease_required' || error.code === 'lease_lost')
        ? 'another holder holds the lease now'
        : error instanceof Error
          ? error.message
          : String(error);
    say(`job ${job} was not recorded as ${report.state} (${why}); the session shows it as it last was`);
    return { ...report, recorded: false };
  }
}

/** The session exec runs under, and its lease: handed in (`--session`, `--epoch`: its expiry unknown yet), or taken by name. */
async function takeSession(client: SessionsClient, plan: ExecPlan): Promise<{ id: string; epoch: number; lease: Lease | undefined }> {
  if ('epoch' in plan.session) return { id: plan.session.id, epoch: plan.session.epoch, lease: undefined };
  const { session } = await takeByName(client, plan, plan.session);
  // takeByName answers only a session held under this exec's holder name.
  const lease = session.lease!;
  return { id: session.id, epoch: lease.epoch, lease };
}

/** The newest resumable session of the name, acquired; else a new one, held from its creation. */
async function takeByName(
  client: SessionsClient,
  plan: ExecPlan,
  { name, holder, idempotencyKey }: { name: string; holder: string; idempotencyKey: string },
): Promise<VersionedSession> {
  for await (const session of client.sessions({ name })) {
    if (session.status !== 'paused' && session.status !== 'active') continue;
    try {
      return await acquireOrAdopt(client, session.id, holder, plan.leaseSeconds);
    } catch (error) {
      if (error instanceof SessionsApiError && error.code === 'invalid_transition') continue;
      throw error;
    }
  }
  const created = await client.createSession({ name, idempotencyKey, leaseSeconds: plan.leaseSeconds, holder });
  if (heldBy(created.session, holder)) return created;
  if (!created.replayed)
    throw new SessionsApiError({
      code: 'unexpected_response',
      status: 201,
      message: 'the API opened the session without a lease: does it serve leases (v1.1)?',
    });
  return acquireOrAdopt(client, created.session.id, holder, plan.leaseSeconds);
}

/**
 * Acquires the lease; when the answer is lost, reads the session instead of asking again (a second acquire
 * would supersede the first): a live lease under this process's own holder name is the first one's.
 */
async function acquireOrAdopt(client: SessionsClient, id: string, holder: string, seconds: number): Promise<VersionedSession> {
  try {
    return await client.acquireLease(id, { holder, seconds });
  } catch (error) {
    if (!(error instanceof SessionsNetworkError)) throw error;
    const current = await client.getSession(id).catch(() => undefined);
    if (current !== undefined && heldBy(current.session, holder)) return current;
    throw error;
  }
}

function heldBy(session: Session, holder: string): boolean {
  const lease = session.lease;
  return lease != null && lease.holder === holder && lease.expires_at * 1000 > Date.now();
}

interface Outcome {
  /** The exit status to pass on: the command's, 128 + n after signal n, or 126/127 when it could not be started. */
  status: number;
  code: number | null;
  signal: string | null;
  /** Why the command could not be started. */
  cannotRun?: string | undefined;
}

/** Runs the command with this process's stdio, passing on SIGINT, SIGTERM and SIGHUP, and stopping it as told when `lost` aborts. */
function runCommand(plan: ExecPlan, lost: AbortSignal, onLoss: (loss: Error) => void): Promise<Outcome> {
  const [program, ...args] = plan.command;
  const located = locateProgram(program, process.env);
  if ('exit' in located) return Promise.resolve({ status: located.exit, code: null, signal: null, cannotRun: located.reason });
  return new Promise((resolve) => {
    const child =
      plan.setpriv === undefined
        ? spawn(located.path, args, { stdio: 'inherit', argv0: program })
        : spawn(plan.setpriv, ['--pdeathsig', 'SIGKILL', '--', located.path, ...args], { stdio: 'inherit' });
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    const whenLost = (): void => {
      onLoss(lost.reason as Error);
      if (plan.onLeaseLost !== 'kill') return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), plan.graceMs);
    };
    const cleanUp = (): void => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      lost.removeEventListener('abort', whenLost);
      clearTimeout(killTimer);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    if (lost.aborted) whenLost();
    else lost.addEventListener('abort', whenLost, { once: true });
    child.once('error', (error) => {
      cleanUp();
      const code = (error as NodeJS.ErrnoException).code;
      resolve({
        status: code === 'ENOENT' ? ExecExit.NotFound : ExecExit.NotRunnable,
        code: null,
        signal: null,
        cannotRun: error.message,
      });
    });
    child.once('exit', (code, signal) => {
      cleanUp();
      resolve({ status: code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)), code, signal });
    });
  });
}
