/**
 * The cold-start baseline: a Lambda handler that does nothing but create an
 * S3 client at module scope, bundled exactly as the route functions are.
 */
import { S3Client } from '@aws-sdk/client-s3';

const client = new S3Client({});

export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 200,
  body: JSON.stringify({ client: client.config.serviceId }),
});
