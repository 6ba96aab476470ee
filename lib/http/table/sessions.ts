/**
 * Routes of the table: opening, listing and reading sessions.
 *
 * @module
 */

import { SESSIONS_PREFIX } from '../../domain/ids.ts';
import { RENEWALS_PREFIX } from '../../domain/lease.ts';
import * as z from '../../domain/zod.ts';
import { IDEMPOTENCY_PREFIX } from '../../sessions/idempotency.ts';
import { NAMES_PREFIX } from '../../sessions/name-index.ts';
import { STATUS_PREFIX } from '../../sessions/status-index.ts';
import {
  IDEMPOTENCY_OBJECTS,
  NAME_INDEX_OBJECTS,
  OWNER_ENTER,
  OWNER_LIST,
  RENEWAL_OBJECTS,
  RENEWAL_READ,
  SESSION_READ,
  STATUS_ENTER,
  STATUS_RECORD_READ,
} from '../route-access.ts';
import { route, STORAGE_UNAVAILABLE } from '../route-definition.ts';
import { createCreateSessionHandler } from '../routes/create-session.ts';
import { createGetSessionHandler } from '../routes/get-session.ts';
import { createListSessionsHandler } from '../routes/list-sessions.ts';
import { CreateSessionBodySchema, CreateSessionHeadersSchema, ListSessionsQuerySchema, SessionPathSchema } from '../schemas.ts';

export const createSession = route({
  routeKey: 'POST /sessions',
  id: 'CreateSession',
  request: { headers: CreateSessionHeadersSchema, body: z._default(CreateSessionBodySchema, {}) },
  docs: {
    operationId: 'createSession',
    summary: 'Open a session',
    description:
      'Creates an active session with no jobs; with `lease_seconds`, held by `holder` (default: the caller) under a lease of epoch 1. ' +
      'Without `Idempotency-Key` a repeated request opens another session. With it, the first request answers 201 and every repeat of the key by the same caller ' +
      '(same body) within the window (a day by default) answers 200 with the session the first one opened, as it now stands, marked `Idempotent-Replayed: true`; ' +
      'a repeat whose first request stopped half-way finishes creating that very session. The same key with another body is refused with 400.',
    parameters: ['IdempotencyKey', 'Prefer'],
    body: {
      schema: 'CreateSessionRequest',
      description: 'An optional name and lease; an empty body is the same as `{}`.',
      required: false,
    },
  },
  responses: {
    200: {
      description: 'A repeat of an `Idempotency-Key`: the session its first request opened, as it now stands',
      body: 'Session',
      headers: ['Location', 'Idempotent-Replayed'],
    },
    201: { description: 'The new session', body: 'Session', headers: ['Location'] },
  },
  errors: {
    400: 'InvalidRequest',
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    503: {
      description:
        '`storage_unavailable`: storage is throttling or failing; `conflict_retry`: the idempotency record of the key kept changing under concurrent requests. Retry after `Retry-After` seconds, with the same `Idempotency-Key`.',
      codes: ['conflict_retry', 'storage_unavailable'],
      headers: ['Retry-After'],
    },
  },
  handler: createCreateSessionHandler,
  access: [
    // A repeated Idempotency-Key reads the recorded session, which may not exist yet (its first request stopped short).
    { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], writes: ['create'], tellsMissingKeys: true },
    { prefix: NAMES_PREFIX, writes: ['create'], objectNames: NAME_INDEX_OBJECTS },
    // A first use of a key reads no record; an expired record is replaced (If-Match).
    {
      prefix: IDEMPOTENCY_PREFIX,
      objectActions: ['s3:GetObject'],
      writes: ['create', 'replace'],
      tellsMissingKeys: true,
      objectNames: IDEMPOTENCY_OBJECTS,
    },
    // A session opened held gets its first renewal record, so that its first heartbeat is one request.
    { bucket: 'leases', prefix: RENEWALS_PREFIX, writes: ['create'], objectNames: RENEWAL_OBJECTS },
    STATUS_ENTER,
    OWNER_ENTER,
  ],
});

export const listSessions = route({
  routeKey: 'GET /sessions',
  id: 'ListSessions',
  request: { query: ListSessionsQuerySchema },
  docs: {
    operationId: 'listSessions',
    summary: 'List sessions, newest first',
    description:
      'A page of sessions, newest first. Pass `next_cursor` back as `cursor` for the next page; it is null on the last. Unknown query parameters are refused with 400. ' +
      'With `name`, only the sessions with exactly that name, at a cost that grows with their number, not with all stored sessions. ' +
      "With `owner=me`, only the caller's own sessions, at a cost that grows with the page. A stack whose readers are `owner` lists only the caller's own sessions to anyone but an operator; " +
      'sessions stored before owners are listed to operators (and, under readers `account`, to everyone), never under `owner=me`.',
    parameters: ['Limit', 'Cursor', 'Status', 'Name', 'Owner'],
  },
  responses: { 200: { description: 'A page of sessions', body: 'SessionList' } },
  errors: { 400: 'InvalidRequest', 503: STORAGE_UNAVAILABLE },
  handler: createListSessionsHandler,
  access: [
    // A name index entry may name a session that was never written (an interrupted create): its read must answer 404.
    { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], listActions: ['s3:ListBucket'], tellsMissingKeys: true },
    // Index entries are listed (the entries of one name at a time), never read: the session ID is in the key.
    { prefix: NAMES_PREFIX, listActions: ['s3:ListBucket'], listedPrefix: `${NAMES_PREFIX}*/` },
    // With a status: the backfill record says whether the index is complete; then one status's entries are listed.
    STATUS_RECORD_READ,
    { bucket: 'leases', prefix: STATUS_PREFIX, listActions: ['s3:ListBucket'], listedPrefix: `${STATUS_PREFIX}*/` },
    // With owner=me (or readers: owner), one owner's index entries are listed.
    OWNER_LIST,
    // A held session's lease is shown with the expiry its heartbeats extended it to.
    RENEWAL_READ,
  ],
});

export const getSession = route({
  routeKey: 'GET /sessions/{id}',
  id: 'GetSession',
  request: { path: SessionPathSchema },
  docs: {
    operationId: 'getSession',
    summary: 'Read a session',
    description:
      "A stack whose readers are `owner` answers 404 for another owner's session to anyone but an operator, as if there were none.",
  },
  responses: { 200: { description: 'The session', body: 'Session' } },
  errors: { 400: 'InvalidRequest', 404: 'SessionNotFound', 503: STORAGE_UNAVAILABLE },
  handler: createGetSessionHandler,
  access: [SESSION_READ, RENEWAL_READ],
});

/** The routes of this area, in the order the OpenAPI document lists them. */
export const SESSION_ROUTES = [createSession, listSessions, getSession] as const;
