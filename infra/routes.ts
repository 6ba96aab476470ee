import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { API_ROUTES, entryName, type PrefixAccess, routeParts } from '#lib/http/route-table.ts';

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
}

/** Every route of the v1 API (the table the local server serves too), one function each. */
export const ROUTES: readonly RouteDefinition[] = API_ROUTES.map((route) => {
  const { method, path } = routeParts(route.routeKey);
  return { id: route.id, method: HttpMethod[method], path, handler: entryName(route), access: route.access };
});
