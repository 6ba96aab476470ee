/**
 * Cold-start attribution: the dependencies every route's handler is built
 * over, as a Lambda function builds them (the repository on the two S3
 * buckets, the limits, the service log), without the HTTP layer or any route.
 */
import { environmentDependencies } from '#lib/runtime/lambda.ts';

const dependencies = environmentDependencies();

export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 200,
  body: JSON.stringify({ ready: dependencies.repository !== undefined }),
});
