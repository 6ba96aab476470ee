import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { redactCredentials } from '../common/redaction.ts';
import { ConflictRetry, InternalError, ServiceError, StorageUnavailable } from '../domain/errors.ts';
import { isSessionId } from '../domain/ids.ts';
import { StoreFault } from '../storage/port.ts';
import { callerOf, type HttpEvent, requestIdOf } from './event.ts';
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
 * error into the contract's response (see `serviceErrorOf`). Each error
 * response is logged once (the full error, cause included, for 5xx) and
 * counted under its code.
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
      const failure = serviceErrorOf(error, requestIdOf(event, context));
      // Keys given again on the outcome line: appended keys are per process, and the local server serves requests concurrently.
      const outcome = { ...requestKeys(route, event, context), status_code: failure.statusCode, outcome: failure.code };
      if (failure.statusCode >= 500) {
        const log = failure instanceof InternalError ? logger.error.bind(logger) : logger.warn.bind(logger);
        // The cause, not the ServiceError: its toJSON() is the response body, which would hide the cause.
        log('request failed', {
          ...outcome,
          details: failure.details,
          ...(failure.cause === undefined ? {} : { error: loggableError(failure.cause) }),
        });
      } else {
        logger.info('request refused', { ...outcome, details: failure.details });
      }
      if (failure instanceof ConflictRetry) recordExhaustedChange(attemptsOf(failure));
      recordError(failure.code);
      request.response = errorResult(failure);
    },
  };
}

/**
 * The contract's error for anything a route threw: a `ServiceError` as
 * itself, a store fault (throttling, outage) as 503 `storage_unavailable`,
 * anything else as 500 `internal_error` carrying only the request ID. The one
 * place a store fault becomes an API error: lower layers pass it up unchanged.
 */
export function serviceErrorOf(error: unknown, requestId: string): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof StoreFault) return new StorageUnavailable({ cause: error });
  return new InternalError(requestId, { cause: error });
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
    outcome:
      statusCode === 201 ? 'created' : replayed ? 'replayed' : change === undefined ? 'ok' : change.changed ? 'changed' : 'unchanged',
    ...(version === undefined ? {} : { session_id: version.session.id }),
    ...(change === undefined ? {} : { s3_write_attempts: change.attempts, cas_conflicts: change.conflicts }),
  });
  return httpResult(response);
}

/** How many links of a cause chain a log line follows. */
const MAX_CAUSE_DEPTH = 8;

/**
 * What a log line may say of an error: its name, message, code, the AWS SDK's
 * `$fault` and request metadata, its stack and its cause chain, credentials
 * redacted. Never the other fields an SDK parsed from the service's answer
 * (S3 echoes the signed request, session token included, in some of them).
 */
export function loggableError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return redactCredentials(String(error));
  const { code, $fault, $metadata } = error as Error & { code?: unknown; $fault?: unknown; $metadata?: Record<string, unknown> };
  const metadata =
    typeof $metadata === 'object' && $metadata !== null
      ? Object.fromEntries(
          ['httpStatusCode', 'requestId', 'extendedRequestId', 'attempts', 'totalRetryDelay'].flatMap((field) =>
            $metadata[field] === undefined ? [] : [[field, $metadata[field]]],
          ),
        )
      : undefined;
  return {
    name: error.name,
    message: redactCredentials(error.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(typeof $fault === 'string' ? { $fault } : {}),
    ...(metadata === undefined ? {} : { $metadata: metadata }),
    ...(error.stack === undefined ? {} : { stack: redactCredentials(error.stack) }),
    ...(error.cause === undefined ? {} : { cause: depth < MAX_CAUSE_DEPTH ? loggableError(error.cause, depth + 1) : '[cause chain cut]' }),
  };
}

function attemptsOf(error: ConflictRetry): number {
  const { attempts } = error.details;
  return typeof attempts === 'number' ? attempts : 0;
}
