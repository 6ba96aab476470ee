import { logger } from '#lib/http/telemetry.ts';
import { environmentDependencies } from '#lib/runtime/lambda.ts';
import { createSweepHandler, LeaseSweeper } from '#lib/workers/lease-sweeper.ts';

const { repository } = environmentDependencies();

/**
 * The lease sweeper on Lambda, run by a schedule every `LEASE_SWEEP_SECONDS`
 * (60): pauses the sessions whose lease has been expired for longer than that.
 */
export const handler = createSweepHandler(
  new LeaseSweeper({ repository, graceSeconds: repository.config.leaseSweepSeconds }),
  (message, report) => logger.info(message, { ...report, expired: report.expired.length, expired_sessions: report.expired.slice(0, 50) }),
);
