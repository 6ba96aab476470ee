/**
 * The object-store port: the few operations the session repository needs,
 * with the semantics of S3 conditional writes. Every implementation (S3, the
 * local file store) passes the same conformance suite.
 */

/** An object as read: its body and its entity tag. */
export interface StoredObject {
  body: string;
  /** The ETag exactly as the store returned it (S3 quotes it). */
  etag: string;
}

/**
 * The condition under which a write may happen. There is deliberately no
 * unconditional write: `ifNoneMatch: '*'` creates, `ifMatch` replaces one
 * known version.
 */
export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string };

export interface ListPage {
  /** Keys under the prefix, in ascending key order, after `startAfter`. */
  keys: string[];
  /** True when more keys follow the last one returned. */
  truncated: boolean;
}

export interface ListOptions {
  /** At most this many keys (1–1000). */
  limit: number;
  /** Only keys strictly greater than this one. */
  startAfter?: string;
}

export interface ObjectStore {
  /** The object at `key`, or undefined when there is none. */
  get(key: string): Promise<StoredObject | undefined>;
  /**
   * Write `body` at `key` if `condition` holds, and return the new ETag.
   * @throws ConditionNotMet when it does not hold (the object exists for
   *   `ifNoneMatch`, is missing or has another ETag for `ifMatch`), or when a
   *   concurrent write to the same key won.
   * @throws StoreUnavailable when the store failed and the write may or may
   *   not have happened.
   */
  put(key: string, body: string, condition: WriteCondition): Promise<string>;
  /** Keys under `prefix` in ascending order, a page at a time. */
  list(prefix: string, options: ListOptions): Promise<ListPage>;
}

/** A conditional write was refused: someone else's version is current. */
export class ConditionNotMet extends Error {
  override readonly name = 'ConditionNotMet';
  readonly key: string;
  constructor(key: string, options?: ErrorOptions) {
    super(`condition not met for ${key}`, options);
    this.key = key;
  }
}

/** The store throttled, failed or could not be reached; the request may be retried. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Two ETags name the same version when they are equal once quotes and a weak prefix are removed. */
export function sameEtag(a: string, b: string): boolean {
  return bareEtag(a) === bareEtag(b);
}

/** An ETag without surrounding quotes or a `W/` prefix. */
export function bareEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
