/** S3 clients for the bench: one for the in-memory fake, one for a real endpoint that counts what it sends. */

import { S3Client } from '@aws-sdk/client-s3';

/** A client that never reaches the network: the S3 fake (aws-sdk-client-mock) answers every command. */
export function fakeS3Client(): S3Client {
  return new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'BENCH', secretAccessKey: 'bench' } });
}

/** HTTP requests a client sent, SDK retries included. */
export interface RequestCounter {
  total: number;
  byCommand: Record<string, number>;
  /** Answers that were errors, by error name (`PreconditionFailed`, `UnknownError`, …). */
  errors: Record<string, number>;
}

/** A counter at zero. */
export function newRequestCounter(): RequestCounter {
  return { total: 0, byCommand: {}, errors: {} };
}

/**
 * A client for the S3-compatible endpoint in `AWS_ENDPOINT_URL_S3`, set up as
 * the service's own (`defaultS3Client`: checksums only where required, path
 * style), that adds every HTTP attempt it makes to `counter`. The counting
 * sits below the SDK's retry loop, so an SDK retry counts as a request.
 */
export function countingEndpointClient(counter: RequestCounter): S3Client {
  const client = new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    forcePathStyle: true,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.total++;
      counter.byCommand[context.commandName ?? 'unknown'] = (counter.byCommand[context.commandName ?? 'unknown'] ?? 0) + 1;
      try {
        return await next(args);
      } catch (error) {
        const name = error instanceof Error ? error.name : 'unknown';
        counter.errors[name] = (counter.errors[name] ?? 0) + 1;
        throw error;
      }
    },
    { step: 'deserialize', name: 'benchRequestCounter', priority: 'high' },
  );
  return client;
}

/** The real endpoint to measure against, when `AWS_ENDPOINT_URL_S3` and `SESSIONS_TEST_BUCKET` are both set. */
export function configuredEndpoint(env: NodeJS.ProcessEnv = process.env): { endpoint: string; bucket: string } | undefined {
  const endpoint = env.AWS_ENDPOINT_URL_S3?.trim();
  const bucket = env.SESSIONS_TEST_BUCKET?.trim();
  return endpoint && bucket ? { endpoint, bucket } : undefined;
}
