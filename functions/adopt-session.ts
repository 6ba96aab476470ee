import { apiRoute, routeHandler } from '#lib/http/route-table.ts';
import { environmentDependencies } from '#lib/runtime/lambda.ts';

/** `POST /sessions/{id}/owner` on Lambda: the route's handler over the S3 bucket and limits of the environment, built once per instance. */
export const handler = routeHandler(apiRoute('AdoptSession'), environmentDependencies());
