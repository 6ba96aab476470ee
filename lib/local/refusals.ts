import type { ErrorDetails } from '../domain/errors.ts';

/** The codes of the local server's own refusals, given before any route runs. */
export type LocalRefusalCode = 'unauthorized' | 'misdirected_request' | 'forbidden_origin' | 'too_many_connections' | 'bad_gateway';

/**
 * A request the local server refuses at its edge (who is calling, for which
 * host, from which page), in the contract's error shape, before any route runs.
 */
export abstract class LocalRefusal extends Error {
  abstract readonly code: LocalRefusalCode;
  abstract readonly statusCode: number;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  /** Headers the answer carries besides its media type. */
  headers(): Record<string, string> {
    return {};
  }

  toJSON(): { error: { code: LocalRefusalCode; message: string; details: ErrorDetails } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** No bearer token, or not one the server was given. */
export class Unauthorized extends LocalRefusal {
  readonly code = 'unauthorized';
  readonly statusCode = 401;
  readonly #presented: boolean;
  constructor(presented: boolean) {
    super(presented ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>');
    this.#presented = presented;
  }

  override headers(): Record<string, string> {
    return {
      'WWW-Authenticate': this.#presented ? 'Bearer realm="runner-sessions", error="invalid_token"' : 'Bearer realm="runner-sessions"',
    };
  }
}

/** The `Host` header names a server this is not (a DNS rebinding page, a misrouted proxy). */
export class MisdirectedRequest extends LocalRefusal {
  readonly code = 'misdirected_request';
  readonly statusCode = 421;
  constructor(host: string | undefined, allowed: readonly string[]) {
    super(host === undefined ? 'the request has no Host header' : `this server does not answer for host ${JSON.stringify(host)}`, {
      allowed: [...allowed],
    });
  }
}

/** A state-changing request sent by a page of another origin. */
export class ForbiddenOrigin extends LocalRefusal {
  readonly code = 'forbidden_origin';
  readonly statusCode = 403;
  constructor(origin: string) {
    super(`requests that change state are not accepted from origin ${JSON.stringify(origin)}`, { origin });
  }
}

/** The console proxy got no answer from the deployed API (unreachable, or no credentials to sign with). */
export class BadGateway extends LocalRefusal {
  readonly code = 'bad_gateway';
  readonly statusCode = 502;
}

/** Every connection slot is taken; the answer is written on the socket, which is then closed. */
export class TooManyConnections extends LocalRefusal {
  readonly code = 'too_many_connections';
  readonly statusCode = 503;
  readonly retryAfterSeconds = 1;
  constructor(limit: number) {
    super('the server has too many open connections; retry shortly', { limit });
  }

  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}
