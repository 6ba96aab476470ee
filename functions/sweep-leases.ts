import { requireEnv } from '#lib/domain/config.ts';
import { readRetentionDays } from '#lib/domain/retention.ts';
import { logger } from '#lib/http/telemetry.ts';
import { environmentDependencies } from '#lib/runtime/lambda.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { createSweepHandler, LeaseSweeper } from '#lib/workers/lease-sweeper.ts';
import { RetentionCleanup } from '#lib/workers/retention-cleanup.ts';

const { repository } = environmentDependencies();
const retentionDays = readRetentionDays();
// Retention: S3 lifecycle deletes ended sessions; each run also takes one bounded step of what lifecycle cannot reach.
const retention =
  retentionDays === undefined
    ? undefined
    : new RetentionCleanup({
        sessions: new S3ObjectStore({ bucket: requireEnv(process.env, 'SESSIONS_BUCKET').trim() }),
        state: new S3ObjectStore({ bucket: requireEnv(process.env, 'LEASES_BUCKET').trim() }),
        retentionDays,
      });

/**
 * The lease sweeper on Lambda, run by a schedule every `LEASE_SWEEP_SECONDS`
 * (60): pauses the sessions whose lease has been expired for longer than that,
 * then, with `RETENTION_DAYS` set, takes one step of retention's cleanup.
 */
export const handler = createSweepHandler(
  new LeaseSweeper({ repository, graceSeconds: repository.config.leaseSweepSeconds, retention }),
  (message, report) =>
    logger.info(message, {
      ...report,
      expired: report.expired.length,
      expired_sessions: report.expired.slice(0, 50),
      ...(report.retention && { retention: { ...report.retention, purged: report.retention.purged.length } }),
    }),
);
