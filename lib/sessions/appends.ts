/**
 * Appending job IDs and recording how jobs ended (`POST /sessions/{id}/jobs`).
 * Appends to one session by one actor that arrive while a write of it is
 * under way share its next write (group commit, lib/common/group-commit.ts):
 * one compare-and-swap for the batch, each append judged on its own.
 *
 * @module
 */

import { type BatchOutcome, KeyedBatches } from '../common/group-commit.ts';
import { JobFinished, SessionFull, SessionNotActive } from '../domain/errors.ts';
import { hasJob, type JobOutcomes, withJob, withOutcome } from '../domain/job-list.ts';
import { countsAfter, type JobReport, planJobChange, recordedOutcome } from '../domain/job-outcome.ts';
import { extendLease, fence } from '../domain/lease.ts';
import { type Session, withJobCounts } from '../domain/session.ts';
import { changeSession } from './change.ts';
import { type ChangeResult, nowSeconds, renewalFor, requireId, type SessionChangeOptions, type SessionsContext } from './context.ts';

/** An append waiting for its session's next write. */
interface PendingAppend {
  id: string;
  jobId: string;
  report: JobReport;
  leaseEpoch: number | undefined;
  actor: string | undefined;
}

/** How an append is made: as any change, and with what the caller reports of the job (its state, exit code, signal). */
export interface AddJobOptions extends SessionChangeOptions, JobReport {}

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
   * Appends a job ID, and records its state when one is reported
   * (lib/domain/job-outcome.ts). Idempotent: a job already in the session,
   * reported as recorded, changes nothing and writes nothing.
   * @throws SessionNotActive, SessionFull, JobFinished, LeaseRequired, LeaseLost, PreconditionFailed, ConflictRetry
   */
  add(id: string, jobId: string, options: AddJobOptions = {}): Promise<ChangeResult> {
    const checked = requireId(id);
    const { leaseEpoch, actor, state, exitCode, signal } = options;
    const report: JobReport = { state, exitCode, signal };
    // An append conditioned on one version cannot share a write with others.
    if (options.ifMatch !== undefined) {
      return changeSession(
        this.#context,
        checked,
        options,
        async (session) => (await appendJobs(this.#context, session, [{ jobId, report, leaseEpoch }])).next,
      );
    }
    return this.#batches.submit(`${checked}\u0000${actor ?? ''}`, { id: checked, jobId, report, leaseEpoch, actor });
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
  const [{ id, actor }] = appends as [PendingAppend, ...PendingAppend[]];
  let judged: AppendJudgement[] = [];
  const result = await changeSession(context, id, { actor }, async (session) => {
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
  appends: readonly Pick<PendingAppend, 'jobId' | 'report' | 'leaseEpoch'>[],
): Promise<{ next: Session | undefined; outcomes: AppendJudgement[] }> {
  const maxJobs = context.config.maxJobsPerSession;
  const renewal = await renewalFor(context, session);
  const now = nowSeconds(context);
  let jobIds = session.job_ids;
  let jobs = session.jobs;
  let counts = withJobCounts(session).job_counts;
  // The outcomes this write records: what events and history name (lib/domain/events.ts).
  let recorded: JobOutcomes | undefined;
  let holder = false;
  const outcomes = appends.map(({ jobId, report, leaseEpoch }): AppendJudgement => {
    try {
      const authority = fence(session, renewal, leaseEpoch, now);
      const before = recordedOutcome(jobs, jobId);
      const change = planJobChange(hasJob(jobIds, jobId), before, report, now);
      if (change.kind === 'unchanged') return { appended: false };
      if (change.kind === 'finished') throw new JobFinished(session.id, jobId, change.recorded);
      if (session.status !== 'active') throw new SessionNotActive(session.id, session.status);
      if (change.kind === 'append') {
        if (jobIds.length >= maxJobs) throw new SessionFull(session.id, maxJobs);
        jobIds = withJob(jobIds, jobId);
      }
      if (change.outcome !== undefined) {
        jobs = withOutcome(jobs, jobId, change.outcome);
        recorded = { ...recorded, [jobId]: change.outcome };
      }
      counts = countsAfter(counts, change, before);
      holder ||= authority === 'holder';
      return { appended: true };
    } catch (refusal) {
      return { appended: false, refusal };
    }
  });
  if (jobIds === session.job_ids && jobs === session.jobs) {
    // Nothing to write: a lone append's refusal is thrown, so that a remembered version is confirmed by a fresh read.
    const refused = outcomes.find((outcome) => outcome.refusal !== undefined);
    if (appends.length === 1 && refused !== undefined) throw refused.refusal;
    return { next: undefined, outcomes };
  }
  const next = withJobFields({ ...session, job_ids: jobIds }, jobs, counts, recorded);
  // The holder's accepted change keeps its lease alive, as a heartbeat would.
  return { next: holder ? { ...next, lease: extendLease(session.lease!, now) } : next, outcomes };
}

/**
 * `session` with its outcomes, counts and the outcomes this write recorded. A write that records outcomes lays
 * them out as `jobs`, `job_counts`, `last_jobs`, last and in that order, which is how events find and skip `jobs`
 * without parsing it; one that only appends keeps every field where it was.
 */
function withJobFields(
  session: Session,
  jobs: JobOutcomes | undefined,
  counts: Session['job_counts'],
  recorded: JobOutcomes | undefined,
): Session {
  if (recorded === undefined) return { ...session, job_counts: counts };
  const { jobs: _jobs, job_counts: _counts, last_jobs: _last, ...rest } = session;
  return { ...rest, jobs: jobs as Session['jobs'], job_counts: counts, last_jobs: recorded as Session['last_jobs'] };
}
