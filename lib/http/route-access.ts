/**
 * The S3 access grants the routes of the table (and the lease sweeper) are
 * built from: each confined to one prefix of one bucket (see `PrefixAccess`).
 *
 * @module
 */

import { SESSIONS_PREFIX } from '../domain/ids.ts';
import { RENEWALS_PREFIX } from '../domain/lease.ts';
import { ENDED_TAG } from '../domain/retention.ts';
import { OWNERS_PREFIX } from '../sessions/owner-index.ts';
import { INDEXES_PREFIX, STATUS_INDEXED_KEY, STATUS_PREFIX } from '../sessions/status-index.ts';
import type { PrefixAccess } from './route-definition.ts';

export const NAME_INDEX_OBJECTS = 'one name index entry per named session, named by a hash of the name and the random session ID';
export const RENEWAL_OBJECTS = 'one lease renewal record per held session and epoch, named by the random session ID';
/** The keys of sessions, `sessions/<id>.json`, as an IAM pattern. */
export const SESSION_KEYS = `${SESSIONS_PREFIX}*.json`;
export const IDEMPOTENCY_OBJECTS = 'one idempotency record per caller and key, named by a hash of both';
/** A lease renewal record read: one key, `leases/<id>/<epoch>-<seconds>.json` (a missing one is told apart by listing that key). */
export const RENEWAL_READ: PrefixAccess = {
  bucket: 'leases',
  prefix: RENEWALS_PREFIX,
  objectActions: ['s3:GetObject'],
  tellsMissingKeys: true,
  objectNames: RENEWAL_OBJECTS,
};
/** A renewal record read and then created or replaced by compare-and-swap (a heartbeat, an acquire's fence and new record). */
export const RENEWAL_RENEW: PrefixAccess = { ...RENEWAL_READ, writes: ['create', 'replace'] };
/** Deleting the renewal records of one session's ended or superseded leases: list that session's records, delete each. */
export const RENEWAL_PRUNE: PrefixAccess = {
  bucket: 'leases',
  prefix: RENEWALS_PREFIX,
  objectActions: ['s3:DeleteObject'],
  listActions: ['s3:ListBucket'],
  listedPrefix: `${RENEWALS_PREFIX}*/`,
  objectNames: RENEWAL_OBJECTS,
};
/** A session read (a missing one answers 404). */
export const SESSION_READ: PrefixAccess = { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], tellsMissingKeys: true };
/** A compare-and-swap of sessions: read (a missing one answers 404), then replace If-Match. */
export const SESSION_CHANGE: PrefixAccess = {
  prefix: SESSIONS_PREFIX,
  objectActions: ['s3:GetObject'],
  writes: ['replace'],
  tellsMissingKeys: true,
};
/** A write that ends a session (completed, terminated) carries the ended tag, which lifecycle expires by (retention). */
export const SESSION_END: PrefixAccess = {
  prefix: SESSIONS_PREFIX,
  objectActions: ['s3:PutObjectTagging'],
  tags: { [ENDED_TAG.key]: ENDED_TAG.value },
};
export const STATUS_OBJECTS = 'one status index entry per session and status, named by the random session ID';
/** A new session gets its status index entry, create-only. */
export const STATUS_ENTER: PrefixAccess = { bucket: 'leases', prefix: STATUS_PREFIX, writes: ['create'], objectNames: STATUS_OBJECTS };
/** A change of status makes the new status's entry (create-only) and deletes the old one's. */
export const STATUS_MOVE: PrefixAccess = { ...STATUS_ENTER, objectActions: ['s3:DeleteObject'] };
export const OWNER_OBJECTS = 'one owner index entry per session and owner, named by a hash of the owner and the random session ID';
/** A new session (or an adopted one) gets its owner's index entry, create-only. */
export const OWNER_ENTER: PrefixAccess = { bucket: 'leases', prefix: OWNERS_PREFIX, writes: ['create'], objectNames: OWNER_OBJECTS };
/** An owner's sessions are listed through its entries (one owner's at a time), never read: the session ID is in the key. */
export const OWNER_LIST: PrefixAccess = {
  bucket: 'leases',
  prefix: OWNERS_PREFIX,
  listActions: ['s3:ListBucket'],
  listedPrefix: `${OWNERS_PREFIX}*/`,
  objectNames: OWNER_OBJECTS,
};
/** The status index backfill's record, read (a missing one is told apart by listing exactly that key). */
export const STATUS_RECORD_READ: PrefixAccess = {
  bucket: 'leases',
  prefix: INDEXES_PREFIX,
  keys: STATUS_INDEXED_KEY,
  objectActions: ['s3:GetObject'],
  tellsMissingKeys: true,
  objectNames: 'the backfill record of each index, named by the index',
};

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
