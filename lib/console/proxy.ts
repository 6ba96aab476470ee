/**
 * The operator console for a deployed API: a loopback-only web server that
 * serves the console page and forwards its API calls to the deployed API,
 * signed with SigV4 for API Gateway's IAM authorizer using the operator's
 * own AWS credentials. The browser talks only to this server and never holds
 * a credential.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream/promises';
import { SessionsConfigError } from '../client/errors.ts';
import { type AwsCredentials, type AwsCredentialsProvider, RequestSigner, resolveRegion } from '../client/signing.ts';
import { InternalError, PayloadTooLarge, type ServiceError } from '../domain/errors.ts';
import { RouteNotFound } from '../http/errors.ts';
import { JSON_CONTENT_TYPE } from '../http/responses.ts';
import { AccessPolicy, isLoopbackHost } from '../local/access.ts';
import { BadGateway, type LocalRefusal } from '../local/refusals.ts';
import { consoleHandler } from './serve.ts';

/** The largest request body forwarded: the API's own bodies are a few hundred bytes. */
export const MAX_PROXY_BODY_BYTES = 16 * 1024;

/** How long the deployed API has to answer one forwarded call. */
const UPSTREAM_TIMEOUT_MS = 30_000;

/** The request headers the API reads; every other one (cookies, the browser's own) stays here. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'if-match', 'lease-epoch', 'idempotency-key', 'prefer'];

/** The answer headers the page reads. */
const RETURNED_RESPONSE_HEADERS = ['content-type', 'etag', 'retry-after', 'location', 'preference-applied'];

export interface ConsoleProxyOptions {
  /** The deployed API, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com` (a stage path is kept). */
  url: string;
  /** The port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /** A loopback address or `localhost`. Default `127.0.0.1`. */
  host?: string;
  /** Default: the standard AWS credential chain. */
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
  /** Default: the region the execute-api hostname names, else `AWS_REGION`. */
  region?: string | undefined;
  fetch?: typeof globalThis.fetch | undefined;
}

/** A running console proxy. */
export interface ConsoleProxy {
  /** Where it listens, e.g. `http://127.0.0.1:8080`; the page is at `${url}/console`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the console proxy. Every request must name the proxy itself in
 * `Host` (421 otherwise, against DNS rebinding), and a state-changing one
 * must not come from another origin (403) and must be JSON (415), as on the
 * local server. `/console…` is the page; `/sessions…` and `/openapi.json`
 * are forwarded, signed even when `url` is loopback; anything else is 404.
 * @throws SessionsConfigError for a non-loopback `host`, a URL that is not http(s), or no region to sign for.
 */
export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  const { port = 8080, host = '127.0.0.1' } = options;
  if (!isLoopbackHost(host)) {
    throw new SessionsConfigError(`the console proxy listens on loopback only (it signs with your credentials), not ${host}`);
  }
  if (!URL.canParse(options.url)) throw new SessionsConfigError(`'${options.url}' is not a URL`);
  const api = new URL(options.url);
  if (api.protocol !== 'https:' && api.protocol !== 'http:') {
    throw new SessionsConfigError(`the API URL must be http:// or https://, got ${api.protocol}`);
  }
  if (api.username !== '' || api.password !== '') throw new SessionsConfigError('the API URL must not contain a user name or password');
  const upstream = {
    origin: api.origin,
    basePath: api.pathname.replace(/\/+$/, ''),
    signer: new RequestSigner({ region: resolveRegion(api, options.region, process.env), credentials: options.credentials }),
    fetch: options.fetch ?? globalThis.fetch,
  };
  const page = consoleHandler();
  let access: AccessPolicy | undefined;

  const server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      console.error(JSON.stringify({ level: 'ERROR', message: 'console proxy failure', error: upstream.signer.redact(String(error)) }));
      if (!response.headersSent) sendError(response, new InternalError());
      else response.destroy();
    });
  });

  const serve = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const target = request.url ?? '';
    const method = (request.method ?? 'GET').toUpperCase();
    const admitted = access!.admit(method, request.headers);
    if (!('caller' in admitted)) return refuse(request, response, admitted);
    if (!target.startsWith('/') || target.startsWith('//')) {
      return refuse(request, response, new RouteNotFound(method, target));
    }
    if (page(request, response)) return;
    const { pathname } = new URL(target, 'http://localhost');
    if (!isForwarded(pathname)) return refuse(request, response, new RouteNotFound(method, pathname));
    const body = await readBody(request);
    if (body === undefined) return refuse(request, response, new PayloadTooLarge(MAX_PROXY_BODY_BYTES));
    await forward(upstream, { method, target, headers: request.headers, body }, response);
  };

  server.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const bound = (server.address() as AddressInfo).port;
  access = new AccessPolicy({ names: [host], port: bound, tokens: [] });
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostInUrl}:${bound}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface Upstream {
  origin: string;
  basePath: string;
  signer: RequestSigner;
  fetch: typeof globalThis.fetch;
}

interface IncomingCall {
  method: string;
  /** Path and query, as the page sent them. */
  target: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function isForwarded(pathname: string): boolean {
  return pathname === '/sessions' || pathname.startsWith('/sessions/') || pathname === '/openapi.json';
}

/** Sends `call` to the deployed API, signed, and writes its answer back; 502 when there is no answer. */
async function forward(upstream: Upstream, call: IncomingCall, response: ServerResponse): Promise<void> {
  const url = new URL(upstream.basePath + call.target, upstream.origin);
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = call.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const body = call.body === '' && (call.method === 'GET' || call.method === 'HEAD') ? undefined : call.body;
  let answer: Response;
  try {
    const signed = await upstream.signer.sign({ method: call.method, url, headers, body });
    answer = await upstream.fetch(url, {
      method: call.method,
      headers: signed,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = error instanceof SessionsConfigError ? error.message : `the API at ${upstream.origin} could not be reached`;
    console.error(JSON.stringify({ level: 'WARN', message: 'console proxy call failed', error: upstream.signer.redact(String(error)) }));
    return sendError(response, new BadGateway(reason));
  }
  const payload = Buffer.from(await answer.arrayBuffer());
  const returned: Record<string, string> = { 'cache-control': 'no-store' };
  for (const name of RETURNED_RESPONSE_HEADERS) {
    const value = answer.headers.get(name);
    if (value !== null) returned[name] = value;
  }
  response.writeHead(answer.status, returned);
  response.end(call.method === 'HEAD' ? undefined : payload);
}

/** The request body as text, or undefined when it exceeds `MAX_PROXY_BODY_BYTES` (the rest is drained). */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_PROXY_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_PROXY_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf-8');
}

/** Answers with `error` in the contract's error shape, after reading what the caller sent. */
async function refuse(
  request: IncomingMessage,
  response: ServerResponse,
  error: LocalRefusal | RouteNotFound | ServiceError,
): Promise<void> {
  request.resume();
  await finished(request);
  sendError(response, error);
}

/** Answers `error` in the contract's error shape. */
function sendError(response: ServerResponse, error: LocalRefusal | RouteNotFound | ServiceError): void {
  const text = JSON.stringify(error.toJSON());
  response.writeHead(error.statusCode, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
