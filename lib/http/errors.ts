import type { ErrorDetails } from '../domain/errors.ts';

/** The codes of the answers given before any route runs: the request matched no route of the API. */
export type RoutingErrorCode = 'route_not_found' | 'method_not_allowed';

/**
 * A request that matched no route, answered in the contract's error shape
 * (`{"error": {"code", "message", "details"}}`) before any handler runs.
 */
export abstract class RoutingError extends Error {
  abstract readonly code: RoutingErrorCode;
  abstract readonly statusCode: number;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  /** Headers the answer carries besides its media type. */
  headers(): Record<string, string> {
    return {};
  }

  toJSON(): { error: { code: RoutingErrorCode; message: string; details: ErrorDetails } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** No route has this path, whatever the method. */
export class RouteNotFound extends RoutingError {
  readonly code = 'route_not_found';
  readonly statusCode = 404;
  constructor(method: string, path: string) {
    super(`no route for ${method} ${path}`, { method, path });
  }
}

/** A route has this path, but not this method; `Allow` lists the methods it has. */
export class MethodNotAllowed extends RoutingError {
  readonly code = 'method_not_allowed';
  readonly statusCode = 405;
  readonly allowed: readonly string[];
  constructor(method: string, path: string, allowed: readonly string[]) {
    super(`${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { method, path, allowed: [...allowed] });
    this.allowed = allowed;
  }

  override headers(): Record<string, string> {
    return { Allow: this.allowed.join(', ') };
  }
}
