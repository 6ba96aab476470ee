import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { MethodNotAllowed, PayloadTooLarge, RouteNotFound, type RoutingError } from '../errors.ts';
import { JSON_CONTENT_TYPE } from '../http/responses.ts';

/** A Lambda handler for API Gateway HTTP API (payload format 2.0) events. */
export type RouteHandler = (event: APIGatewayProxyEventV2WithIAMAuthorizer, context: Context) => Promise<unknown>;

/** A route as API Gateway declares it: `METHOD /path/{param}`. */
export interface Route {
  routeKey: string;
  handler: RouteHandler;
}

interface CompiledRoute extends Route {
  method: string;
  pattern: RegExp;
  params: string[];
}

/** Bodies larger than this are refused before a handler sees them, as API Gateway refuses > 10 MB. */
const MAX_READ_BYTES = 1024 * 1024;

/**
 * A small stand-in for API Gateway (HTTP API, IAM authorizer): it matches a
 * request to a route, turns it into the payload 2.0 event that API Gateway
 * would send, calls the route's Lambda handler, and writes the handler's
 * result back. The caller is always the IAM principal `local`.
 */
export class LocalGateway {
  readonly #routes: CompiledRoute[];
  readonly #actor: string;

  constructor(routes: Route[], { actor = 'local' }: { actor?: string } = {}) {
    this.#routes = routes.map(compile);
    this.#actor = actor;
  }

  /** A `node:http` request listener. */
  readonly listener = (request: IncomingMessage, response: ServerResponse): void => {
    this.#serve(request, response).catch((error: unknown) => {
      console.error(JSON.stringify({ level: 'ERROR', message: 'local gateway failure', error: String(error) }));
      if (!response.headersSent) send(response, 500, { 'content-type': 'application/json' }, JSON.stringify({ message: 'Internal Server Error' }));
      else response.destroy();
    });
  };

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = (request.method ?? 'GET').toUpperCase();
    const match = this.#match(method, url.pathname);
    const body = await readBody(request);
    if (!('route' in match)) {
      send(response, match.statusCode, { 'content-type': JSON_CONTENT_TYPE, ...match.headers() }, JSON.stringify(match.toJSON()));
      return;
    }
    if (body === undefined) {
      send(response, 413, { 'content-type': JSON_CONTENT_TYPE }, JSON.stringify(new PayloadTooLarge(MAX_READ_BYTES).toJSON()));
      return;
    }
    const requestId = randomUUID();
    const event = this.#event(request, url, method, match.route.routeKey, match.params, body, requestId);
    const result = normalise(await match.route.handler(event, lambdaContext(match.route.routeKey, requestId)));
    const headers: Record<string, string | string[]> = { ...result.headers, 'apigw-requestid': requestId };
    if (result.cookies?.length) headers['set-cookie'] = result.cookies;
    const payload = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
    send(response, result.statusCode ?? 200, headers, payload);
  }

  /** The route for `method` on `path`, else why there is none: no route has the path (404), or none with this method (405). */
  #match(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | RoutingError {
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
  ): APIGatewayProxyEventV2WithIAMAuthorizer {
    const headers: Record<string, string> = {};
    const cookies: string[] = [];
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined) continue;
      if (name === 'cookie') cookies.push(...String(value).split(/;\s*/));
      else headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
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
            callerId: this.#actor,
            cognitoIdentity: null as never,
            principalOrgId: null as never,
            userArn: this.#actor,
            userId: this.#actor,
          },
        },
      },
    } as APIGatewayProxyEventV2WithIAMAuthorizer;
  }
}

function compile(route: Route): CompiledRoute {
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

/** The request body, or undefined when it exceeds `MAX_READ_BYTES` (the rest is drained). */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_READ_BYTES) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

/** A handler may return a structured result or, as API Gateway allows, any JSON value. */
function normalise(result: unknown): APIGatewayProxyStructuredResultV2 {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) return result as APIGatewayProxyStructuredResultV2;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
}

function send(response: ServerResponse, status: number, headers: Record<string, string | string[] | number | boolean>, body: string | Buffer): void {
  response.writeHead(status, Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, typeof v === 'boolean' ? String(v) : v])));
  response.end(body);
}

function lambdaContext(functionName: string, awsRequestId: string): Context {
  const deadline = Date.now() + 30_000;
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
