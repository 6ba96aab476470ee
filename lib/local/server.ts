import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { API_ROUTES, routeHandler } from '../routes.ts';
import { LeaseSweeper } from '../lease-sweeper.ts';
import { dependenciesFor } from '../runtime.ts';
import { MemoryObjectStore } from '../store/memory.ts';
import { FileObjectStore, UnversionedFileObjectStore } from '../store/file/index.ts';
import { isPrunable, type ObjectStore, type PrunableObjectStore } from '../store/port.ts';
import { S3ObjectStore } from '../store/s3.ts';
import { LocalGateway, type Route } from './gateway.ts';

/** The API's OpenAPI 3.1 document, generated from the zod schemas by `npm run openapi`. */
const OPENAPI_DOCUMENT = path.resolve(import.meta.dirname, '../../openapi.json');

export interface LocalServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Serve from this object store. Default: S3 when `bucket` is given, else files in `dataDir`. */
  store?: ObjectStore;
  /** Serve from this S3 bucket (standard credential chain; `AWS_ENDPOINT_URL_S3` for S3-compatible servers). */
  bucket?: string;
  /** Directory of the local file store. Default `./.data`. */
  dataDir?: string;
  /** Where lease renewals live. Default: `leasesBucket` on S3, else a store in `dataDir`. */
  renewals?: PrunableObjectStore;
  /** The S3 bucket (without versioning) for lease renewals when serving from `bucket`. */
  leasesBucket?: string;
  /** Seconds between lease sweeps (also how long a lease must have been expired to be swept); 0: no sweeps. Default 10. */
  leaseSweepSeconds?: number;
}

export interface LocalServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Where the sessions live: a directory or `s3://bucket`. */
  storage: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the HTTP API on `node:http` with the very handlers deployed to
 * Lambda: each request becomes the API Gateway (payload 2.0) event it would be
 * in AWS. Storage is the local file store unless a bucket or store is given.
 */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const { host = '127.0.0.1', port = 3000 } = options;
  const dataDir = path.resolve(options.dataDir ?? '.data');
  const store = options.store ?? (options.bucket ? new S3ObjectStore({ bucket: options.bucket }) : new FileObjectStore(dataDir));
  const storage = options.store ? 'custom store' : options.bucket ? `s3://${options.bucket}` : dataDir;
  const renewals = options.renewals ?? localRenewals(options, dataDir);
  const dependencies = dependenciesFor(store, undefined, renewals);
  const sweeps = startSweeps(new LeaseSweeper({ repository: dependencies.repository, graceSeconds: options.leaseSweepSeconds ?? 10 }), options.leaseSweepSeconds ?? 10);

  const routes: Route[] = API_ROUTES.map((route) => ({ routeKey: route.routeKey, handler: routeHandler(route, dependencies) }));
  const openApi = await readFile(OPENAPI_DOCUMENT, 'utf-8');
  routes.push({
    routeKey: 'GET /openapi.json',
    handler: async () => ({ statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: openApi }),
  });
  const gateway = new LocalGateway(routes);
  const server = createServer(gateway.listener);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  return {
    url,
    storage,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        sweeps.stop();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The lease renewal store of a local server: the leases bucket on S3, else beside the sessions. */
function localRenewals(options: LocalServerOptions, dataDir: string): PrunableObjectStore {
  if (options.leasesBucket) return new S3ObjectStore({ bucket: options.leasesBucket });
  if (options.bucket) return new S3ObjectStore({ bucket: options.bucket });
  // A store given by the caller (tests) gets renewals of the same lifetime: in memory.
  if (options.store) return isPrunable(options.store) ? options.store : new MemoryObjectStore();
  return new UnversionedFileObjectStore(path.join(dataDir, 'leases'));
}

/** Sweeps expired leases every `seconds` (never two at once), until stopped. */
function startSweeps(sweeper: LeaseSweeper, seconds: number): { stop(): void } {
  if (seconds <= 0) return { stop: () => {} };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweeper
      .sweep()
      .then((report) => {
        if (report.expired.length > 0) console.log(JSON.stringify({ level: 'INFO', message: 'leases expired', sessions: report.expired }));
      })
      .catch((error: unknown) => console.error(JSON.stringify({ level: 'ERROR', message: 'lease sweep failed', error: String(error) })))
      .finally(() => {
        running = false;
      });
  }, seconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
