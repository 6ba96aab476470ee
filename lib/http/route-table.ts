/**
 * The route table of the HTTP API: the one place a route is defined. Each
 * entry names its route key, the construct ID of its function, the schemas
 * its request is validated against, the answers it documents, its handler
 * factory and the only S3 access its function needs. The Lambda entries
 * (`functions/<entry>.ts`), the local server, the CDK app and the OpenAPI
 * document all read it.
 *
 * @module
 */

import type { ErrorCode } from '../domain/errors.ts';
import { SESSIONS_PREFIX } from '../domain/ids.ts';
import { RENEWALS_PREFIX } from '../domain/lease.ts';
import { ENDED_TAG } from '../domain/retention.ts';
import * as z from '../domain/zod.ts';
import { IDEMPOTENCY_PREFIX } from '../sessions/idempotency.ts';
import { NAMES_PREFIX } from '../sessions/name-index.ts';
import { INDEXES_PREFIX, STATUS_INDEXED_KEY, STATUS_PREFIX } from '../sessions/status-index.ts';
import { type HttpHandler, httpRoute, type RouteDependencies, type RouteHandler } from './route.ts';
import { createAcquireLeaseHandler } from './routes/acquire-lease.ts';
import { createAddJobHandler } from './routes/add-job.ts';
import { createCreateSessionHandler } from './routes/create-session.ts';
import { createGetSessionHandler } from './routes/get-session.ts';
import { createHeartbeatHandler } from './routes/heartbeat.ts';
import { createListSessionsHandler } from './routes/list-sessions.ts';
import { createRestoreSessionHandler } from './routes/restore-session.ts';
import { createSessionHistoryHandler } from './routes/session-history.ts';
import { createSetStatusHandler } from './routes/set-status.ts';
import {
  AcquireLeaseBodySchema,
  AddJobBodySchema,
  ChangeHeadersSchema,
  CreateSessionBodySchema,
  CreateSessionHeadersSchema,
  HeartbeatBodySchema,
  HeartbeatHeadersSchema,
  IfMatchHeadersSchema,
  ListSessionsQuerySchema,
  RestoreSessionBodySchema,
  SessionHistoryQuerySchema,
  SessionPathSchema,
  SetStatusBodySchema,
} from './schemas.ts';
import type { RequestInput, RequestSchemas } from './validation.ts';

/** An HTTP method of a route key. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A bucket of the service, by what it holds: `sessions` (versioned) or `leases` (lease renewal records, unversioned). */
export type AccessBucket = 'sessions' | 'leases';

/**
 * How a route writes under a prefix, each granted as `s3:PutObject` only for
 * requests that carry exactly that condition header (S3 sets the condition key
 * only when the header is present): `create` with `If-None-Match` (a new key),
 * `replace` with `If-Match` (a compare-and-swap of the version read).
 */
export type WriteKind = 'create' | 'replace';

/**
 * S3 access confined to one key prefix of one bucket. Object actions and
 * writes are granted on `<bucket>/<prefix>*`; listing actions on the bucket,
 * only for requests whose `s3:prefix` matches `listedPrefix`. Nothing lists or
 * writes the whole bucket, and no grant holds an unconditioned `s3:ListBucket`.
 */
export interface PrefixAccess {
  /** The bucket the prefix lies in. Default: `sessions`. */
  readonly bucket?: AccessBucket;
  /** The key prefix, ending in `/`. */
  readonly prefix: string;
  /**
   * The keys the route reads or probes under `prefix`, as an IAM wildcard
   * pattern (the `s3:prefix` of a key probe or of one key's version listing).
   * Default: `<prefix>*.json`.
   */
  readonly keys?: string;
  /** Object-level actions other than writes, such as `s3:GetObject`; never a wildcard, never `s3:PutObject`. */
  readonly objectActions?: readonly string[];
  /** The conditional writes the route makes; each is its own `s3:PutObject` grant, conditioned on its header. */
  readonly writes?: readonly WriteKind[];
  /** Bucket-level listing actions such as `s3:ListBucket`; never a wildcard. */
  readonly listActions?: readonly string[];
  /**
   * The `s3:prefix` those listings name, as an IAM wildcard pattern under
   * `prefix` (one name's index entries, or `keys` for one key's versions).
   * Default: exactly `prefix`, the whole prefix.
   */
  readonly listedPrefix?: string;
  /**
   * Reading a missing key must answer "missing", not "denied". S3 answers
   * 403 AccessDenied for a missing key to a caller without an unconditioned
   * `s3:ListBucket` (a GetObject carries no `s3:prefix` a condition could
   * match); the store then lists exactly that key once to tell the two apart.
   * This grants `s3:ListBucket` for an `s3:prefix` matching `keys`, and nothing more.
   */
  readonly tellsMissingKeys?: boolean;
  /**
   * The only tags the tagging actions in `objectActions` may set (`s3:PutObjectTagging`, which a write's `Tagging`
   * needs too, and `s3:PutObjectVersionTagging`: only requests setting exactly these) or remove
   * (`s3:DeleteObjectVersionTagging`: only from objects carrying these).
   */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * How the objects under `prefix` are named, for the cdk-nag acknowledgement
   * of the object wildcard. Default: one object per session, named by its random ID.
   */
  readonly objectNames?: string;
}

/** A response header the API documents by name. */
export type DocumentedHeader = 'Location' | 'Idempotent-Replayed' | 'Retry-After';

/** A success answer: its body schema (by component name) and the headers it adds. */
export interface SuccessResponse {
  readonly description: string;
  /** `Session` answers carry the session's `ETag` too. */
  readonly body: 'Session' | 'SessionList' | 'SessionHistory' | 'LeaseRenewal';
  readonly headers?: readonly DocumentedHeader[];
}

/** An error answer shared by several routes, documented once. */
export type SharedErrorResponse =
  | 'InvalidRequest'
  | 'SessionNotFound'
  | 'VersioningDisabled'
  | 'PreconditionFailed'
  | 'PayloadTooLarge'
  | 'UnsupportedMediaType'
  | 'ChangeUnavailable';

/** An error answer of one route: the codes it may carry (all of one status). */
export interface RouteErrorResponse {
  readonly description: string;
  readonly codes: readonly ErrorCode[];
  readonly headers?: readonly DocumentedHeader[];
}

/** How a route appears in the OpenAPI document. */
export interface RouteDocumentation {
  readonly operationId: string;
  readonly summary: string;
  /** Routes with a body get the body limits appended. */
  readonly description?: string;
  /** Parameters besides the path's, by component name (`IfMatch`, `Limit`…). */
  readonly parameters?: readonly string[];
  /** The request body's schema, by component name. */
  readonly body?: { readonly schema: string; readonly description: string; readonly required?: boolean };
}

/** One route of the API, typed by its request schemas. */
export interface RouteDefinition<S extends RequestSchemas = RequestSchemas> {
  /** `METHOD /path/{param}`, as API Gateway declares it. */
  readonly routeKey: `${RouteMethod} /${string}`;
  /** Construct ID of the route's function, e.g. `GetSession`; its Lambda entry is `functions/get-session.ts`. */
  readonly id: string;
  readonly request: S;
  readonly docs: RouteDocumentation;
  /** Success answers by status. */
  readonly responses: Readonly<Record<number, SuccessResponse>>;
  /** Error answers by status, besides 403, 429 and 500 that every route can give. */
  readonly errors: Readonly<Record<number, SharedErrorResponse | RouteErrorResponse>>;
  /** Builds the route's work over its dependencies. */
  readonly handler: (dependencies: RouteDependencies) => RouteHandler<RequestInput<S>>;
  /** The only S3 access the route's function gets. */
  readonly access: readonly PrefixAccess[];
}

/**
 * A route of the table, its request types erased: its request schemas as
 * schemas, and instead of its typed handler factory the Lambda handler built
 * from it (`serve`), which checks the request against those very schemas.
 */
export interface ApiRoute extends Omit<RouteDefinition, 'handler'> {
  /** The route's Lambda handler over `dependencies`: its work behind the middleware chain every route shares. */
  readonly serve: (dependencies: RouteDependencies) => HttpHandler;
}

/** A route key and operation ID kept as literals, so that the table's readers can be typed from it. */
type NamedRoute<S extends RequestSchemas, K extends string, O extends string> = RouteDefinition<S> & {
  readonly routeKey: K;
  readonly docs: RouteDocumentation & { readonly operationId: O };
};

/** Checks an entry's handler against its schemas, keeping its route key and operation ID as literal types, and gives it `serve`. */
function route<S extends RequestSchemas, const K extends RouteDefinition['routeKey'], const O extends string>(
  definition: NamedRoute<S, K, O>,
): NamedRoute<S, K, O> & Pick<ApiRoute, 'serve'> {
  return {
    ...definition,
    serve: (dependencies) => httpRoute(definition.routeKey, definition.request, definition.handler(dependencies)),
  };
}

const NAME_INDEX_OBJECTS = 'one name index entry per named session, named by a hash of the name and the random session ID';
const RENEWAL_OBJECTS = 'one lease renewal record per held session and epoch, named by the random session ID';
/** The keys of sessions, `sessions/<id>.json`, as an IAM pattern. */
const SESSION_KEYS = `${SESSIONS_PREFIX}*.json`;
const IDEMPOTENCY_OBJECTS = 'one idempotency record per caller and key, named by a hash of both';
/** A lease renewal record read: one key, `leases/<id>/<epoch>-<seconds>.json` (a missing one is told apart by listing that key). */
const RENEWAL_READ: PrefixAccess = {
  bucket: 'leases',
  prefix: RENEWALS_PREFIX,
  objectActions: ['s3:GetObject'],
  tellsMissingKeys: true,
  objectNames: RENEWAL_OBJECTS,
};
/** A renewal record read and then created or replaced by compare-and-swap (a heartbeat, an acquire's fence and new record). */
const RENEWAL_RENEW: PrefixAccess = { ...RENEWAL_READ, writes: ['create', 'replace'] };
/** Deleting the renewal records of one session's ended or superseded leases: list that session's records, delete each. */
const RENEWAL_PRUNE: PrefixAccess = {
  bucket: 'leases',
  prefix: RENEWALS_PREFIX,
  objectActions: ['s3:DeleteObject'],
  listActions: ['s3:ListBucket'],
  listedPrefix: `${RENEWALS_PREFIX}*/`,
  objectNames: RENEWAL_OBJECTS,
};
/** A session read (a missing one answers 404). */
const SESSION_READ: PrefixAccess = { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], tellsMissingKeys: true };
/** A compare-and-swap of sessions: read (a missing one answers 404), then replace If-Match. */
const SESSION_CHANGE: PrefixAccess = {
  prefix: SESSIONS_PREFIX,
  objectActions: ['s3:GetObject'],
  writes: ['replace'],
  tellsMissingKeys: true,
};
/** A write that ends a session (completed, terminated) carries the ended tag, which lifecycle expires by (retention). */
const SESSION_END: PrefixAccess = {
  prefix: SESSIONS_PREFIX,
  objectActions: ['s3:PutObjectTagging'],
  tags: { [ENDED_TAG.key]: ENDED_TAG.value },
};
const STATUS_OBJECTS = 'one status index entry per session and status, named by the random session ID';
/** A new session gets its status index entry, create-only. */
const STATUS_ENTER: PrefixAccess = { bucket: 'leases', prefix: STATUS_PREFIX, writes: ['create'], objectNames: STATUS_OBJECTS };
/** A change of status makes the new status's entry (create-only) and deletes the old one's. */
const STATUS_MOVE: PrefixAccess = { ...STATUS_ENTER, objectActions: ['s3:DeleteObject'] };
/** The status index backfill's record, read (a missing one is told apart by listing exactly that key). */
const STATUS_RECORD_READ: PrefixAccess = {
  bucket: 'leases',
  prefix: INDEXES_PREFIX,
  keys: STATUS_INDEXED_KEY,
  objectActions: ['s3:GetObject'],
  tellsMissingKeys: true,
  objectNames: 'the backfill record of each index, named by the index',
};
const LEASE_REFUSED: RouteErrorResponse = {
  description:
    '`lease_lost`: the `Lease-Epoch` sent names a lease that is no longer live (`details.reason`: `superseded`, `expired` or `released`; `details.epoch`: the current epoch); nothing was written',
  codes: ['lease_lost'],
};
const LEASE_REQUIRED: RouteErrorResponse = {
  description: '`lease_required`: the session is held under a live lease and the change carries no `Lease-Epoch`; nothing was written',
  codes: ['lease_required'],
};
const STORAGE_UNAVAILABLE: RouteErrorResponse = {
  description: 'Storage is unavailable; retry after `Retry-After` seconds',
  codes: ['storage_unavailable'],
  headers: ['Retry-After'],
};

/** Every route of the v1 API, in the order the OpenAPI document lists them. */
export const API_ROUTES = [
  route({
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
    ],
  }),
  route({
    routeKey: 'GET /sessions',
    id: 'ListSessions',
    request: { query: ListSessionsQuerySchema },
    docs: {
      operationId: 'listSessions',
      summary: 'List sessions, newest first',
      description:
        'A page of sessions, newest first. Pass `next_cursor` back as `cursor` for the next page; it is null on the last. Unknown query parameters are refused with 400. ' +
        'With `name`, only the sessions with exactly that name, at a cost that grows with their number, not with all stored sessions.',
      parameters: ['Limit', 'Cursor', 'Status', 'Name'],
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
      // A held session's lease is shown with the expiry its heartbeats extended it to.
      RENEWAL_READ,
    ],
  }),
  route({
    routeKey: 'GET /sessions/{id}',
    id: 'GetSession',
    request: { path: SessionPathSchema },
    docs: { operationId: 'getSession', summary: 'Read a session' },
    responses: { 200: { description: 'The session', body: 'Session' } },
    errors: { 400: 'InvalidRequest', 404: 'SessionNotFound', 503: STORAGE_UNAVAILABLE },
    handler: createGetSessionHandler,
    access: [SESSION_READ, RENEWAL_READ],
  }),
  route({
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
        description:
          '`invalid_transition`: the status machine does not allow this change (`details.from`, `details.to`); ' +
          LEASE_REFUSED.description,
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
  }),
  route({
    routeKey: 'POST /sessions/{id}/jobs',
    id: 'AddJob',
    request: { path: SessionPathSchema, headers: ChangeHeadersSchema, body: AddJobBodySchema },
    docs: {
      operationId: 'addJob',
      summary: 'Append a job ID',
      description:
        'Appends the job ID to an active session. A job ID already in the session leaves it unchanged (200): the call is idempotent by `job_id`. ' +
        "While a lease is live the change must carry its `Lease-Epoch`; the holder's accepted append extends the lease by its length.",
      parameters: ['IfMatch', 'LeaseEpoch', 'Prefer'],
      body: { schema: 'AddJobRequest', description: 'The job to append' },
    },
    responses: { 200: { description: 'The session with the job appended (or unchanged when it was already there)', body: 'Session' } },
    errors: {
      400: 'InvalidRequest',
      404: 'SessionNotFound',
      409: {
        description:
          '`session_not_active`: the session is not active (`details.status`); `session_full`: it already holds the maximum number of jobs (`details.max_jobs`); ' +
          LEASE_REFUSED.description,
        codes: ['session_not_active', 'session_full', 'lease_lost'],
      },
      412: 'PreconditionFailed',
      413: 'PayloadTooLarge',
      415: 'UnsupportedMediaType',
      428: LEASE_REQUIRED,
      503: 'ChangeUnavailable',
    },
    handler: createAddJobHandler,
    access: [SESSION_CHANGE, RENEWAL_READ],
  }),
  route({
    routeKey: 'GET /sessions/{id}/history',
    id: 'SessionHistory',
    request: { path: SessionPathSchema, query: SessionHistoryQuerySchema },
    docs: {
      operationId: 'sessionHistory',
      summary: 'The audit trail of a session, newest first',
      description:
        "The stored versions of the session, newest first: each one's `version_id`, `at` (when storage recorded it, Unix seconds), `actor` (who wrote it, or null), " +
        '`change` (what it changed from the version before: `created`, `job_added JOB`, `jobs_added N: …`, `status A→B`, `restored VERSION`, …) and the `session` as it was. ' +
        'Built from the object versions storage keeps with every write, so no change is missing. Pass `next_cursor` back as `cursor` for the next (older) page; it is null on the last.',
      parameters: ['HistoryLimit', 'Cursor'],
    },
    responses: { 200: { description: 'A page of versions', body: 'SessionHistory' } },
    errors: { 400: 'InvalidRequest', 404: 'SessionNotFound', 409: 'VersioningDisabled', 503: STORAGE_UNAVAILABLE },
    handler: createSessionHistoryHandler,
    // The versions of one key are listed and read; a version that expired since the listing is told by listing them again.
    access: [
      {
        prefix: SESSIONS_PREFIX,
        objectActions: ['s3:GetObjectVersion'],
        listActions: ['s3:ListBucketVersions'],
        listedPrefix: SESSION_KEYS,
      },
    ],
  }),
  route({
    routeKey: 'POST /sessions/{id}/restore',
    id: 'RestoreSession',
    request: { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: RestoreSessionBodySchema },
    docs: {
      operationId: 'restoreSession',
      summary: 'Undo: make an earlier version current again',
      description:
        "Makes the content of the version `version_id` (from the session's history) current again, as a new version written by compare-and-swap, " +
        "marked `restored_from` and shown in the history as `restored VERSION`. It brings back that version's jobs and status, out of `completed` or `terminated` too. " +
        "Restoring the content the session already has changes nothing (200). A version that is not one of this session's is refused with 400.",
      parameters: ['IfMatch', 'Prefer'],
      body: { schema: 'RestoreSessionRequest', description: 'The version to restore' },
    },
    responses: { 200: { description: "The session, with that version's content, now current", body: 'Session' } },
    errors: {
      400: 'InvalidRequest',
      404: 'SessionNotFound',
      409: 'VersioningDisabled',
      412: 'PreconditionFailed',
      413: 'PayloadTooLarge',
      415: 'UnsupportedMediaType',
      503: 'ChangeUnavailable',
    },
    handler: createRestoreSessionHandler,
    access: [
      // The version listing runs only when the version read found nothing, to tell an unknown version from a missing
      // session or a bucket without versioning (and, when S3 answers 403, an unknown version from a denied one).
      // A session deleted out of band keeps its versions: reading its current object must answer 404 too.
      {
        prefix: SESSIONS_PREFIX,
        objectActions: ['s3:GetObject', 's3:GetObjectVersion'],
        writes: ['replace'],
        listActions: ['s3:ListBucketVersions'],
        listedPrefix: SESSION_KEYS,
        tellsMissingKeys: true,
      },
      // Restoring a completed or terminated version ends the session again (tagged); the ended version it replaces is
      // untagged, so that it stays in the history as long as any replaced version.
      { ...SESSION_END, objectActions: ['s3:PutObjectTagging', 's3:DeleteObjectVersionTagging'] },
      // A restore out of `active` ends the lease: its renewal records go.
      RENEWAL_PRUNE,
      STATUS_MOVE,
    ],
  }),
  route({
    routeKey: 'POST /sessions/{id}/lease',
    id: 'AcquireLease',
    request: { path: SessionPathSchema, body: z._default(AcquireLeaseBodySchema, {}) },
    docs: {
      operationId: 'acquireLease',
      summary: 'Acquire (or resume, or take over) the lease of a session',
      description:
        'Gives the caller a new lease of `seconds` (default 60) on the session, one epoch above the last, held by `holder` (default: the caller). ' +
        'A `paused` session becomes `active`: this is the resume. While another holder’s lease is live the acquire is refused with `lease_held`, ' +
        'unless `force` is true: the old holder is then fenced out, and every change it still sends is refused with `lease_lost`. ' +
        'Not idempotent: each acquire issues a new epoch.',
      parameters: ['Prefer'],
      body: { schema: 'AcquireLeaseRequest', description: 'Holder, length and force, all optional', required: false },
    },
    responses: { 200: { description: 'The session with its new lease', body: 'Session' } },
    errors: {
      400: 'InvalidRequest',
      404: 'SessionNotFound',
      409: {
        description:
          '`lease_held`: another holder’s lease is live and `force` is not true (`details.holder`, `details.expires_at`); `invalid_transition`: the session is completed or terminated',
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
  }),
  route({
    routeKey: 'POST /sessions/{id}/heartbeat',
    id: 'Heartbeat',
    request: { path: SessionPathSchema, headers: HeartbeatHeadersSchema, body: z._default(HeartbeatBodySchema, {}) },
    docs: {
      operationId: 'heartbeat',
      summary: 'Keep a lease alive',
      description:
        'Extends the lease of epoch `Lease-Epoch` to now + `seconds` (default: its length) and answers only the lease. ' +
        'Heartbeats are not changes of the session: they never appear in its history and leave its ETag as it was.',
      parameters: ['LeaseEpoch'],
      body: { schema: 'HeartbeatRequest', description: 'An optional extension', required: false },
    },
    responses: { 200: { description: 'The lease, extended', body: 'LeaseRenewal' } },
    errors: {
      400: 'InvalidRequest',
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
  }),
] as const;

/**
 * The only S3 access of the lease sweeper (a scheduled function, not a route): it lists every renewal record, reads
 * and fences the lapsed ones, pauses their sessions by compare-and-swap, and deletes records of ended leases. Until
 * the status index is complete it also walks the sessions (a step a run), giving each its entry.
 */
export const LEASE_SWEEPER_ACCESS: readonly PrefixAccess[] = [
  SESSION_CHANGE,
  { prefix: SESSIONS_PREFIX, listActions: ['s3:ListBucket'] },
  STATUS_MOVE,
  { ...STATUS_RECORD_READ, writes: ['create', 'replace'] },
  {
    bucket: 'leases',
    prefix: RENEWALS_PREFIX,
    objectActions: ['s3:GetObject', 's3:DeleteObject'],
    writes: ['replace'],
    listActions: ['s3:ListBucket'],
    tellsMissingKeys: true,
    objectNames: RENEWAL_OBJECTS,
  },
  RENEWAL_PRUNE,
];

/** A route of the table with its literal types. */
export type TableRoute = (typeof API_ROUTES)[number];

/** The OpenAPI operation ID of every route: `createSession`, `addJob`… */
export type OperationId = TableRoute['docs']['operationId'];

/** The method and the path (with `{param}` placeholders) of a route key. */
export function routeParts(routeKey: string): { method: RouteMethod; path: string } {
  const [method, path] = routeKey.split(' ');
  if (method === undefined || path === undefined) throw new Error(`bad route key ${routeKey}`);
  return { method: method as RouteMethod, path };
}

/** The file name of a route's Lambda entry under `functions/`, without extension: `AddJob` → `add-job`. */
export function entryName(route: Pick<ApiRoute, 'id'>): string {
  return route.id.replace(/(?<=[a-z0-9])([A-Z])/g, '-$1').toLowerCase();
}

/** The route with this construct ID. */
export function apiRoute(id: string): ApiRoute {
  const found = API_ROUTES.find((candidate) => candidate.id === id);
  if (found === undefined) throw new Error(`no route with ID ${id}`);
  return found;
}

/** A route's Lambda handler over `dependencies`: its work behind the middleware chain every route shares. */
export function routeHandler(route: ApiRoute, dependencies: RouteDependencies): HttpHandler {
  return route.serve(dependencies);
}
