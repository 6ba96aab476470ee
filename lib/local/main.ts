/** `npm start`: the API on HOST:PORT, from ./.data (DATA_DIR) or from SESSIONS_BUCKET when set. See lib/local/config.ts. */

// Sessions and their versions are readable by this user only (files 0600, directories 0700); set before any store opens.
process.umask(0o077);
// CloudWatch metrics (EMF lines) mean nothing on a workstation; logs stay on.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const { LocalConfigError, readLocalConfig } = await import('./config.ts');
const { startLocalServer, UnauthenticatedNetworkServer } = await import('./server.ts');
const { formatProbeReport, StoreNotSafe } = await import('../storage/probe.ts');
const { DataDirectoryUnusable, EarlierDataDirectory } = await import('../storage/sqlite/index.ts');

let options: ReturnType<typeof readLocalConfig>;
try {
  options = readLocalConfig(process.env);
} catch (error) {
  if (!(error instanceof LocalConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const server = await startLocalServer(options).catch((error: unknown) => {
  // A data directory of an earlier store is refused, never misread or changed; the message names the fix. So is one that cannot be written.
  if (error instanceof UnauthenticatedNetworkServer || error instanceof EarlierDataDirectory || error instanceof DataDirectoryUnusable) {
    console.error(error.message);
    process.exit(2);
  }
  if (error instanceof StoreNotSafe) {
    console.error(`refusing to serve from s3://${error.report.bucket}: it does not enforce the conditional writes sessions rely on\n`);
    console.error(formatProbeReport(error.report));
    process.exit(1);
  }
  throw error;
});
const auth = options.tokens?.length
  ? `bearer tokens: ${options.tokens.map((token) => token.label).join(', ')}`
  : 'no authentication, loopback only';
console.log(`runner-sessions listening on ${server.url} (sessions in ${server.storage}; ${auth}); Ctrl-C to stop`);

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
