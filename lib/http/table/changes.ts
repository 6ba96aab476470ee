import { RENEWAL_PRUNE, RENEWAL_READ, SESSION_CHANGE, SESSION_END, STATUS_MOVE } from '../route-access.ts';
import { LEASE_REFUSED, LEASE_REQUIRED, route } from '../route-definition.ts';
import { createAddJobHandler } from '../routes/add-job.ts';
import { createSetStatusHandler } from '../routes/set-status.ts';
import { AddJobBodySchema, ChangeHeadersSchema, SessionPathSchema, SetStatusBodySchema } from '../schemas.ts';

export const setStatus = route({
  routeKey: 'PATCH /sessions/{id}',
  id: 'SetStatus',
  request: { path: SessionPathSchema, headers: ChangeHeadersSchema, body: SetStatusBodySchema },
  docs: {
    operationId: 'setStatus',
    summary: 'Change the status of a session',
    description:
      'Moves the session along the status machine: `active ⇄ paused`, either of them → `completed` | `terminated` (final). ' +
      'Setting the status the session already has is a no-op (200). Idempotent. ' +
      'A change to `paused`, `completed` or `terminated` releases the lease. While a lease is live the change must carry its `Lease-Epoch`.',
    parameters: ['IfMatch', 'LeaseEpoch', 'Prefer'],
    body: { schema: 'SetStatusRequest', description: 'The new status' },
  },
  responses: { 200: { description: 'The session in its new status', body: 'Session' } },
  errors: {
    400: 'InvalidRequest',
    404: 'SessionNotFound',
    409: {
      description: `\`invalid_transition\`: the status machine does not allow this change (\`details.from\`, \`details.to\`); ${LEASE_REFUSED.description}`,
      codes: ['invalid_transition', 'lease_lost'],
    },
    412: 'PreconditionFailed',
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    428: LEASE_REQUIRED,
    503: 'ChangeUnavailable',
  },
  handler: createSetStatusHandler,
  // The renewal record is read when the session's own expiry passed (heartbeats may have kept the lease alive); a release deletes it.
  access: [SESSION_CHANGE, SESSION_END, RENEWAL_READ, RENEWAL_PRUNE, STATUS_MOVE],
});

export const addJob = route({
  routeKey: 'POST /sessions/{id}/jobs',
  id: 'AddJob',
  request: { path: SessionPathSchema, headers: ChangeHeadersSchema, body: AddJobBodySchema },
  docs: {
    operationId: 'addJob',
    summary: 'Append a job ID, or record how a job stands',
    description:
      'Appends the job ID to an active session. A job ID already in the session leaves it unchanged (200): the call is idempotent by `job_id`. ' +
      'With `state`, records how the job stands in `jobs` (and `job_counts`): `running`, or a final state (`succeeded`, `failed`, `cancelled`) ' +
      "with an optional `exit_code` and `signal`; absent → running → final, or absent → final in one write. Times are the server's. " +
      'The same final outcome again is a no-op (200); another one, or `running` for a finished job, is 409 `job_finished`. ' +
      "While a lease is live the change must carry its `Lease-Epoch`; the holder's accepted append extends the lease by its length.",
    parameters: ['IfMatch', 'LeaseEpoch', 'Prefer'],
    body: { schema: 'AddJobRequest', description: 'The job to append, and optionally its state' },
  },
  responses: {
    200: { description: 'The session with the job appended or its state recorded (or unchanged when it already was)', body: 'Session' },
  },
  errors: {
    400: 'InvalidRequest',
    404: 'SessionNotFound',
    409: {
      description:
        '`session_not_active`: the session is not active (`details.status`); `session_full`: it already holds the maximum number of jobs (`details.max_jobs`); ' +
        '`job_finished`: the job has finished with another outcome, or is reported running after it finished (`details`: the recorded outcome); ' +
        LEASE_REFUSED.description,
      codes: ['session_not_active', 'session_full', 'job_finished', 'lease_lost'],
    },
    412: 'PreconditionFailed',
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    428: LEASE_REQUIRED,
    503: 'ChangeUnavailable',
  },
  handler: createAddJobHandler,
  access: [SESSION_CHANGE, RENEWAL_READ],
});

/** The routes of this area, in the order the OpenAPI document lists them. */
export const CHANGE_ROUTES = [setStatus, addJob] as const;
