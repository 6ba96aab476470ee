/** `npm start`: the API on HOST:PORT, from ./.data (DATA_DIR) or from SESSIONS_BUCKET when set. */

// CloudWatch metrics (EMF lines) mean nothing on a workstation; logs stay on.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const { startLocalServer } = await import('./server.ts');

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const bucket = process.env.SESSIONS_BUCKET?.trim() || undefined;
const leasesBucket = process.env.LEASES_BUCKET?.trim() || undefined;
const sweepSeconds = Number(process.env.LEASE_SWEEP_SECONDS ?? 10);
if (!Number.isInteger(sweepSeconds) || sweepSeconds < 0) {
  console.error(`LEASE_SWEEP_SECONDS must be a whole number of seconds, got ${JSON.stringify(process.env.LEASE_SWEEP_SECONDS)}`);
  process.exit(2);
}

const server = await startLocalServer({
  host: process.env.HOST ?? '127.0.0.1',
  port,
  ...(bucket === undefined ? {} : { bucket }),
  ...(leasesBucket === undefined ? {} : { leasesBucket }),
  leaseSweepSeconds: sweepSeconds,
  ...(process.env.DATA_DIR === undefined ? {} : { dataDir: process.env.DATA_DIR }),
});
console.log(`runner-sessions listening on ${server.url} (sessions in ${server.storage}); Ctrl-C to stop`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`error while stopping: ${String(error)}`);
        process.exit(1);
      },
    );
  });
}
