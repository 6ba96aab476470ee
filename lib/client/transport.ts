/** How `SessionsClient` talks to the API: URLs, signing, timeouts, retries, and answers turned into typed errors. */
import type * as z from '../domain/zod.ts';
import { apiErrorFor, SessionsApiError, SessionsConfigError, SessionsNetworkError } from './errors.ts';
import { DEFAULT_RETRY, parseRetryAfter, type RetryOptions, retryDelay } from './retry.ts';
import { ErrorBodySchema } from './schemas.ts';
import { isLoopback, RequestSigner, resolveRegion } from './signing.ts';
import type { ChangeOptions, SessionsClientOptions } from './types.ts';

/** One request to the API. */
export interface Call {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * `true`: safe to send again when an attempt failed or the answer was lost. `'unapplied'`: sent again only
   * after an answer that says nothing was done (429, 503 `conflict_retry`), never after a lost answer.
   */
  retryable: boolean | 'unapplied';
  /** Ends this call besides the client's own signal. */
  signal?: AbortSignal | undefined;
}

export interface Answer {
  response: Response;
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Sends calls to one API: signed when it signs, each attempt bounded, retried as the call allows. */
export class Transport {
  /** The API's base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #signer: RequestSigner | undefined;
  readonly #token: string | undefined;

  constructor(options: SessionsClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new SessionsConfigError(`the API URL must be http:// or https://, got ${base.protocol}`);
    }
    if (base.username !== '' || base.password !== '') {
      throw new SessionsConfigError('the API URL must not contain a user name or password');
    }
    this.#origin = base.origin;
    this.#basePath = base.pathname.replace(/\/+$/, '');
    this.baseUrl = this.#origin + this.#basePath;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = { ...DEFAULT_RETRY, ...definedFields(options.retry ?? {}) };
    if (!Number.isInteger(this.#retry.maxAttempts) || this.#retry.maxAttempts < 1) {
      throw new SessionsConfigError(`retry.maxAttempts must be a positive integer, got ${this.#retry.maxAttempts}`);
    }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#signal = options.signal;
    this.#token = options.token;
    if (this.#token !== undefined && !/^[\x21-\x7e]+$/.test(this.#token)) {
      throw new SessionsConfigError('the bearer token must be printable ASCII without spaces');
    }
    if (this.#token !== undefined && options.sign === true) {
      throw new SessionsConfigError('a bearer token and SigV4 signing cannot be used together: both need the Authorization header');
    }
    const sign = options.sign ?? (this.#token === undefined && !isLoopback(base));
    this.#signer = sign
      ? new RequestSigner({ region: resolveRegion(base, options.region, options.env ?? process.env), credentials: options.credentials })
      : undefined;
  }

  readonly redact = (text: string): string => {
    const unsigned = this.#signer?.redact(text) ?? text;
    return this.#token === undefined ? unsigned : unsigned.replaceAll(this.#token, '[token]');
  };

  async send(call: Call): Promise<Answer> {
    const maxAttempts = call.retryable === false ? 1 : this.#retry.maxAttempts;
    const deadline =
      call.signal !== undefined && this.#signal !== undefined
        ? AbortSignal.any([call.signal, this.#signal])
        : (call.signal ?? this.#signal);
    const gaveUp = (attempt: number, cause?: unknown): SessionsNetworkError =>
      new SessionsNetworkError(`${call.method} ${call.path}`, cause === undefined ? abortReason(deadline) : errnoOf(cause), attempt, {
        cause,
      });
    for (let attempt = 1; ; attempt++) {
      if (deadline?.aborted) throw gaveUp(attempt - 1);
      // Signed per attempt: each one carries its own x-amz-date.
      const request = await this.#request(call);
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      let answer: Answer;
      try {
        const response = await this.#fetch(request.url, {
          ...request.init,
          signal: deadline ? AbortSignal.any([timeout, deadline]) : timeout,
        });
        answer = { response, body: parseJson(await response.text()) };
      } catch (error) {
        if (call.retryable === true && attempt < maxAttempts && !deadline?.aborted) {
          await sleep(retryDelay(attempt, undefined, this.#retry), deadline);
          continue;
        }
        throw gaveUp(attempt, error);
      }
      if (answer.response.ok) return answer;
      const error = apiError(answer, attempt, this.redact);
      const retry = call.retryable === 'unapplied' ? error.status === 429 || error.code === 'conflict_retry' : error.retryable;
      if (!retry || attempt >= maxAttempts || deadline?.aborted) throw error;
      await sleep(retryDelay(attempt, error.retryAfter, this.#retry), deadline);
    }
  }

  /** The URL and fetch options of `call`, signed when the client signs. */
  async #request(call: Call): Promise<{ url: URL; init: RequestInit }> {
    const url = new URL(this.#basePath + call.path, this.#origin);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
      ...call.headers,
    };
    const sent = this.#signer === undefined ? headers : await this.#signer.sign({ method: call.method, url, headers, body });
    return { url, init: { method: call.method, headers: sent, body } };
  }
}

/** Waits `ms`, or less when `signal` aborts first; never rejects. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `TimeoutError` for a deadline (`AbortSignal.timeout`), `AbortError` for a cancellation. */
function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError';
}

export function sessionPath(id: string): string {
  return `/sessions/${encodeURIComponent(id)}`;
}

export function ifMatchHeader(ifMatch: string | undefined): Record<string, string> {
  return ifMatch === undefined ? {} : { 'if-match': ifMatch };
}

export function changeHeaders({ ifMatch, leaseEpoch }: ChangeOptions): Record<string, string> {
  return { ...ifMatchHeader(ifMatch), ...(leaseEpoch === undefined ? {} : { 'lease-epoch': String(leaseEpoch) }) };
}

export function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** The body as JSON, or `undefined` when it is empty or not JSON (an error answer from a proxy). */
function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function parse<T extends z.ZodMiniType>(schema: T, answer: Answer, what: string): z.infer<T> {
  const parsed = schema.safeParse(answer.body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new SessionsApiError({
    code: 'unexpected_response',
    status: answer.response.status,
    message: `the API answered ${answer.response.status} but the body is not ${what}${issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : ''}`,
    requestId: headerRequestId(answer.response),
  });
}

/** The typed error for a non-2xx answer: the contract's error body when there is one, else a code from the status. */
function apiError(answer: Answer, attempts: number, redact: (text: string) => string): SessionsApiError {
  const { response } = answer;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  const contract = ErrorBodySchema.safeParse(answer.body);
  if (contract.success) {
    const { code, message, details } = contract.data.error;
    const requestId = typeof details.request_id === 'string' ? details.request_id : headerRequestId(response);
    return apiErrorFor({ code, status: response.status, message: redact(message), details, requestId, retryAfter, attempts });
  }
  const given = messageOf(answer.body);
  const gatewayMessage =
    given === undefined ? `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` : redact(given);
  const code =
    response.status === 401 || response.status === 403 ? 'access_denied' : response.status === 429 ? 'throttled' : 'unexpected_response';
  return new SessionsApiError({
    code,
    status: response.status,
    message: gatewayMessage,
    requestId: headerRequestId(response),
    retryAfter,
    attempts,
  });
}

function headerRequestId(response: Response): string | undefined {
  return response.headers.get('apigw-requestid') ?? response.headers.get('x-amzn-requestid') ?? undefined;
}

/**
 * API Gateway's own errors are `{"message": "..."}` (sometimes `Message`). Only
 * the first paragraph is kept: a signature mismatch goes on to quote the
 * canonical request.
 */
function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { message, Message } = body as { message?: unknown; Message?: unknown };
  const text = typeof message === 'string' ? message : typeof Message === 'string' ? Message : undefined;
  return text
    ?.split(/\n\s*\n/, 1)[0]
    ?.trim()
    .slice(0, 500);
}

/** `ECONNREFUSED`, `TimeoutError`, `bad port`…: the most specific account of what went wrong, from fetch's error or its causes. */
function errnoOf(error: unknown): string | undefined {
  let deepest: string | undefined;
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return current.name;
    deepest = current.message || deepest;
  }
  return deepest;
}
