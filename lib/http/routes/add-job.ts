import type { JobState } from '../../domain/job-outcome.ts';
import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/jobs` works on, once its schemas have validated it. */
export interface AddJobInput {
  path: { id: string };
  headers: { 'if-match'?: string | undefined; 'lease-epoch'?: number | undefined };
  body: { job_id: string; state?: JobState | undefined; exit_code?: number | undefined; signal?: string | undefined };
}

/** `POST /sessions/{id}/jobs`: appends a job ID and records its state when one is sent; a repeat leaves the session unchanged. */
export function createAddJobHandler({ repository }: RouteDependencies): RouteHandler<AddJobInput> {
  return async ({ path, headers, body }, { actor }) => {
    const result = await repository.addJob(path.id, body.job_id, {
      ifMatch: headers['if-match'],
      leaseEpoch: headers['lease-epoch'],
      actor,
      state: body.state,
      exitCode: body.exit_code,
      signal: body.signal,
    });
    return sessionResponse(200, result);
  };
}
