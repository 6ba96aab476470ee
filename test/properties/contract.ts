import { expect } from 'vitest';
import type { ApiResponse } from '../helpers/api-event.ts';

/**
 * The contract of /work/shared/DESIGN.md, written out here rather than
 * imported from `lib/`, so that a change to the code that drifts from the
 * contract fails these suites instead of moving the oracle with it.
 */

/** Every error code of the contract and the HTTP status it maps to. */
export const ERROR_STATUS = {
  invalid_request: 400,
  session_not_found: 404,
  session_not_active: 409,
  session_full: 409,
  invalid_transition: 409,
  versioning_disabled: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  lease_held: 409,
  lease_lost: 409,
  lease_required: 428,
  conflict_retry: 503,
  storage_unavailable: 503,
  internal_error: 500,
} as const;

export type ContractCode = keyof typeof ERROR_STATUS;

export const STATUSES = ['active', 'paused', 'completed', 'terminated'] as const;

export const SESSION_ID = /^[0-9a-f]{32}$/;

/** `sessions/<id>.json`: one object per session (DESIGN, "Storage"). */
export const SESSION_KEY = /^sessions\/([0-9a-f]{32})\.json$/;
/** `names/<sha256(name)>/<id>.json`: the name index of `GET /sessions?name=` (lib/sessions/name-index.ts). */
export const NAME_INDEX_KEY = /^names\/[0-9a-f]{64}\/([0-9a-f]{32})\.json$/;
/** `idempotency/<sha256(caller, key)>.json`: the records of `Idempotency-Key` (lib/sessions/idempotency.ts). */
export const IDEMPOTENCY_KEY = /^idempotency\/[0-9a-f]{64}\.json$/;
/** `leases/<id>/<epoch>-<seconds>.json`: a lease's renewal record, in the store without versions (DESIGN, "Leases and fencing"). */
export const RENEWAL_KEY = /^leases\/([0-9a-f]{32})\/([1-9][0-9]*)-([1-9][0-9]*)\.json$/;
/** A status index entry, `status/<status>/<id>.json`. */
export const STATUS_INDEX_KEY = /^status\/(active|paused|completed|terminated)\/([0-9a-f]{32})\.json$/;
/** An owner index entry, `owners/<sha256(owner)>/<id>.json` (lib/sessions/owner-index.ts). */
export const OWNER_INDEX_KEY = /^owners\/[0-9a-f]{64}\/([0-9a-f]{32})\.json$/;
/** The status index backfill's record. */
export const STATUS_RECORD_KEY = /^indexes\/status\.json$/;

/**
 * Every shape of key the service may touch. Each is built from a validated
 * session ID or a SHA-256 digest, never from caller text, so no request can
 * steer a key anywhere else.
 */
export const KEY_SHAPES: readonly RegExp[] = [
  SESSION_KEY,
  NAME_INDEX_KEY,
  IDEMPOTENCY_KEY,
  RENEWAL_KEY,
  STATUS_INDEX_KEY,
  OWNER_INDEX_KEY,
  STATUS_RECORD_KEY,
];

/**
 * The prefixes the service lists: every session, the index entries of one name, every renewal record, or one
 * session's, the status index entries of one status.
 */
export const LIST_PREFIX =
  /^(sessions\/|names\/[0-9a-f]{64}\/|owners\/[0-9a-f]{64}\/|leases\/|leases\/[0-9a-f]{32}\/|status\/(active|paused|completed|terminated)\/)$/;

export function isServiceKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_SHAPES.some((shape) => shape.test(key));
}
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Characters that can disguise a label in a table: bidi controls, line and paragraph separators, noncharacters (listed by hand). */
const SPOOFING = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufdd0-\ufdef]/;

/** U+xFFFE and U+xFFFF of every plane: noncharacters too. */
function hasPlaneEndNoncharacter(value: string): boolean {
  for (const character of value) if (((character.codePointAt(0) ?? 0) & 0xfffe) === 0xfffe) return true;
  return false;
}

/**
 * True when `value` is a 1–256 character label (names, job IDs): no control
 * characters, no lone surrogates, and none of the characters that reorder or
 * break a line of output (bidi controls, U+2028/U+2029, noncharacters).
 */
export function isLabel(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= 256 &&
    !CONTROL.test(value) &&
    value.isWellFormed() &&
    !SPOOFING.test(value) &&
    !hasPlaneEndNoncharacter(value)
  );
}

/** True when `value` is a label a caller may send: a label of at most `maxBytes` bytes of UTF-8 (job IDs 64, names 512). */
export function isSentLabel(value: unknown, maxBytes: number): value is string {
  return isLabel(value) && Buffer.byteLength(value, 'utf-8') <= maxBytes;
}

/** Why `value` is not a session as the contract defines it, or undefined when it is one. */
export function sessionProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const session = value as Record<string, unknown>;
  if (typeof session.id !== 'string' || !SESSION_ID.test(session.id)) return `id ${JSON.stringify(session.id)}`;
  if (session.name !== null && !isLabel(session.name)) return `name ${JSON.stringify(session.name)}`;
  if (!Array.isArray(session.job_ids) || !session.job_ids.every(isLabel)) return 'job_ids not a list of labels';
  if (new Set(session.job_ids).size !== session.job_ids.length) return 'job_ids has a duplicate';
  for (const field of ['created_at', 'updated_at'] as const) {
    if (!Number.isSafeInteger(session[field]) || (session[field] as number) < 0) return `${field} ${JSON.stringify(session[field])}`;
  }
  if ((session.updated_at as number) < (session.created_at as number)) return 'updated_at before created_at';
  if (!STATUSES.includes(session.status as (typeof STATUSES)[number])) return `status ${JSON.stringify(session.status)}`;
  if (session.lease !== undefined && session.lease !== null) {
    const lease = session.lease as Record<string, unknown>;
    if (!isLabel(lease.holder) || !Number.isSafeInteger(lease.epoch) || (lease.epoch as number) < 1)
      return `lease ${JSON.stringify(lease)}`;
    if (!Number.isSafeInteger(lease.seconds) || (lease.seconds as number) < 5 || (lease.seconds as number) > 3600)
      return `lease ${JSON.stringify(lease)}`;
    if (!Number.isSafeInteger(lease.expires_at)) return `lease ${JSON.stringify(lease)}`;
  }
  return undefined;
}

/**
 * What is wrong with a body stored (or about to be stored) under a service
 * key, or undefined: a session key holds a whole session with the key's ID; a
 * name index entry `{"name", "session_id"}` names the key's session; an
 * idempotency record names a session.
 */
export function storedBodyProblem(key: string, body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `${key}: not JSON`;
  }
  const object = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const sessionId = SESSION_KEY.exec(key)?.[1];
  if (sessionId !== undefined) {
    const problem = sessionProblem(parsed);
    if (problem !== undefined) return `${key}: ${problem}`;
    return object.id === sessionId ? undefined : `${key}: holds session ${String(object.id)}`;
  }
  const indexed = NAME_INDEX_KEY.exec(key)?.[1];
  if (indexed !== undefined) {
    return isLabel(object.name) && object.session_id === indexed ? undefined : `${key}: not an index entry of session ${indexed}`;
  }
  const renewed = RENEWAL_KEY.exec(key);
  if (renewed !== null) {
    const [, id, epoch, seconds] = renewed;
    return object.session_id === id &&
      object.epoch === Number(epoch) &&
      object.seconds === Number(seconds) &&
      Number.isSafeInteger(object.expires_at)
      ? undefined
      : `${key}: not the renewal record of session ${id}, epoch ${epoch}`;
  }
  const entry = STATUS_INDEX_KEY.exec(key);
  if (entry !== null) {
    return object.session_id === entry[2] && object.status === entry[1]
      ? undefined
      : `${key}: not the status index entry of session ${entry[2]}`;
  }
  const owned = OWNER_INDEX_KEY.exec(key)?.[1];
  if (owned !== undefined) {
    return isLabel(object.owner) && object.session_id === owned ? undefined : `${key}: not an owner index entry of session ${owned}`;
  }
  if (STATUS_RECORD_KEY.test(key)) {
    return typeof object.complete === 'boolean' &&
      Number.isSafeInteger(object.at) &&
      (object.after === undefined || (typeof object.after === 'string' && SESSION_ID.test(object.after)))
      ? undefined
      : `${key}: not a backfill record`;
  }
  if (IDEMPOTENCY_KEY.test(key)) {
    return typeof object.session_id === 'string' && SESSION_ID.test(object.session_id) ? undefined : `${key}: not an idempotency record`;
  }
  return `${key}: not a key of the service`;
}

/**
 * Asserts that `response` is an error exactly as the contract shapes it:
 * `{"error": {"code", "message", "details"}}` and nothing else, a code of the
 * contract with the status it maps to, JSON, `Retry-After` on every 503, and
 * for 500 a generic message with nothing but the request ID.
 */
export function expectContractError(response: ApiResponse): ContractCode {
  const context = `${response.statusCode} ${response.raw.slice(0, 300)}`;
  expect(response.headers['Content-Type'], context).toMatch(/^application\/json\b/);
  expect(Object.keys(response.body ?? {}), context).toEqual(['error']);
  const { error } = response.body;
  expect(Object.keys(error).sort(), context).toEqual(['code', 'details', 'message']);
  expect(Object.keys(ERROR_STATUS), context).toContain(error.code);
  const code = error.code as ContractCode;
  expect(response.statusCode, context).toBe(ERROR_STATUS[code]);
  expect(typeof error.message === 'string' && error.message.length > 0, context).toBe(true);
  expect(typeof error.details === 'object' && error.details !== null && !Array.isArray(error.details), context).toBe(true);
  if (code === 'invalid_request') {
    expect(error.details.issues, context).toEqual(expect.arrayContaining([{ field: expect.any(String), message: expect.any(String) }]));
    for (const issue of error.details.issues) expect(Object.keys(issue).sort(), context).toEqual(['field', 'message']);
  }
  if (response.statusCode === 503) expect(response.headers['Retry-After'], context).toMatch(/^[1-9][0-9]*$/);
  else expect(response.headers['Retry-After'], context).toBeUndefined();
  if (code === 'internal_error') {
    expect(error.message, context).toBe('internal error');
    expect(
      Object.keys(error.details).filter((key) => key !== 'request_id'),
      context,
    ).toEqual([]);
  }
  return code;
}

/** Asserts that a 2xx answer carries a session as the contract defines it, with its quoted ETag. */
export function expectSessionAnswer(response: ApiResponse): void {
  const context = `${response.statusCode} ${response.raw.slice(0, 300)}`;
  expect(sessionProblem(response.body), context).toBeUndefined();
  expect(response.headers.ETag, context).toMatch(/^"[^"]+"$/);
}

/** Asserts that a 200 list answer is `{"sessions": [Session…], "next_cursor": string | null}`. */
export function expectListAnswer(response: ApiResponse, limit = 50): void {
  const context = `${response.statusCode} ${response.raw.slice(0, 300)}`;
  expect(Object.keys(response.body).sort(), context).toEqual(['next_cursor', 'sessions']);
  expect(response.body.sessions.length, context).toBeLessThanOrEqual(limit);
  for (const session of response.body.sessions) expect(sessionProblem(session), context).toBeUndefined();
  expect(response.body.next_cursor === null || typeof response.body.next_cursor === 'string', context).toBe(true);
}
