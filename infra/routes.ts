import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { IDEMPOTENCY_PREFIX } from '#lib/idempotency.ts';
import { SESSIONS_PREFIX } from '#lib/ids.ts';
import { NAMES_PREFIX } from '#lib/name-index.ts';
import { API_ROUTES, type ApiRoute } from '#lib/routes.ts';

/**
 * S3 access confined to one key prefix of the sessions bucket. Object actions
 * are granted on `<bucket>/<prefix>*`; key-listing actions on the bucket, only
 * for requests whose `s3:prefix` lies under `prefix`.
 */
export interface PrefixAccess {
  /** The key prefix, ending in `/`. */
  readonly prefix: string;
  /** Object-level actions such as `s3:GetObject`; never a wildcard. */
  readonly objectActions?: readonly string[];
  /** Bucket-level listing actions such as `s3:ListBucket`; never a wildcard. */
  readonly listActions?: readonly string[];
  /**
   * Also grant `s3:ListBucket` on the bucket, unconditioned, so that reading a
   * missing key answers 404 NoSuchKey rather than 403 AccessDenied: S3 tells a
   * caller that a key does not exist only when it may list the bucket, and a
   * GetObject request carries no `s3:prefix` that a condition could match.
   */
  readonly tellsMissingKeys?: boolean;
  /**
   * How the objects under `prefix` are named, for the cdk-nag acknowledgement
   * of the object wildcard. Default: one object per session, named by its random ID.
   */
  readonly objectNames?: string;
}

/** One HTTP route: its method and path, its handler, and the only S3 access its function gets. */
export interface RouteDefinition {
  /** Construct ID of the route's function, e.g. `GetSession`. */
  readonly id: string;
  readonly method: HttpMethod;
  /** Path with API Gateway `{param}` placeholders. */
  readonly path: string;
  /** Handler file name under `functions/`, without extension; it exports `handler`. */
  readonly handler: string;
  readonly access: readonly PrefixAccess[];
}

const NAME_INDEX_OBJECTS = 'one name index entry per named session, named by a hash of the name and the random session ID';
const IDEMPOTENCY_OBJECTS = 'one idempotency record per caller and key, named by a hash of both';

/** The S3 access of each handler: the only access its function gets. */
const HANDLER_ACCESS: Record<ApiRoute['handler'], { id: string; access: readonly PrefixAccess[] }> = {
  'create-session': {
    id: 'CreateSession',
    access: [
      // A repeated Idempotency-Key reads the recorded session, which may not exist yet (its first request stopped short).
      { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject', 's3:PutObject'], tellsMissingKeys: true },
      { prefix: NAMES_PREFIX, objectActions: ['s3:PutObject'], objectNames: NAME_INDEX_OBJECTS },
      // PutObject both creates a record (If-None-Match) and replaces an expired one (If-Match).
      { prefix: IDEMPOTENCY_PREFIX, objectActions: ['s3:GetObject', 's3:PutObject'], objectNames: IDEMPOTENCY_OBJECTS },
    ],
  },
  'get-session': {
    id: 'GetSession',
    access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], tellsMissingKeys: true }],
  },
  'add-job': {
    id: 'AddJob',
    access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject', 's3:PutObject'], tellsMissingKeys: true }],
  },
  'set-status': {
    id: 'SetStatus',
    access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject', 's3:PutObject'], tellsMissingKeys: true }],
  },
  'list-sessions': {
    id: 'ListSessions',
    access: [
      // A name index entry may name a session that was never written (an interrupted create): its read must answer 404.
      { prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], listActions: ['s3:ListBucket'], tellsMissingKeys: true },
      // Index entries are listed, never read: the session ID is in the key.
      { prefix: NAMES_PREFIX, listActions: ['s3:ListBucket'] },
    ],
  },
  'session-history': {
    id: 'SessionHistory',
    // The version listing tells a missing session (no versions), so no read ever asks for a missing key.
    access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObjectVersion'], listActions: ['s3:ListBucketVersions'] }],
  },
  'restore-session': {
    id: 'RestoreSession',
    access: [
      // The version listing runs only when the version read found nothing, to tell an unknown version from a missing
      // session or a bucket without versioning; reading an unknown version must answer 404, not 403.
      {
        prefix: SESSIONS_PREFIX,
        objectActions: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'],
        listActions: ['s3:ListBucketVersions'],
        tellsMissingKeys: true,
      },
    ],
  },
};

/** Every route of the v1 API (the table the local server serves too), one function each. */
export const ROUTES: readonly RouteDefinition[] = API_ROUTES.map(({ routeKey, handler }) => {
  const [method, path] = routeKey.split(' ') as [HttpMethod, string];
  return { ...HANDLER_ACCESS[handler], method, path, handler };
});
