import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:os';
import type { Session } from '../domain/session.ts';
import type { SessionsClient, VersionedSession } from './client.ts';
import { LeaseLostError, SessionsApiError, SessionsNetworkError } from './errors.ts';

/** What `runner-sessions exec` was asked to do. */
export interface ExecPlan {
  name: string;
  leaseSeconds: number;
  holder: string;
  /** Sent with the create when no session of the name can be resumed, so that a retried create opens only one. */
  idempotencyKey: string;
  job: string | undefined;
  complete: boolean;
  onLeaseLost: 'kill' | 'continue';
  /** How long the command has to exit after SIGTERM before it is sent SIGKILL. */
  graceMs: number;
  /** The program and its arguments. */
  command: [string, ...string[]];
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

/** Exit status of `exec` when the lease was lost while the command ran (EX_TEMPFAIL: try again later). */
export const LEASE_LOST_EXIT = 75;
/** Exit status when the command cannot be started (as a shell says it). */
export const CANNOT_RUN_EXIT = 127;

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The `Idempotency-Key` of the create `exec` sends: the same name, host and invocation give the same
 * key, so a rerun of one invocation after a lost answer finds the session it opened.
 */
export function execIdempotencyKey(name: string, host: string, invocation: string): string {
  return `exec-${createHash('sha256').update(`${name}\n${host}\n${invocation}`).digest('hex')}`;
}

/**
 * Runs `plan.command` while holding the lease of the session named `plan.name` (resumed, or created held),
 * and resolves to the exit status: the command's own (128 + n for signal n), `LEASE_LOST_EXIT` when the
 * lease was lost meanwhile, `CANNOT_RUN_EXIT` when the command could not be started.
 */
export async function execUnderLease(plan: ExecPlan, clients: ExecClients, stderr: { write(text: string): unknown }): Promise<number> {
  const say = (line: string): void => void stderr.write(`runner-sessions: ${line}\n`);
  const { session } = await takeSession(clients.setup, plan);
  const id = session.id;
  const epoch = session.lease!.epoch;
  let lease = session.lease!;
  // The append answers small (Prefer: return=minimal): a job script never needs the session's whole job list.
  if (plan.job !== undefined) lease = (await clients.setup.appendJob(id, plan.job, { leaseEpoch: epoch })).summary.lease ?? lease;
  const held = await clients.keeper.holdLease(id, { seconds: plan.leaseSeconds, lease });

  const outcome = await runCommand(plan, held.signal, (loss) => {
    say(
      `${loss.message}; ${plan.onLeaseLost === 'kill' ? 'stopping the command' : 'letting the command finish (--on-lease-lost continue)'}`,
    );
  });
  await held.stop();
  if (outcome.cannotRun !== undefined) say(`cannot run ${plan.command[0]}: ${outcome.cannotRun.message}`);
  if (held.lost !== undefined) return LEASE_LOST_EXIT;

  const status = outcome.status;
  const finish = clients.finish();
  try {
    if (plan.complete && status === 0) await finish.complete(id, { leaseEpoch: epoch });
    // Released now rather than left to expire, so that the next exec of this name resumes the session at once.
    else await finish.pause(id, { leaseEpoch: epoch });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      say(
        `lease on session ${id} lost: ${error.reason ?? 'expired'}${error.epoch === undefined ? '' : ` (epoch now ${error.epoch})`}; the session was not ${plan.complete && status === 0 ? 'completed' : 'paused'}`,
      );
      return LEASE_LOST_EXIT;
    }
    if (plan.complete && status === 0) throw error;
    say(
      `could not pause session ${id} after the command (${error instanceof Error ? error.message : String(error)}); its lease will run out instead`,
    );
  }
  return status;
}

/** The newest resumable session of the name, acquired; else a new one, held from its creation. */
async function takeSession(client: SessionsClient, plan: ExecPlan): Promise<VersionedSession> {
  for await (const session of client.sessions({ name: plan.name })) {
    if (session.status !== 'paused' && session.status !== 'active') continue;
    try {
      return await acquireOrAdopt(client, session.id, plan);
    } catch (error) {
      if (error instanceof SessionsApiError && error.code === 'invalid_transition') continue;
      throw error;
    }
  }
  const created = await client.createSession({
    name: plan.name,
    idempotencyKey: plan.idempotencyKey,
    leaseSeconds: plan.leaseSeconds,
    holder: plan.holder,
  });
  if (heldBy(created.session, plan.holder)) return created;
  if (!created.replayed)
    throw new SessionsApiError({
      code: 'unexpected_response',
      status: 201,
      message: 'the API opened the session without a lease: does it serve leases (v1.1)?',
    });
  return acquireOrAdopt(client, created.session.id, plan);
}

/**
 * Acquires the lease; when the answer is lost, reads the session instead of asking again (a second acquire
 * would supersede the first): a live lease under this process's own holder name is the first one's.
 */
async function acquireOrAdopt(client: SessionsClient, id: string, plan: ExecPlan): Promise<VersionedSession> {
  try {
    return await client.acquireLease(id, { holder: plan.holder, seconds: plan.leaseSeconds });
  } catch (error) {
    if (!(error instanceof SessionsNetworkError)) throw error;
    const current = await client.getSession(id).catch(() => undefined);
    if (current !== undefined && heldBy(current.session, plan.holder)) return current;
    throw error;
  }
}

function heldBy(session: Session, holder: string): boolean {
  const lease = session.lease;
  return lease != null && lease.holder === holder && lease.expires_at * 1000 > Date.now();
}

interface Outcome {
  /** The exit status to pass on: the command's, 128 + n after signal n, or `CANNOT_RUN_EXIT`. */
  status: number;
  cannotRun?: Error | undefined;
}

/** Runs the command with this process's stdio, passing on SIGINT, SIGTERM and SIGHUP, and stopping it as told when `lost` aborts. */
function runCommand(plan: ExecPlan, lost: AbortSignal, onLoss: (loss: Error) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const [program, ...args] = plan.command;
    const child = spawn(program, args, { stdio: 'inherit' });
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
      resolve({ status: CANNOT_RUN_EXIT, cannotRun: error });
    });
    child.once('exit', (code, signal) => {
      cleanUp();
      resolve({ status: code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)) });
    });
  });
}
