import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { requireEnv } from '#lib/domain/config.ts';
import { logger } from '#lib/http/telemetry.ts';
import { createAnnounceHandler, EventBridgePublisher } from '#lib/runtime/eventbridge.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { Announcer } from '#lib/workers/announcer.ts';

const sessionsBucket = requireEnv(process.env, 'SESSIONS_BUCKET').trim();
const announcer = new Announcer({
  sessions: new S3ObjectStore({ bucket: sessionsBucket }),
  // The cursors (`announced/<id>.json`) live beside the lease renewals: soft state, no versions needed.
  cursors: new S3ObjectStore({ bucket: requireEnv(process.env, 'LEASES_BUCKET').trim() }),
  publisher: new EventBridgePublisher({ client: new EventBridgeClient({}), busName: requireEnv(process.env, 'EVENTS_BUS_NAME').trim() }),
});

/**
 * The announcer on Lambda, run by the rule on S3 "Object Created" events of
 * `sessions/`: publishes the session's new events to `EVENTS_BUS_NAME`.
 */
export const handler = createAnnounceHandler({
  announcer,
  bucket: sessionsBucket,
  onAnnounced: (outcome) => {
    if (outcome.gap) logger.warn('announced versions expired before they were announced', { ...outcome });
    logger.info('announced', { ...outcome });
  },
});
