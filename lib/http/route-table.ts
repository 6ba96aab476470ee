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

import type { HttpHandler, RouteDependencies } from './route.ts';
import type { ApiRoute, RouteMethod } from './route-definition.ts';
import { CHANGE_ROUTES } from './table/changes.ts';
import { HISTORY_ROUTES } from './table/history.ts';
import { LEASE_ROUTES } from './table/leases.ts';
import { SESSION_ROUTES } from './table/sessions.ts';

export { LEASE_SWEEPER_ACCESS } from './route-access.ts';
export type {
  AccessBucket,
  ApiRoute,
  DocumentedHeader,
  PrefixAccess,
  RouteDefinition,
  RouteDocumentation,
  RouteErrorResponse,
  RouteMethod,
  SharedErrorResponse,
  SuccessResponse,
  WriteKind,
} from './route-definition.ts';

/** Every route of the v1 API, in the order the OpenAPI document lists them (each area's routes live in `table/`). */
export const API_ROUTES = [...SESSION_ROUTES, ...CHANGE_ROUTES, ...HISTORY_ROUTES, ...LEASE_ROUTES] as const;

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
