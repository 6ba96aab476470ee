/**
 * Routes of the table: the audit trail of a session and the undo of a change.
 *
 * @module
 */

import { SESSIONS_PREFIX } from '../../domain/ids.ts';
import { OWNER_ENTER, RENEWAL_PRUNE, RENEWAL_READ, SESSION_CHANGE, SESSION_END, SESSION_KEYS, STATUS_MOVE } from '../route-access.ts';
import { NOT_OWNER, route, STORAGE_UNAVAILABLE } from '../route-definition.ts';
import { createAdoptSessionHandler } from '../routes/adopt-session.ts';
import { createRestoreSessionHandler } from '../routes/restore-session.ts';
import { createSessionHistoryHandler } from '../routes/session-history.ts';
import {
  AdoptSessionBodySchema,
  IfMatchHeadersSchema,
  RestoreSessionBodySchema,
  SessionHistoryQuerySchema,
  SessionPathSchema,
} from '../schemas.ts';

export const sessionHistory = route({
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
});

export const restoreSession = route({
  routeKey: 'POST /sessions/{id}/restore',
  id: 'RestoreSession',
  request: { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: RestoreSessionBodySchema },
  docs: {
    operationId: 'restoreSession',
    summary: 'Undo: make an earlier version current again',
    description:
      "Makes the content of the version `version_id` (from the session's history) current again, as a new version written by compare-and-swap, " +
      "marked `restored_from` and shown in the history as `restored VERSION`. It brings back that version's jobs and status, out of `completed` or `terminated` too. " +
      "Restoring the content the session already has changes nothing (200). A version that is not one of this session's is refused with 400. " +
      'While a lease is live the restore is refused with `lease_held` unless `force` is true: the lease then ends and its holder hears `lease_lost` (`restored`).',
    parameters: ['IfMatch', 'Prefer'],
    body: { schema: 'RestoreSessionRequest', description: 'The version to restore' },
  },
  responses: { 200: { description: "The session, with that version's content, now current", body: 'Session' } },
  errors: {
    400: 'InvalidRequest',
    403: NOT_OWNER,
    404: 'SessionNotFound',
    409: {
      description: '`lease_held`: a lease is live and `force` is not true (`details.holder`, `details.expires_at`); `versioning_disabled`',
      codes: ['lease_held', 'versioning_disabled'],
    },
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
    // Whether the lease is live may take its renewal record; a restore out of `active`, or a forced one, ends the lease:
    // its renewal records go.
    RENEWAL_READ,
    RENEWAL_PRUNE,
    STATUS_MOVE,
  ],
});

export const adoptSession = route({
  routeKey: 'POST /sessions/{id}/owner',
  id: 'AdoptSession',
  request: { path: SessionPathSchema, headers: IfMatchHeadersSchema, body: AdoptSessionBodySchema },
  docs: {
    operationId: 'adoptSession',
    summary: 'Give a session an owner (operators only)',
    description:
      'Makes `owner` the owner of the session: a session stored before owners is changed by operators only until one adopts it. ' +
      'A new version written by compare-and-swap, shown in the history as `owner changed to OWNER` and announced as `Session Owner Changed`; ' +
      'the owner it already has changes nothing (200). Only operators may: anyone else is refused with 403 `forbidden`.',
    parameters: ['IfMatch', 'Prefer'],
    body: { schema: 'AdoptSessionRequest', description: 'The new owner' },
  },
  responses: { 200: { description: 'The session with its owner', body: 'Session' } },
  errors: {
    400: 'InvalidRequest',
    403: { description: '`forbidden`: the caller is not an operator; nothing was written', codes: ['forbidden'] },
    404: 'SessionNotFound',
    412: 'PreconditionFailed',
    413: 'PayloadTooLarge',
    415: 'UnsupportedMediaType',
    503: 'ChangeUnavailable',
  },
  handler: createAdoptSessionHandler,
  // The new owner's index entry first (create-only), then the compare-and-swap; an ended session stays tagged ended.
  access: [OWNER_ENTER, SESSION_CHANGE, SESSION_END],
});

/** The routes of this area, in the order the OpenAPI document lists them. */
export const HISTORY_ROUTES = [sessionHistory, restoreSession, adoptSession] as const;
