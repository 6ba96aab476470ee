/**
 * Cold-start attribution: the baseline plus the service's middleware stack
 * without zod: middy with the Powertools logger and metrics middlewares.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';

const client = new S3Client({});
const logger = new Logger({ serviceName: 'runner-sessions' });
const metrics = new Metrics({ namespace: 'RunnerSessions', serviceName: 'runner-sessions' });

export const handler = middy(
  async (): Promise<{ statusCode: number; body: string }> => ({
    statusCode: 200,
    body: JSON.stringify({ client: client.config.serviceId }),
  }),
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(httpHeaderNormalizer());
