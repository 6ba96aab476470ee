import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Caller as SessionCaller } from '../domain/owner.ts';
import type { SessionRepository } from '../sessions/repository.ts';
import { type CallerResolver, type HttpEvent, iamCaller } from './event.ts';
import { completed, requestKeys, requestOutcome } from './outcome.ts';
import { jsonRequestBody } from './request-body.ts';
import { minimalResponse, prefersMinimal, type RouteResponse } from './responses.ts';
import { logger, metrics } from './telemetry.ts';
import { parseRequest, type RequestInput, type RequestSchemas } from './validation.ts';

/** What a route knows about the call besides its validated input: who calls (the principal, its owner, whether an operator). */
export interface Caller extends SessionCaller {
  /** Aborted just before the invocation's deadline (middy's early timeout): work that reads on should stop. */
  signal?: AbortSignal | undefined;
}

/** What a route's handler is built over; the Lambda entry, the local server and the tests each build their own. */
export interface RouteDependencies {
  /** The session operations on the store the handler serves from. */
  readonly repository: SessionRepository;
  /** Who calls, from the event. Default: API Gateway's IAM authorizer, with the operators of the repository's config. */
  readonly callers?: CallerResolver | undefined;
}

/** A route's own work: validated input in, one answer out. Errors are thrown, typed (`ServiceError`). */
export type RouteHandler<Input> = (input: Input, caller: Caller) => Promise<RouteResponse>;

/** The Lambda handler of one route, as API Gateway (payload 2.0) and the local server call it. */
export type HttpHandler = middy.MiddyfiedHandler<HttpEvent, APIGatewayProxyStructuredResultV2>;

/**
 * The Lambda handler for one route, behind the middleware chain every route
 * shares, in order: Powertools logger context and metrics flushing, the
 * request outcome (log keys, error → response), header normalisation, the
 * JSON body (413, 415, malformed → 400), then validation of path, query,
 * headers and body against the route's schemas (400 naming each bad field)
 * before `handle` runs.
 *
 * @param route - The route key (`POST /sessions/{id}/jobs`), as logged.
 */
export function httpRoute<S extends RequestSchemas>(
  route: string,
  schemas: S,
  handle: RouteHandler<RequestInput<S>>,
  callers: CallerResolver = iamCaller(new Set()),
): HttpHandler {
  return middy<HttpEvent, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(requestOutcome(route))
    .use(httpHeaderNormalizer())
    .use(jsonRequestBody())
    .handler(async (event, context, { signal }) => {
      const input = parseRequest(schemas, {
        path: event.pathParameters ?? {},
        query: event.queryStringParameters ?? {},
        headers: event.headers ?? {},
        body: event.body,
      });
      const response = await handle(input, { ...callers(event), signal });
      // Every change may answer small (RFC 7240): what one append sends back must not grow with the session.
      const minimal = !route.startsWith('GET ') && prefersMinimal(event.headers ?? {});
      return completed(minimal ? minimalResponse(response) : response, requestKeys(route, event, context));
    });
}
