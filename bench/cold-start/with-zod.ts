/**
 * Cold-start attribution: the baseline plus zod as the service imports it
 * (`import { z } from 'zod'`) and one small schema.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

const client = new S3Client({});
const Body = z.strictObject({ job_id: z.string().min(1).max(256) });

export const handler = async (event: { body?: string }): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 200,
  body: JSON.stringify({ client: client.config.serviceId, valid: Body.safeParse(JSON.parse(event.body ?? '{}')).success }),
});
