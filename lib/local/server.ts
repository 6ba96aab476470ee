import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { consoleHandler } from '../console/serve.ts';
import { dependenciesFor } from '../http/dependencies.ts';
import { localCaller } from '../http/event.ts';
import { API_ROUTES, routeHandler } from '../http/route-table.ts';
import { MemoryObjectStore } from '../storage/memory.ts';
import { isPrunable, type ObjectStore, type PrunableObjectStore } from '../storage/port.ts';
import { assertStoreSafe } from '../storage/probe.ts';
import { S3ObjectStore } from '../storage/s3.ts';
import { openSqliteStores } from '../storage/sqlite/index.ts';
import { LeaseSweeper } from '../workers/lease-sweeper.ts';
import { AccessPolicy, type AccessToken, isLoopbackHost } from './access.ts';
import { answerClientError } from './client-error.ts';
import { DEFAULT_MAX_CONNECTIONS, LOCAL_LEASE_SWEEP_SECONDS } from './config.ts';
import { deadlineBoundStore } from './deadline.ts';
import { startLocalEvents } from './events.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, type GatewayRoute, LocalGateway } from './gateway.ts';
import { TooManyConnections } from './refusals.ts';

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
  /** Directory of the local SQLite store (`sessions.sqlite`). Default `./.data`. */
  dataDir?: string;
  /** Where lease renewals live. Default: `leasesBucket` on S3, else a store in `dataDir`. */
  renewals?: PrunableObjectStore;
  /** The S3 bucket (without versioning) for lease renewals when serving from `bucket`. */
  leasesBucket?: string;
  /** Seconds between lease sweeps (also how long a lease must have been expired to be swept); 0: no sweeps. Default 10. */
  leaseSweepSeconds?: number;
  /** Bearer tokens callers must present; none: no authentication, and only a loopback `host` is allowed. */
  tokens?: readonly AccessToken[];
  /** Names the server is reached by besides loopback and `host` (a `Host` header must be one of them, with the port). */
  hostNames?: readonly string[];
  /** Open connections served at once; past it a connection gets a 503 and is closed. Default 256. */
  maxConnections?: number;
  /** Each request's deadline, headers and body included. Default 30 s. */
  requestTimeoutMs?: number;
  /** POST every event of `DATA_DIR/events.jsonl` to this URL, in order, retried with backoff (`EVENTS_WEBHOOK_URL`). */
  eventsWebhookUrl?: string | undefined;
  /** Serve the operator console at `/console`. Default true. */
  console?: boolean;
  /** Probe an S3 bucket for conditional writes before serving from it (lib/storage/probe.ts). Default true. */
  probe?: boolean;
}

/** A local server that would be reachable from other machines with nobody asked who they are. */
export class UnauthenticatedNetworkServer extends Error {
  override readonly name = 'UnauthenticatedNetworkServer';
  constructor(host: string) {
    super(
      `refusing to listen on ${host} without authentication: anyone who can reach it could change every session. ` +
        'Set LOCAL_TOKEN to a secret of 16 or more characters (or LOCAL_TOKEN_FILE to a file of label:token lines), ' +
        'or listen on 127.0.0.1 (HOST unset).',
    );
  }
}

export interface LocalServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Where the sessions live: a directory or `s3://bucket`. */
  storage: string;
  /** The HTTP server; connections reach it through a listener that holds them to the connection cap. */
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the HTTP API on `node:http` with the very handlers deployed to
 * Lambda: each request becomes the API Gateway (payload 2.0) event it would be
 * in AWS. Storage is the local SQLite store unless a bucket or store is given;
 * a bucket is probed for conditional writes first.
 *
 * Before any route runs, a request must name this server in `Host`, carry a
 * bearer token when `tokens` are given, and, to change state, come from no
 * other origin and with no media type but JSON (lib/local/access.ts).
 * @throws UnauthenticatedNetworkServer for a non-loopback `host` without tokens.
 * @throws StoreNotSafe when the bucket does not enforce conditional writes.
 */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const {
    host = '127.0.0.1',
    port = 3000,
    tokens = [],
    maxConnections = DEFAULT_MAX_CONNECTIONS,
    requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  } = options;
  if (!isLoopbackHost(host) && tokens.length === 0) throw new UnauthenticatedNetworkServer(host);
  if (options.bucket && !options.store && options.probe !== false) await assertStoreSafe({ bucket: options.bucket });
  const dataDir = path.resolve(options.dataDir ?? '.data');
  // A write waits at most a sixth of the deadline for a key's lock, and none starts within twice that of the deadline.
  const lockTimeoutMs = Math.max(100, Math.floor(requestTimeoutMs / 6));
  const local = options.store || options.bucket ? undefined : openSqliteStores(dataDir, { busyTimeoutMs: lockTimeoutMs });
  const sessions = options.store ?? local?.sessions ?? new S3ObjectStore({ bucket: options.bucket! });
  // Events are derived from the stored versions (lib/workers/announcer.ts); a store given by the caller brings its own, or none.
  // Serving from S3 the data directory holds only the events and their cursors: it may not exist yet.
  if (!options.store) await mkdir(dataDir, { recursive: true });
  const events = options.store
    ? undefined
    : await startLocalEvents({ dataDir, store: sessions, webhookUrl: options.eventsWebhookUrl, ...(local && { cursors: local.state }) });
  const store = deadlineBoundStore(events?.hintStore ?? sessions, { reserveMs: 2 * lockTimeoutMs });
  const storage = options.store ? 'custom store' : options.bucket ? `s3://${options.bucket}` : dataDir;
  const renewals = options.renewals ?? local?.state ?? localRenewals(options);
  const dependencies = { ...dependenciesFor(store, renewals), callers: localCaller };
  const sweepSeconds = options.leaseSweepSeconds ?? LOCAL_LEASE_SWEEP_SECONDS;
  const sweeps = startSweeps(new LeaseSweeper({ repository: dependencies.repository, graceSeconds: sweepSeconds }), sweepSeconds);
  // Sessions stored before the status index get their entries while the server serves (status listings scan meanwhile).
  const backfill = dependencies.repository.backfillStatusIndex().catch((error: unknown) => {
    console.error(
      JSON.stringify({ level: 'WARN', message: 'status index backfill stopped; it runs again at the next start', error: String(error) }),
    );
  });

  const routes: GatewayRoute[] = API_ROUTES.map((route) => ({ routeKey: route.routeKey, handler: routeHandler(route, dependencies) }));
  const openApi = await readFile(OPENAPI_DOCUMENT, 'utf-8');
  routes.push({
    routeKey: 'GET /openapi.json',
    handler: async () => ({ statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: openApi }),
  });
  // Idle or trickling sockets must not keep slots for long: headers within 10 s, a whole request within its deadline.
  const headersTimeout = Math.min(10_000, requestTimeoutMs);
  const server = createHttpServer({
    headersTimeout,
    requestTimeout: requestTimeoutMs + 1_000,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 1_000,
  });
  // A socket silent that long is closed, unless its request is being answered (requestTimeout bounds that).
  server.timeout = headersTimeout;
  server.on('request', (_, response: ServerResponse) => response.on('timeout', () => {}));
  server.on('clientError', answerClientError);
  const listener = createNetServer((socket) => admitConnection(socket, server, maxConnections));
  listener.listen(port, host);
  await once(listener, 'listening');
  const address = listener.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const access = new AccessPolicy({
    names: [host, ...(options.hostNames ?? []), ...(isWildcard(host) ? machineNames() : [])],
    port: address.port,
    tokens,
  });
  // The operator console, same origin as the API; its live view streams the events file the announcer appends to.
  const mounts = options.console === false ? [] : [consoleHandler({ eventsFile: path.join(dataDir, 'events.jsonl') })];
  const onAdmitted = (request: IncomingMessage) => proven.add(request.socket);
  server.on('request', new LocalGateway(routes, { access, requestTimeoutMs, mounts, onAdmitted }).listener);

  return {
    url,
    storage,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        sweeps.stop();
        listener.close((error) => (error ? reject(error) : backfill.then(() => events?.stop() ?? Promise.resolve()).then(resolve, reject)));
        server.closeAllConnections();
        for (const socket of sockets.get(server) ?? []) socket.destroy();
      }),
  };
}

/** The lease renewal store of a local server: the leases bucket on S3, else beside the sessions. */
function localRenewals(options: LocalServerOptions): PrunableObjectStore {
  if (options.leasesBucket) return new S3ObjectStore({ bucket: options.leasesBucket });
  if (options.bucket) return new S3ObjectStore({ bucket: options.bucket });
  // A store given by the caller (tests) gets renewals of the same lifetime: in memory.
  return options.store && isPrunable(options.store) ? options.store : new MemoryObjectStore();
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

/** The open sockets of each server, counted against its connection cap. */
const sockets = new WeakMap<Server, Set<Socket>>();

/** Sockets that carried an admitted request (a valid token): at the cap, only the others give way to a new connection. */
const proven = new WeakSet<Socket>();

/**
 * Hands `socket` to `server`. Past `limit` open connections the oldest one
 * that has not carried an admitted request is closed to make room (callers
 * without a valid token cannot hold every slot); when every one has, the
 * new connection is answered 503 and closed.
 */
function admitConnection(socket: Socket, server: Server, limit: number): void {
  let open = sockets.get(server);
  if (open === undefined) {
    open = new Set();
    sockets.set(server, open);
  }
  if (open.size >= limit) {
    let unproven: Socket | undefined;
    for (const candidate of open) {
      if (!proven.has(candidate)) {
        unproven = candidate;
        break;
      }
    }
    if (unproven !== undefined) {
      open.delete(unproven);
      unproven.destroy();
    }
  }
  if (open.size >= limit) {
    const refusal = new TooManyConnections(limit);
    const body = JSON.stringify(refusal.toJSON());
    const head = [
      `HTTP/1.1 ${refusal.statusCode} Service Unavailable`,
      'Content-Type: application/json; charset=utf-8',
      'Retry-After: 1',
      'Connection: close',
    ];
    socket.on('error', () => {});
    socket.end(`${head.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    socket.setTimeout(1_000, () => socket.destroy());
    return;
  }
  open.add(socket);
  socket.once('close', () => open.delete(socket));
  server.emit('connection', socket);
}

/** `0.0.0.0` and `::` listen on every interface. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** The names a server on every interface may be reached by: the host name and each interface's address. */
function machineNames(): string[] {
  const addresses = Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
  return [hostname(), ...addresses];
}
