/**
 * What a route of the table is: the S3 access its function gets, the answers
 * it documents, its request schemas and its handler factory, and `route()`,
 * which checks an entry's handler against its schemas.
 *
 * @module
 */

import type { ErrorCode } from '../domain/errors.ts';
import { iamCaller } from './event.ts';
import { type HttpHandler, httpRoute, type RouteDependencies, type RouteHandler } from './route.ts';
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
/* @__NO_SIDE_EFFECTS__ */
export function route<S extends RequestSchemas, const K extends RouteDefinition['routeKey'], const O extends string>(
  definition: NamedRoute<S, K, O>,
): NamedRoute<S, K, O> & Pick<ApiRoute, 'serve'> {
  return {
    ...definition,
    serve: (dependencies) =>
      httpRoute(
        definition.routeKey,
        definition.request,
        definition.handler(dependencies),
        dependencies.callers ?? iamCaller(dependencies.repository.config.operators),
      ),
  };
}

/** Refusals several routes document alike. */
export const LEASE_REFUSED: RouteErrorResponse = {
  description:
    '`lease_lost`: the `Lease-Epoch` sent names a lease that is no longer live (`details.reason`: `superseded`, `expired`, `released` or `restored`; `details.epoch`: the current epoch); nothing was written',
  codes: ['lease_lost'],
};
export const LEASE_REQUIRED: RouteErrorResponse = {
  description: '`lease_required`: the session is held under a live lease and the change carries no `Lease-Epoch`; nothing was written',
  codes: ['lease_required'],
};
export const NOT_OWNER: RouteErrorResponse = {
  description:
    "`forbidden`: the caller is neither the session's owner nor an operator (a session stored before owners: not an operator); nothing was written",
  codes: ['forbidden'],
};
export const STORAGE_UNAVAILABLE: RouteErrorResponse = {
  description: 'Storage is unavailable; retry after `Retry-After` seconds',
  codes: ['storage_unavailable'],
  headers: ['Retry-After'],
};
