import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { HttpEvent } from '#lib/http/event.ts';
import { API_ROUTES, type OperationId, type TableRoute } from '#lib/http/route-table.ts';

/** The IAM principal the factory signs requests as, unless told otherwise. */
export const TEST_CALLER = 'arn:aws:sts::123456789012:assumed-role/runner/session-test';

export interface EventInit {
  /** A JSON value (sent with `content-type: application/json`) or a raw string body. */
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  isBase64Encoded?: boolean;
  /** The signing IAM principal; null for an event without an authorizer. */
  caller?: string | null;
}

/**
 * An API Gateway HTTP API event (payload format 2.0) for `routeKey`, as the
 * IAM authorizer delivers it. `rawPath` fills `{param}` from `pathParameters`.
 */
export function apiEvent(routeKey: string, pathParameters: Record<string, string> = {}, init: EventInit = {}): HttpEvent {
  const [method = 'GET', template = '/'] = routeKey.split(' ');
  const rawPath = template.replace(/\{(\w+)\}/g, (_, name: string) => pathParameters[name] ?? '');
  const raw = init.body === undefined || typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers: Record<string, string> = {
    host: 'api.example.test',
    'user-agent': 'runner-sessions-test',
    ...(raw !== undefined && typeof init.body !== 'string' ? { 'content-type': 'application/json' } : {}),
    ...init.headers,
  };
  const caller = init.caller === undefined ? TEST_CALLER : init.caller;
  const query = init.query ?? {};
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: new URLSearchParams(query).toString(),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(raw === undefined ? {} : { body: raw }),
    isBase64Encoded: init.isBase64Encoded ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'testapi',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'runner-sessions-test' },
      requestId: `apigw-${randomUUID()}`,
      routeKey,
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1_767_225_600_000,
      ...(caller === null
        ? {}
        : {
            authorizer: {
              iam: {
                accessKey: 'ASIATESTACCESSKEY',
                accountId: '123456789012',
                callerId: 'AROATESTCALLER:session-test',
                principalOrgId: 'o-test',
                userArn: caller,
                userId: 'AROATESTCALLER:session-test',
              },
            },
          }),
    },
  };
}

/** The names of the `{param}` placeholders of a path, in order. */
type PathParameters<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}` ? [Name, ...PathParameters<Rest>] : [];

/** One string argument per path parameter. */
type PathArguments<Names extends string[]> = { [Index in keyof Names]: string };

/** The event factory of one route: its path parameters, then its query when it takes one, then the rest of the event. */
type EventFactory<Route extends TableRoute> = (
  ...args: [
    ...PathArguments<PathParameters<Route['routeKey']>>,
    ...(Route['request'] extends { query: unknown } ? [query?: Record<string, string>] : []),
    init?: EventInit,
  ]
) => HttpEvent;

/** Events for the routes of the contract, by operation ID: `request.addJob(id, { body })`, `request.listSessions({ limit: '5' })`. */
export type RouteEvents = { [Id in OperationId]: EventFactory<Extract<TableRoute, { docs: { operationId: Id } }>> };

function eventFactory(route: TableRoute): (...args: unknown[]) => HttpEvent {
  const names = [...route.routeKey.matchAll(/\{(\w+)\}/g)].map(([, name]) => name!);
  const takesQuery = 'query' in route.request;
  return (...args) => {
    const pathParameters = Object.fromEntries(names.map((name, index) => [name, args[index] as string]));
    const query = takesQuery ? (args[names.length] as Record<string, string> | undefined) : undefined;
    const init = args[names.length + (takesQuery ? 1 : 0)] as EventInit | undefined;
    return apiEvent(route.routeKey, pathParameters, { ...init, ...(query ? { query } : {}) });
  };
}

/** Events for the routes of the contract, built from the route table. */
export const request = Object.fromEntries(API_ROUTES.map((route) => [route.docs.operationId, eventFactory(route)])) as RouteEvents;

/** A Lambda context as the runtime passes it. */
export function lambdaContext(functionName = 'runner-sessions-test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `lambda-${randomUUID()}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]test',
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** A handler's answer with its JSON body parsed and its header names as sent. */
export interface ApiResponse<T = any> {
  statusCode: number;
  headers: Record<string, string>;
  body: T;
  raw: string;
}

type Handler = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Calls `handler` as Lambda would and parses what it answers. */
export async function invoke<T = any>(handler: Handler, event: HttpEvent): Promise<ApiResponse<T>> {
  const result = await handler(event, lambdaContext());
  const raw = typeof result.body === 'string' ? result.body : '';
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)]));
  return { statusCode: result.statusCode ?? 0, headers, body: raw === '' ? undefined : JSON.parse(raw), raw };
}
