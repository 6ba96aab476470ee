/**
 * The local server with its events, as the events tests run it in a child process: the sessions in DATA_DIR, the
 * events in DATA_DIR/events.jsonl, POSTed to EVENTS_WEBHOOK_URL when set. EVENTS_PUBLISH_DELAY_MS makes every publish
 * wait (after printing `publishing <ids>`), so that a test can kill the process between a write and its announcement.
 */

import path from 'node:path';
import { sleep } from '#lib/common/backoff.ts';
import { startLocalEvents } from '#lib/local/events.ts';
import { startLocalServer } from '#lib/local/server.ts';
import { SqliteObjectStore, UnversionedSqliteObjectStore } from '#lib/storage/sqlite/index.ts';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
const delayMs = Number(process.env.EVENTS_PUBLISH_DELAY_MS ?? 0);

// Registered before anything starts, so that a SIGTERM at any moment stops the process cleanly once it is up.
const { promise: running, resolve: startedWith } = Promise.withResolvers<() => Promise<void>>();
process.on('SIGTERM', () => {
  running
    .then((stop) => stop())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(String(error));
        process.exit(1);
      },
    );
});

const store = new SqliteObjectStore(dataDir);
const events = await startLocalEvents({
  dataDir,
  store,
  webhookUrl: process.env.EVENTS_WEBHOOK_URL || undefined,
  ...(delayMs > 0
    ? {
        beforePublish: async (published) => {
          console.log(`publishing ${published.map((event) => event.id).join(' ')}`);
          await sleep(delayMs);
        },
      }
    : {}),
});
const server = await startLocalServer({
  port: 0,
  store: events.hintStore,
  dataDir,
  renewals: new UnversionedSqliteObjectStore(path.join(dataDir, 'leases')),
  leaseSweepSeconds: Number(process.env.LEASE_SWEEP_SECONDS ?? 10),
});
const caughtUp = await events.caughtUp;
console.log(`caught up ${JSON.stringify(caughtUp)}`);
console.log(`listening on ${server.url}`);
startedWith(async () => {
  await server.close();
  await events.stop();
});
