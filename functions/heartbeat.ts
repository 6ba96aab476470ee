import { apiRoute, routeHandler } from '#lib/http/route-table.ts';
import { environmentDependencies } from '#lib/runtime/lambda.ts';

/** `POST /sessions/{id}/heartbeat` on Lambda: the route's handler over the buckets and limits of the environment, built once per instance. */
export const handler = routeHandler(apiRoute('Heartbeat'), environmentDependencies());
