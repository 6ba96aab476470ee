/**
 * Cold-start attribution: the baseline plus the same schema written with
 * `zod/mini`, zod's tree-shakable build.
 */
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod/mini';

const client = new S3Client({});
const Body = z.strictObject({ job_id: z.string().check(z.minLength(1), z.maxLength(256)) });

export const handler = async (event: { body?: string }): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 200,
  body: JSON.stringify({ client: client.config.serviceId, valid: Body.safeParse(JSON.parse(event.body ?? '{}')).success }),
});
