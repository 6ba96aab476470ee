/**
 * The local server as `npm start` runs it (metrics off, logs on), on a free
 * port over the file store in DATA_DIR, in its own process. Sends
 * `{ "url": … }` to the parent once listening; stops when the parent goes.
 *
 *   node bench/local-throughput/local-server.ts DATA_DIR [LEASE_SWEEP_SECONDS]
 */
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const { startLocalServer } = await import('#lib/local/server.ts');

const dataDir = process.argv[2];
if (dataDir === undefined) {
  console.error('usage: node bench/local-throughput/local-server.ts DATA_DIR');
  process.exit(2);
}
const sweep = process.argv[3];
const server = await startLocalServer({ port: 0, dataDir, ...(sweep === undefined ? {} : { leaseSweepSeconds: Number(sweep) }) });
process.on('disconnect', () => {
  server.close().finally(() => process.exit(0));
});
process.send!({ url: server.url });
