import * as z from '../../domain/zod.ts';
import { RENEWAL_PRUNE, RENEWAL_RENEW, SESSION_CHANGE, SESSION_READ, STATUS_MOVE } from '../route-access.ts';
import { LEASE_REFUSED, NOT_OWNER, route } from '../route-definition.ts';
import { createAcquireLeaseHandler } from '../routes/acquire-lease.ts';
import { createHeartbeatHandler } from '../routes/heartbeat.ts';
import {
  AcquireLeaseBodySchema,
  AcquireLeaseHeadersSchema,
  HeartbeatBodySchema,
  HeartbeatHeadersSchema,
  SessionPathSchema,
} from '../schemas.ts';

export const acquireLease = route({
  routeKey: 'POST /sessions/{id}/lease',
  id: 'AcquireLease',
  request: { path: SessionPathSchema, headers: AcquireLeaseHeadersSchema, body: z._default(AcquireLeaseBodySchema, {}) },
  docs: {
    operationId: 'acquireLease',
    summary: 'Acquire (or resume, or take over) the lease of a session',
    description:
      'Gives the caller a new lease of `seconds` (default 60) on the session, one epoch above the last, held by `holder` (default: the caller). ' +
      'A `paused` session becomes `active`: this is the resume. While a lease is live the acquire is refused with `lease_held`, whatever `holder` says, ' +
      'unless it carries that lease’s `Lease-Epoch` (its holder re-acquiring) or `force` is true: the old holder is then fenced out, and every change it still sends is refused with `lease_lost`. ' +
      'Not idempotent: each acquire issues a new epoch.',
    parameters: ['LeaseEpoch', 'Prefer'],
    body: { schema: 'AcquireLeaseRequest', description: 'Holder, length and force, all optional', required: false },
  },
  responses: { 200: { description: 'The session with its new lease', body: 'Session' } },
  errors: {
    400: 'InvalidRequest',
    403: NOT_OWNER,
    404: 'SessionNotFound',
    409: {
      description:
        '`lease_held`: a lease is live, the acquire does not carry its `Lease-Epoch` and `force` is not true (`details.holder`, `details.expires_at`); `invalid_transition`: the session is completed or terminated',
      codes: ['lease_held', 'invalid_transition'],
    },
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    503: 'ChangeUnavailable',
  },
  handler: createAcquireLeaseHandler,
  access: [
    SESSION_CHANGE,
    // The lapsed lease's record is read and fenced (If-Match); the new epoch's record is created; older epochs' deleted.
    RENEWAL_RENEW,
    RENEWAL_PRUNE,
    // A resume moves the session from paused to active.
    STATUS_MOVE,
  ],
});

export const heartbeat = route({
  routeKey: 'POST /sessions/{id}/heartbeat',
  id: 'Heartbeat',
  request: { path: SessionPathSchema, headers: HeartbeatHeadersSchema, body: z._default(HeartbeatBodySchema, {}) },
  docs: {
    operationId: 'heartbeat',
    summary: 'Keep a lease alive',
    description:
      'Extends the lease of epoch `Lease-Epoch` to now + `seconds` (default: its length) and answers only the lease. ' +
      'Heartbeats are not changes of the session: they never appear in its history and leave its ETag as it was.',
    parameters: ['HeartbeatLeaseEpoch'],
    body: { schema: 'HeartbeatRequest', description: 'An optional extension', required: false },
  },
  responses: { 200: { description: 'The lease, extended', body: 'LeaseRenewal' } },
  errors: {
    400: 'InvalidRequest',
    403: NOT_OWNER,
    404: 'SessionNotFound',
    409: LEASE_REFUSED,
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    428: { description: '`lease_required`: the heartbeat carries no `Lease-Epoch`', codes: ['lease_required'] },
    503: 'ChangeUnavailable',
  },
  handler: createHeartbeatHandler,
  // A heartbeat never writes the session: it reads it (on a cold instance) and writes the renewal record.
  access: [SESSION_READ, RENEWAL_RENEW],
});

/** The routes of this area, in the order the OpenAPI document lists them. */
export const LEASE_ROUTES = [acquireLease, heartbeat] as const;
