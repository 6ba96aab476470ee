import { sessionResponse } from '../responses.ts';
import type { RouteDependencies, RouteHandler } from '../route.ts';

/** The input `POST /sessions/{id}/jobs` works on, once its schemas have validated it. */
export interface AddJobInput {
  path: { id: string };
  headers: { 'if-match'?: string | undefined; 'lease-epoch'?: number | undefined };
  body: { job_id: string };
}

/** `POST /sessions/{id}/jobs`: appends a job ID; a job already present leaves the session unchanged. */
export function createAddJobHandler({ repository }: RouteDependencies): RouteHandler<AddJobInput> {
  return async ({ path, headers, body }, caller) => {
    const result = await repository.addJob(path.id, body.job_id, {
      ifMatch: headers['if-match'],
      leaseEpoch: headers['lease-epoch'],
      actor: caller.actor,
      caller,
    });
    return sessionResponse(200, result);
  };
}
