/**
 * The API as the console uses it: same-origin JSON requests, the ETag of each
 * answer, and the service's error shape turned into `ApiError`.
 * @module
 */

/** The four states of a session. */
export const STATUSES = ['active', 'paused', 'completed', 'terminated'] as const;
export type Status = (typeof STATUSES)[number];

/** A session's lease (v1.1); absent or null on a session never held. */
export interface Lease {
  holder: string;
  epoch: number;
  seconds: number;
  expires_at: number;
  /** Set once the lease ended before its time ran out: `released`, `expired`, or what a newer server says. */
  ended?: string;
  /** Set on a lease taken from a live holder with `force`. */
  taken_over?: boolean;
}

/** How a job ended, or that it runs (DESIGN "Job outcomes (v1.2)"); times are the server's, in Unix seconds. */
export interface JobOutcome {
  /** `running`, `succeeded`, `failed`, `cancelled`, or what a newer server says. */
  state: string;
  exit_code: number | null;
  signal: string | null;
  started_at: number;
  finished_at: number | null;
}

/** How many jobs a session holds, and how many of them are in each state. */
export interface JobCounts {
  total: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** A session as the API sends it; fields the console does not know are kept but ignored. */
export interface Session {
  id: string;
  name: string | null;
  job_ids: string[];
  created_at: number;
  updated_at: number;
  status: Status;
  updated_by?: string;
  restored_from?: string;
  lease?: Lease | null;
  /** The outcome of each job that has a state (absent from servers and sessions without outcomes). */
  jobs?: Record<string, JobOutcome>;
  job_counts?: JobCounts;
  /** Who owns the session: a principal or a local tenant; absent from servers without owners and sessions stored before them. */
  owner?: string;
  [field: string]: unknown;
}

export interface SessionPage {
  sessions: Session[];
  next_cursor: string | null;
}

export interface HistoryEntry {
  version_id: string;
  at: number;
  actor: string | null;
  change: string;
  session: Session;
}

export interface HistoryPage {
  versions: HistoryEntry[];
  next_cursor: string | null;
}

/** A refused request: the service's `code`, or `no_route` / `not_granted` / `network_error` / `unexpected_response`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A successful answer: its JSON body and ETag header. */
export interface Answer<T> {
  body: T;
  etag: string | null;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends one request to the API on this origin. @throws ApiError for anything but a 2xx JSON answer. */
export async function request<T>(path: string, { method = 'GET', body, headers = {} }: RequestOptions = {}): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'network_error', `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) throw errorOf(response.status, json, method, path);
  if (json === undefined) throw new ApiError(response.status, 'unexpected_response', `${method} ${path} answered without a JSON body`);
  return { body: json as T, etag: response.headers.get('etag') };
}

function errorOf(status: number, json: unknown, method: string, path: string): ApiError {
  const error = typeof json === 'object' && json !== null ? (json as { error?: unknown }).error : undefined;
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const { code, message, details } = error as { code: string; message?: unknown; details?: unknown };
    const detailRecord = typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {};
    return new ApiError(status, code, typeof message === 'string' ? message : code, detailRecord);
  }
  // API Gateway's own 403 (the credentials are not granted this route) carries no error code.
  if (status === 403) return new ApiError(status, 'not_granted', `these credentials are not granted ${method} ${path.split('?')[0]}`);
  // The gateway's own 404/405 (no such route) carry no error code.
  if (status === 404 || status === 405) return new ApiError(status, 'no_route', `this server has no route ${method} ${path.split('?')[0]}`);
  return new ApiError(status, 'unexpected_response', `${method} ${path.split('?')[0]} answered ${status}`);
}

const enc = encodeURIComponent;

/** `GET /sessions` with the given filters and cursor. */
export function listSessions(filter: {
  status?: string;
  name?: string;
  cursor?: string | null;
  limit?: number;
}): Promise<Answer<SessionPage>> {
  const query = new URLSearchParams({ limit: String(filter.limit ?? 50) });
  if (filter.status) query.set('status', filter.status);
  if (filter.name) query.set('name', filter.name);
  if (filter.cursor) query.set('cursor', filter.cursor);
  return request<SessionPage>(`/sessions?${query}`);
}

/** `GET /sessions/{id}`, with the ETag a restore sends back. */
export function getSession(id: string): Promise<Answer<Session>> {
  return request<Session>(`/sessions/${enc(id)}`);
}

/** `GET /sessions/{id}/history`, newest first. */
export function getHistory(id: string, cursor: string | null, limit = 20): Promise<Answer<HistoryPage>> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  return request<HistoryPage>(`/sessions/${enc(id)}/history?${query}`);
}

/** `PATCH /sessions/{id}`; `epoch` is sent as `Lease-Epoch` when the console holds the lease. */
export function setStatus(id: string, status: Status, epoch?: number): Promise<Answer<Session>> {
  return request<Session>(`/sessions/${enc(id)}`, {
    method: 'PATCH',
    body: { status },
    headers: epoch === undefined ? {} : { 'lease-epoch': String(epoch) },
  });
}

/** `POST /sessions/{id}/lease`: acquire (a paused session resumes), or take over a live lease with `force`. */
export function acquireLease(id: string, options: { force?: boolean; seconds?: number } = {}): Promise<Answer<Session>> {
  return request<Session>(`/sessions/${enc(id)}/lease`, { method: 'POST', body: options.force ? { force: true } : {} });
}

/**
 * `POST /sessions/{id}/restore` of `versionId`, only onto the version whose ETag is `etag`.
 * `force` takes the session from a live holder (without it the server answers 409 `lease_held`).
 */
export function restoreVersion(id: string, versionId: string, etag: string, { force = false } = {}): Promise<Answer<Session>> {
  return request<Session>(`/sessions/${enc(id)}/restore`, {
    method: 'POST',
    body: force ? { version_id: versionId, force: true } : { version_id: versionId },
    headers: { 'if-match': etag },
  });
}

/** `POST /sessions/{id}/owner` (operators only): gives a session stored before owners its `owner`, onto the version shown. */
export function adoptSession(id: string, owner: string, etag: string | null): Promise<Answer<Session>> {
  return request<Session>(`/sessions/${enc(id)}/owner`, {
    method: 'POST',
    body: { owner },
    headers: etag === null ? {} : { 'if-match': etag },
  });
}

let adoption: Promise<boolean> | undefined;

/** Whether the server offers adoption (its OpenAPI document has the route); asked once, and only for a session without an owner. */
export function offersAdoption(): Promise<boolean> {
  adoption ??= request<{ paths?: Record<string, unknown> }>('/openapi.json').then(
    ({ body }) => body.paths?.['/sessions/{id}/owner'] !== undefined,
    () => false,
  );
  return adoption;
}
