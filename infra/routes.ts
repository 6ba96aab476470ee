import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { SESSIONS_PREFIX } from '#lib/domain/ids.ts';
import { ENDED_TAG } from '#lib/domain/retention.ts';
import { API_ROUTES, entryName, type OperationId, type PrefixAccess, routeParts } from '#lib/http/route-table.ts';
import { NAMES_PREFIX } from '#lib/sessions/name-index.ts';
import { OWNERS_PREFIX } from '#lib/sessions/owner-index.ts';
import { STATUS_PREFIX } from '#lib/sessions/status-index.ts';
import { ANNOUNCED_PREFIX } from '#lib/workers/announcer.ts';

export type { AccessBucket, PrefixAccess, WriteKind } from '#lib/http/route-table.ts';

/** One HTTP route as the stack deploys it: its method and path, its Lambda entry, and the only S3 access its function gets. */
export interface RouteDefinition {
  /** Construct ID of the route's function, e.g. `GetSession`. */
  readonly id: string;
  readonly method: HttpMethod;
  /** Path with API Gateway `{param}` placeholders. */
  readonly path: string;
  /** Handler file name under `functions/`, without extension; it exports `handler`. */
  readonly handler: string;
  readonly access: readonly PrefixAccess[];
  /** A route runners use: `grantRunner` allows it. Any other route is for operators only. @default false */
  readonly runner?: boolean;
}

/**
 * The operations a runner uses, which `grantRunner` allows: open, read, list, append, change status, acquire,
 * heartbeat and read the history of sessions. Restore, an owner change and any route added later are for
 * operators only, unless named here.
 */
export const RUNNER_OPERATIONS: ReadonlySet<OperationId> = new Set<OperationId>([
  'createSession',
  'listSessions',
  'getSession',
  'setStatus',
  'addJob',
  'sessionHistory',
  'acquireLease',
  'heartbeat',
]);

/** Every route of the v1 API (the table the local server serves too), one function each. */
export const ROUTES: readonly RouteDefinition[] = API_ROUTES.map((route) => {
  const { method, path } = routeParts(route.routeKey);
  return {
    id: route.id,
    method: HttpMethod[method],
    path,
    handler: entryName(route),
    access: route.access,
    runner: RUNNER_OPERATIONS.has(route.docs.operationId),
  };
});

/**
 * The S3 access the lease sweeper gets for retention, beside its own: what lifecycle rules cannot reach.
 * - Sessions that ended before retention was deployed carry no ended tag: the sweeper tags the ending version it
 *   read (by version ID, so a version written since is never tagged), and untags it again if a restore replaced it
 *   meanwhile.
 * - Name and owner index entries (`names/`, `owners/`, made at creation) and announcer cursors (`announced/`) of
 *   deleted sessions: the sweeper walks each prefix and deletes an entry whose session is gone.
 * - Status index entries made by the index backfill rather than at the ending (lifecycle counts from when an entry
 *   was made): the sweeper lists the ended statuses' entries and deletes one whose session is gone.
 */
export const RETENTION_SWEEPER_ACCESS: readonly PrefixAccess[] = [
  {
    prefix: SESSIONS_PREFIX,
    objectActions: ['s3:PutObjectVersionTagging', 's3:DeleteObjectVersionTagging'],
    tags: { [ENDED_TAG.key]: ENDED_TAG.value },
  },
  {
    prefix: NAMES_PREFIX,
    objectActions: ['s3:DeleteObject'],
    listActions: ['s3:ListBucket'],
    objectNames: 'one name index entry per named session, named by a hash of the name and the random session ID',
  },
  {
    bucket: 'leases',
    prefix: OWNERS_PREFIX,
    objectActions: ['s3:DeleteObject'],
    listActions: ['s3:ListBucket'],
    objectNames: 'one owner index entry per session, named by a hash of the owner and the random session ID',
  },
  {
    bucket: 'leases',
    prefix: ANNOUNCED_PREFIX,
    objectActions: ['s3:DeleteObject'],
    listActions: ['s3:ListBucket'],
    objectNames: 'one announcer cursor per session, named by its random ID',
  },
  // Deleting an entry is the lease sweeper's already (a status change moves it).
  { bucket: 'leases', prefix: STATUS_PREFIX, listActions: ['s3:ListBucket'], listedPrefix: `${STATUS_PREFIX}*/` },
];
