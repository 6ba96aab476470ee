import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { SESSIONS_PREFIX } from '#lib/ids.ts';
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

/** The S3 access of each handler: the only access its function gets. */
const HANDLER_ACCESS: Record<ApiRoute['handler'], { id: string; access: readonly PrefixAccess[] }> = {
  'create-session': { id: 'CreateSession', access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:PutObject'] }] },
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
    access: [{ prefix: SESSIONS_PREFIX, objectActions: ['s3:GetObject'], listActions: ['s3:ListBucket'] }],
  },
};

/** Every route of the v1 API (the table the local server serves too), one function each. */
export const ROUTES: readonly RouteDefinition[] = API_ROUTES.map(({ routeKey, handler }) => {
  const [method, path] = routeKey.split(' ') as [HttpMethod, string];
  return { ...HANDLER_ACCESS[handler], method, path, handler };
});
