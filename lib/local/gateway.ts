import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { InvalidRequest, PayloadTooLarge, type ServiceError } from '../domain/errors.ts';
import type { Caller } from '../domain/owner.ts';
import { MethodNotAllowed, RouteNotFound, type RoutingError } from '../http/errors.ts';
import { JSON_CONTENT_TYPE } from '../http/responses.ts';
import { type AccessPolicy, LOCAL_CALLER } from './access.ts';
import { withRequestDeadline } from './deadline.ts';
import type { LocalRefusal } from './refusals.ts';

/** A Lambda handler for API Gateway HTTP API (payload format 2.0) events. */
export type GatewayHandler = (event: APIGatewayProxyEventV2WithIAMAuthorizer, context: Context) => Promise<unknown>;

/** A route as API Gateway declares it: `METHOD /path/{param}`. */
export interface GatewayRoute {
  routeKey: string;
  handler: GatewayHandler;
}

interface CompiledGatewayRoute extends GatewayRoute {
  method: string;
  pattern: RegExp;
  params: string[];
}

/** Bodies larger than this are refused before a handler sees them, as API Gateway refuses > 10 MB. */
const MAX_READ_BYTES = 1024 * 1024;

/** How long a request's body may take to arrive once its headers have, at most. */
export const BODY_TIMEOUT_MS = 10_000;

/** How long a handler has, as a Lambda function's timeout: 30 s unless told otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Something served beside the API: answers the request and returns true, or returns false to leave it to the routes. */
export type Mount = (request: IncomingMessage, response: ServerResponse) => boolean;

export interface LocalGatewayOptions {
  /** Served before the routes, after the access checks. */
  mounts?: readonly Mount[];
  /** Who the handlers see as the caller when there is no `access` policy. Default `local`, an operator. */
  caller?: Caller;
  /** Host, token, origin and media-type checks made before any route runs. Default: none (tests). */
  access?: AccessPolicy;
  /** The deadline of each handler call (its Lambda context's remaining time). */
  requestTimeoutMs?: number;
  /** How long a body may take to arrive; past it the request is answered 408 and its connection closed. Default 10 s. */
  bodyTimeoutMs?: number;
  /** Told of each connection that carried an admitted request (a valid token, or any caller without tokens). */
  onAdmitted?: (request: IncomingMessage) => void;
}

/**
 * A small stand-in for API Gateway (HTTP API, IAM authorizer): it matches a
 * request to a route, turns it into the payload 2.0 event that API Gateway
 * would send, calls the route's Lambda handler, and writes the handler's
 * result back. The caller, set as the IAM principal API Gateway's authorizer
 * would name, is the label of the request's bearer token, else `local`; its
 * owner and whether it is an operator ride in `requestContext.authorizer.local`,
 * which only the local server's handlers read (lib/http/event.ts `localCaller`).
 */
export class LocalGateway {
  readonly #routes: CompiledGatewayRoute[];
  readonly #caller: Caller;
  readonly #access: AccessPolicy | undefined;
  readonly #mounts: readonly Mount[];
  readonly #requestTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #onAdmitted: (request: IncomingMessage) => void;

  constructor(
    routes: GatewayRoute[],
    {
      caller = LOCAL_CALLER,
      access,
      requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
      bodyTimeoutMs = Math.min(BODY_TIMEOUT_MS, requestTimeoutMs),
      mounts = [],
      onAdmitted = () => {},
    }: LocalGatewayOptions = {},
  ) {
    this.#routes = routes.map(compile);
    this.#mounts = mounts;
    this.#caller = caller;
    this.#access = access;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#bodyTimeoutMs = bodyTimeoutMs;
    this.#onAdmitted = onAdmitted;
  }

  /** A `node:http` request listener. */
  readonly listener = (request: IncomingMessage, response: ServerResponse): void => {
    this.#serve(request, response).catch((error: unknown) => {
      console.error(JSON.stringify({ level: 'ERROR', message: 'local gateway failure', error: String(error) }));
      if (!response.headersSent)
        send(response, 500, { 'content-type': 'application/json' }, JSON.stringify({ message: 'Internal Server Error' }));
      else response.destroy();
    });
  };

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const target = request.url ?? '';
    const method = (request.method ?? 'GET').toUpperCase();
    // Refused before its body is read, and its connection closed: a refused caller holds no slot while it trickles a body.
    // `//host/path` would parse as an authority and `http://…` is proxy form: API Gateway sees neither as a path.
    if (!target.startsWith('/') || target.startsWith('//')) {
      return refuse(response, InvalidRequest.field('path', 'the request target must be a path starting with a single /'), true);
    }
    // Node keeps the first of two Host lines; a proxy in front may have routed by the second.
    if ((request.headersDistinct.host?.length ?? 0) > 1)
      return refuse(response, InvalidRequest.field('headers.host', 'must be sent once'), true);
    const admitted = this.#access === undefined ? { caller: this.#caller } : this.#access.admit(method, request.headers);
    if (!('caller' in admitted)) return refuse(response, admitted, true);
    this.#onAdmitted(request);
    // Pages served beside the API (the console) pass the same Host, token and origin checks.
    if (this.#mounts.some((mount) => mount(request, response))) return;
    const url = new URL(target, 'http://localhost');
    const match = this.#match(method, url.pathname);
    if (Number(request.headers['content-length'] ?? 0) > MAX_READ_BYTES) return refuse(response, new PayloadTooLarge(MAX_READ_BYTES), true);
    const body = await readBody(request, this.#bodyTimeoutMs);
    if (body === 'too large') return refuse(response, new PayloadTooLarge(MAX_READ_BYTES), true);
    if (body === 'too slow') return refuse(response, new BodyTimeout(this.#bodyTimeoutMs), true);
    if (!('route' in match)) return refuse(response, match);
    const requestId = randomUUID();
    const deadline = Date.now() + this.#requestTimeoutMs;
    const event = this.#event(request, url, method, match.route.routeKey, match.params, body, requestId, admitted.caller);
    const context = lambdaContext(match.route.routeKey, requestId, deadline);
    const result = normalise(await withRequestDeadline(deadline, () => match.route.handler(event, context)));
    const headers: Record<string, string | string[]> = { ...result.headers, 'apigw-requestid': requestId };
    if (result.cookies?.length) headers['set-cookie'] = result.cookies;
    const payload = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
    send(response, result.statusCode ?? 200, headers, payload);
  }

  /** The route for `method` on `path`, else why there is none: no route has the path (404), or none with this method (405). */
  #match(method: string, path: string): { route: CompiledGatewayRoute; params: Record<string, string> } | RoutingError {
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const found = route.pattern.exec(path);
      if (found === null) continue;
      if (route.method !== method) {
        if (!allowed.includes(route.method)) allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.params.forEach((name, index) => {
        params[name] = decodeSegment(found[index + 1]!);
      });
      return { route, params };
    }
    return allowed.length > 0 ? new MethodNotAllowed(method, path, allowed) : new RouteNotFound(method, path);
  }

  #event(
    request: IncomingMessage,
    url: URL,
    method: string,
    routeKey: string,
    pathParameters: Record<string, string>,
    body: Buffer,
    requestId: string,
    { actor = LOCAL_CALLER.actor!, owner, operator }: Caller,
  ): APIGatewayProxyEventV2WithIAMAuthorizer {
    const headers: Record<string, string> = {};
    const cookies: string[] = [];
    // Each line as sent (node would join some with ", " and drop others): API Gateway joins repeats with ",".
    for (const [name, values] of Object.entries(request.headersDistinct)) {
      if (values === undefined) continue;
      if (name === 'cookie') cookies.push(...values.flatMap((value) => value.split(/;\s*/)));
      else headers[name] = values.join(',');
    }
    // No prototype: `__proto__` and `constructor` stay parameters, for the route's schema to refuse as unknown.
    const query: Record<string, string> = Object.create(null);
    for (const [name, value] of url.searchParams) query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
    const text = body.toString('utf-8');
    const isText = Buffer.from(text, 'utf-8').equals(body);
    const now = new Date();
    return {
      version: '2.0',
      routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      ...(cookies.length > 0 ? { cookies } : {}),
      headers,
      ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
      ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
      ...(body.length > 0 ? { body: isText ? text : body.toString('base64') } : {}),
      isBase64Encoded: body.length > 0 && !isText,
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        domainName: headers.host ?? 'localhost',
        domainPrefix: 'local',
        http: {
          method,
          path: url.pathname,
          protocol: `HTTP/${request.httpVersion}`,
          sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId,
        routeKey,
        stage: '$default',
        time: now.toUTCString(),
        timeEpoch: now.getTime(),
        authorizer: {
          iam: {
            accessKey: 'LOCAL',
            accountId: '000000000000',
            callerId: actor,
            cognitoIdentity: null as never,
            principalOrgId: null as never,
            userArn: actor,
            userId: actor,
          },
          // Whose request it is to the ownership rules: built here from the token, never from what the client sent.
          local: { owner, operator },
        },
      },
    } as APIGatewayProxyEventV2WithIAMAuthorizer;
  }
}

function compile(route: GatewayRoute): CompiledGatewayRoute {
  const [method, path] = route.routeKey.split(' ');
  if (method === undefined || path === undefined) throw new Error(`bad route key ${route.routeKey}`);
  const params: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param === null) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { ...route, method, pattern: new RegExp(`^${source}/?$`), params };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The request body; `too large` as soon as it passes `MAX_READ_BYTES`, `too slow` when it has not
 * arrived whole within `timeoutMs`. Either way the rest is discarded as it comes, until the connection closes.
 */
function readBody(request: IncomingMessage, timeoutMs: number): Promise<Buffer | 'too large' | 'too slow'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | 'too large' | 'too slow') => {
      clearTimeout(timer);
      request.off('data', collect);
      request.resume();
      resolve(result);
    };
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_READ_BYTES) done('too large');
      else chunks.push(chunk);
    };
    const timer = setTimeout(() => done('too slow'), timeoutMs);
    request.on('data', collect);
    request.once('end', () => done(Buffer.concat(chunks)));
    request.once('error', () => done('too slow'));
  });
}

/** A body that did not arrive whole in time (408); its connection is closed. */
class BodyTimeout extends Error {
  readonly code = 'request_timeout';
  readonly statusCode = 408;
  readonly details: Record<string, unknown>;
  constructor(timeoutMs: number) {
    super(`the request body did not arrive whole within ${timeoutMs} ms`);
    this.details = { timeout_ms: timeoutMs };
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** Answers with `error` in the contract's error shape; `close` ends the connection after it, its body unread. */
function refuse(response: ServerResponse, error: RoutingError | LocalRefusal | ServiceError | BodyTimeout, close = false): void {
  const headers = 'headers' in error && typeof error.headers === 'function' ? error.headers() : {};
  send(
    response,
    error.statusCode,
    { 'content-type': JSON_CONTENT_TYPE, ...headers, ...(close ? { connection: 'close' } : {}) },
    JSON.stringify(error.toJSON()),
  );
}

/** A handler may return a structured result or, as API Gateway allows, any JSON value. */
function normalise(result: unknown): APIGatewayProxyStructuredResultV2 {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) return result as APIGatewayProxyStructuredResultV2;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
}

function send(
  response: ServerResponse,
  status: number,
  headers: Record<string, string | string[] | number | boolean>,
  body: string | Buffer,
): void {
  response.writeHead(status, Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, typeof v === 'boolean' ? String(v) : v])));
  response.end(body);
}

function lambdaContext(functionName: string, awsRequestId: string, deadline: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `local ${functionName}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:runner-sessions-local',
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: '/local/runner-sessions',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
