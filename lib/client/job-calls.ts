/**
 * The jobs side of `SessionsClient`: the request that appends a job (with how it runs or ended), and the counts of a
 * session's jobs by state.
 *
 * @module
 */

import { countJobs, type JobCounts } from '../domain/job-outcome.ts';
import type { Session } from './schemas.ts';
import { type Call, changeHeaders, definedFields, sessionPath } from './transport.ts';
import type { AppendJobOptions } from './types.ts';

/**
 * `POST /sessions/{id}/jobs`, with the job's state when given; `minimal` asks for the session's summary only
 * (`Prefer: return=minimal`). Safe to repeat: a job already there, or its final outcome again, changes nothing.
 */
export function appendJobCall(id: string, jobId: string, { state, exitCode, signal, ...change }: AppendJobOptions, minimal: boolean): Call {
  return {
    method: 'POST',
    path: `${sessionPath(id)}/jobs`,
    body: definedFields({ job_id: jobId, state, exit_code: exitCode, signal }),
    headers: { ...changeHeaders(change), ...(minimal ? { prefer: 'return=minimal' } : {}) },
    retryable: true,
  };
}

/** The session's `job_counts`, or, from a service that predates them, counted from its jobs. */
export function jobCountsOf(session: Session): JobCounts {
  return session.job_counts ?? countJobs(session.job_ids, session.jobs);
}
