import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ConflictRetry, InternalError, ServiceError } from '../errors.ts';
import { isSessionId } from '../ids.ts';
import { callerOf, requestIdOf, type HttpEvent } from './event.ts';
import { errorResult, httpResult, type RouteResponse } from './responses.ts';
import { logger, recordChange, recordError, recordExhaustedChange } from './telemetry.ts';

/**
 * What identifies a request on its log lines: `route`, `request_id` (API
 * Gateway's), `actor` when known, `session_id` when the path names a valid one.
 */
export function requestKeys(route: string, event: HttpEvent, context: Pick<Context, 'awsRequestId'>): LogAttributes {
  const actor = callerOf(event);
  const sessionId = event.pathParameters?.id;
  return {
    route,
    request_id: requestIdOf(event, context),
    ...(actor === undefined ? {} : { actor }),
    ...(isSessionId(sessionId) ? { session_id: sessionId } : {}),
  };
}

/**
 * Puts the request's keys on every log line of the request and turns any
 * error into the contract's response: a
 * `ServiceError` as itself, anything else as 500 `internal_error` carrying
 * only the request ID. Each error response is logged once (the full error,
 * cause included, for 5xx) and counted under its code.
 *
 * Its `onError` must run before those of `logMetrics` and
 * `injectLambdaContext`, so it is used after them in the chain.
 */
export function requestOutcome(route: string): MiddlewareObj<HttpEvent, APIGatewayProxyStructuredResultV2> {
  return {
    name: 'requestOutcome',
    before: ({ event, context }) => {
      logger.appendKeys(requestKeys(route, event, context));
    },
    onError: (request) => {
      const { event, context, error } = request;
      const failure = error instanceof ServiceError ? error : new InternalError(requestIdOf(event, context), { cause: error });
      // Keys given again on the outcome line: appended keys are per process, and the local server serves requests concurrently.
      const outcome = { ...requestKeys(route, event, context), status_code: failure.statusCode, outcome: failure.code };
      if (failure.statusCode >= 500) {
        const log = failure instanceof InternalError ? logger.error.bind(logger) : logger.warn.bind(logger);
        // The cause, not the ServiceError: its toJSON() is the response body, which would hide the cause.
        log('request failed', { ...outcome, details: failure.details, ...(failure.cause === undefined ? {} : { error: failure.cause }) });
      } else {
        logger.info('request refused', { ...outcome, details: failure.details });
      }
      if (failure instanceof ConflictRetry) recordExhaustedChange(attemptsOf(failure));
      recordError(failure.code);
      request.response = errorResult(failure);
    },
  };
}

/** The API Gateway result of a route's answer, logged once with the request's keys and its compare-and-swap work counted. */
export function completed(response: RouteResponse, keys: LogAttributes): APIGatewayProxyStructuredResultV2 {
  const { version, statusCode, headers } = response;
  const change = version !== undefined && 'attempts' in version ? version : undefined;
  if (change !== undefined) recordChange(change);
  const replayed = headers?.['Idempotent-Replayed'] === 'true';
  logger.info('request completed', {
    ...keys,
    status_code: statusCode,
    outcome: statusCode === 201 ? 'created' : replayed ? 'replayed' : change === undefined ? 'ok' : change.changed ? 'changed' : 'unchanged',
    ...(version === undefined ? {} : { session_id: version.session.id }),
    ...(change === undefined ? {} : { s3_write_attempts: change.attempts, cas_conflicts: change.conflicts }),
  });
  return httpResult(response);
}

function attemptsOf(error: ConflictRetry): number {
  const { attempts } = error.details;
  return typeof attempts === 'number' ? attempts : 0;
}
