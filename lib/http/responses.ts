import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RetryableError, type ServiceError } from '../domain/errors.ts';
import { sessionJson } from '../domain/job-list.ts';
import { type Session, withJobCounts } from '../domain/session.ts';
import type { ChangeResult, SessionVersion } from '../sessions/repository.ts';

/** The media type of every response body. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** What a route answers, before it becomes an API Gateway result. */
export interface RouteResponse {
  statusCode: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The session version the response carries: its ETag becomes the `ETag` header. */
  version?: SessionVersion | ChangeResult;
}

/** A session, with its ETag (and its `job_counts`, counted when it was stored before they were kept). */
export function sessionResponse(statusCode: number, version: SessionVersion | ChangeResult): RouteResponse {
  return { statusCode, body: withJobCounts(version.session), version };
}

/** A new session: 201 with its `Location`. */
export function createdResponse(version: SessionVersion): RouteResponse {
  return { statusCode: 201, body: withJobCounts(version.session), version, headers: { Location: `/sessions/${version.session.id}` } };
}

/**
 * A repeated create (`Idempotency-Key` seen before): 200 with the session as it
 * now stands, its `Location`, and `Idempotent-Replayed: true`.
 */
export function replayedResponse(version: SessionVersion): RouteResponse {
  return {
    statusCode: 200,
    body: withJobCounts(version.session),
    version,
    headers: { Location: `/sessions/${version.session.id}`, 'Idempotent-Replayed': 'true' },
  };
}

/** Any other JSON answer. */
export function jsonResponse(statusCode: number, body: unknown): RouteResponse {
  return { statusCode, body };
}

/** The API Gateway result of a route's answer. */
export function httpResult({ statusCode, body, headers = {}, version }: RouteResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: {
      'Content-Type': JSON_CONTENT_TYPE,
      ...(version === undefined ? {} : { ETag: quotedEtag(version.etag) }),
      ...headers,
    },
    body: version !== undefined && isSession(body) ? sessionJson(body) : JSON.stringify(body),
  };
}

/** A session body (not a minimal one): its JSON is built as the store's is, each job's outcome encoded once. */
function isSession(body: unknown): body is Session {
  return typeof body === 'object' && body !== null && 'job_ids' in body;
}

/**
 * The one mapping from a service error to its response: the error's status,
 * `{"error": {"code", "message", "details"}}`, and `Retry-After` when the
 * caller should try again later. Only `toJSON()` reaches the body, never `cause`.
 */
export function errorResult(error: ServiceError): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: error.statusCode,
    headers: {
      'Content-Type': JSON_CONTENT_TYPE,
      ...(error instanceof RetryableError ? { 'Retry-After': String(error.retryAfterSeconds) } : {}),
    },
    body: JSON.stringify(error.toJSON()),
  };
}

/** An ETag as HTTP sends it: quoted (stores that answer a bare tag get quotes added). */
export function quotedEtag(etag: string): string {
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag}"`;
}

/** Whether the request asks for a small answer (`Prefer: return=minimal`, RFC 7240; other preferences may come with it). */
export function prefersMinimal(headers: Record<string, string | undefined>): boolean {
  const prefer = headers.prefer;
  if (prefer === undefined) return false;
  return prefer.split(',').some((preference) => /^\s*return\s*=\s*"?minimal"?\s*(;.*)?$/i.test(preference));
}

/**
 * A change's answer as `Prefer: return=minimal` asks for it: the session's
 * identity, status, job count and counts by state, time and lease instead of the whole session
 * (which grows with its jobs), with the same ETag, and
 * `Preference-Applied: return=minimal`.
 */
export function minimalResponse(response: RouteResponse): RouteResponse {
  const version = response.version;
  if (version === undefined) return response;
  const { session } = version;
  return {
    ...response,
    body: {
      id: session.id,
      status: session.status,
      job_count: session.job_ids.length,
      job_counts: withJobCounts(session).job_counts,
      updated_at: session.updated_at,
      lease: session.lease ?? null,
    },
    headers: { ...response.headers, 'Preference-Applied': 'return=minimal', Vary: 'Prefer' },
  };
}
