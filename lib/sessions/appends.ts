/**
 * Appending job IDs (`POST /sessions/{id}/jobs`). Appends to one session by
 * one actor that arrive while a write of it is under way share its next write
 * (group commit, lib/common/group-commit.ts): one compare-and-swap for the
 * batch, each append judged on its own.
 *
 * @module
 */

import { type BatchOutcome, KeyedBatches } from '../common/group-commit.ts';
import { SessionFull, SessionNotActive } from '../domain/errors.ts';
import { hasJob, withJob } from '../domain/job-list.ts';
import { extendLease, fence } from '../domain/lease.ts';
import type { Caller } from '../domain/owner.ts';
import type { Session } from '../domain/session.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, nowSeconds, renewalFor, requireId, type SessionChangeOptions, type SessionsContext } from './context.ts';

/** An append waiting for its session's next write. */
interface PendingAppend {
  id: string;
  jobId: string;
  leaseEpoch: number | undefined;
  actor: string | undefined;
  caller: Caller | undefined;
}

/** How one append of a batch fared. */
interface AppendJudgement {
  appended: boolean;
  refusal?: unknown;
}

/** The appends of one repository: batches per session and actor. */
export class JobAppends {
  readonly #context: SessionsContext;
  readonly #batches: KeyedBatches<PendingAppend, ChangeResult>;

  constructor(context: SessionsContext) {
    this.#context = context;
    this.#batches = new KeyedBatches((_key, appends) => appendBatch(context, appends));
  }

  /**
   * Appends a job ID. Idempotent: a job already in the session changes
   * nothing and writes nothing.
   * @throws SessionNotActive, SessionFull, LeaseRequired, LeaseLost, PreconditionFailed, ConflictRetry
   */
  add(id: string, jobId: string, options: SessionChangeOptions = {}): Promise<ChangeResult> {
    const checked = requireId(id);
    const { leaseEpoch, actor, caller } = options;
    // An append conditioned on one version cannot share a write with others.
    if (options.ifMatch !== undefined) {
      return changeSession(
        this.#context,
        checked,
        options,
        async (session) => (await appendJobs(this.#context, session, [{ jobId, leaseEpoch }])).next,
      );
    }
    // One batch per caller as well: the ownership check of its write is the caller's.
    const whose = caller === undefined ? '' : `${caller.owner}\u0000${caller.operator}`;
    return this.#batches.submit(`${checked}\u0000${actor ?? ''}\u0000${whose}`, { id: checked, jobId, leaseEpoch, actor, caller });
  }
}

/**
 * One compare-and-swap for a batch of appends to one session by one actor:
 * each append is judged on its own (fencing, status, room), in the order
 * they arrived, and those accepted are written together. An append refused
 * counts as refused only once the batch's version was current: when the
 * write lands, or when nothing needed writing on a fresh read.
 */
async function appendBatch(context: SessionsContext, appends: PendingAppend[]): Promise<BatchOutcome<ChangeResult>[]> {
  const [{ id, actor, caller }] = appends as [PendingAppend, ...PendingAppend[]];
  let judged: AppendJudgement[] = [];
  const result = await changeSession(context, id, { actor, caller }, async (session) => {
    const { next, outcomes } = await appendJobs(context, session, appends);
    judged = outcomes;
    return next;
  });
  return judged.map((outcome) =>
    outcome.refusal !== undefined ? { error: outcome.refusal } : { result: { ...result, changed: outcome.appended } },
  );
}

/** The session with `appends` applied, and how each fared. */
async function appendJobs(
  context: SessionsContext,
  session: Session,
  appends: readonly Pick<PendingAppend, 'jobId' | 'leaseEpoch'>[],
): Promise<{ next: Session | undefined; outcomes: AppendJudgement[] }> {
  const maxJobs = context.config.maxJobsPerSession;
  const renewal = await renewalFor(context, session);
  const now = nowSeconds(context);
  let next = session;
  let holder = false;
  const outcomes = appends.map(({ jobId, leaseEpoch }): AppendJudgement => {
    try {
      const authority = fence(session, renewal, leaseEpoch, now);
      if (hasJob(next.job_ids, jobId)) return { appended: false };
      if (next.status !== 'active') throw new SessionNotActive(next.id, next.status);
      if (next.job_ids.length >= maxJobs) throw new SessionFull(next.id, maxJobs);
      next = { ...next, job_ids: withJob(next.job_ids, jobId) };
      holder ||= authority === 'holder';
      return { appended: true };
    } catch (refusal) {
      return { appended: false, refusal };
    }
  });
  if (next === session) {
    // Nothing to write: a lone append's refusal is thrown, so that a remembered version is confirmed by a fresh read.
    const refused = outcomes.find((outcome) => outcome.refusal !== undefined);
    if (appends.length === 1 && refused !== undefined) throw refused.refusal;
    return { next: undefined, outcomes };
  }
  // The holder's accepted change keeps its lease alive, as a heartbeat would.
  return { next: holder ? { ...next, lease: extendLease(session.lease!, now) } : next, outcomes };
}
