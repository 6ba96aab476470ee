/**
 * The object-store port: the few operations the session repository needs,
 * with the semantics of S3 conditional writes, and for stores that keep
 * versions (`VersionedObjectStore`) those of S3 object versions. Every
 * implementation (S3, the local SQLite store) passes the same conformance suites.
 */

/** An object as read: its body and its entity tag. */
export interface StoredObject {
  body: string;
  /** The ETag exactly as the store returned it (S3 quotes it). */
  etag: string;
  /** The version this body is: set by `getVersion`, and by `get` only where the store reports it at no cost (S3). */
  versionId?: string | undefined;
}

/**
 * The condition under which a write may happen. There is deliberately no
 * unconditional write: `ifNoneMatch: '*'` creates, `ifMatch` replaces one
 * known version.
 */
export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string };

/** What a write may carry besides its body. Stores that have no use for an option ignore it. */
export interface WriteOptions {
  /** Object tags in URL query form (S3's `Tagging`); the local stores keep no tags. */
  tagging?: string | undefined;
}

export interface ListPage {
  /** Keys under the prefix, in ascending key order, after `startAfter`. */
  keys: string[];
  /** True when more keys follow the last one returned. */
  truncated: boolean;
}

/** Most keys or versions one listing call returns (S3's own cap). */
export const MAX_LIST_KEYS = 1000;

/** Which page of a key listing to return. */
export interface KeyListOptions {
  /** At most this many keys (1–{@link MAX_LIST_KEYS}). */
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
   * @throws StoreFault when the store failed and the write may or may
   *   not have happened.
   */
  put(key: string, body: string, condition: WriteCondition, options?: WriteOptions): Promise<string>;
  /** Keys under `prefix` in ascending order, a page at a time. */
  list(prefix: string, options: KeyListOptions): Promise<ListPage>;
}

/** An object as a listing shows it: no body, but its entity tag and when it was written. */
export interface ListedObject {
  key: string;
  etag: string;
  lastModified: Date;
}

export interface ObjectPage {
  /** Objects under the prefix, in ascending key order, after `startAfter`. */
  objects: ListedObject[];
  /** True when more objects follow the last one returned. */
  truncated: boolean;
}

/**
 * An object store for soft state that is pruned rather than audited (lease
 * renewal records): its listing tells when each object was written, and an
 * object can be deleted. Deployed it is a bucket that keeps no versions, so
 * that a record rewritten every few seconds never piles up old copies.
 */
export interface PrunableObjectStore extends ObjectStore {
  /** Like `list`, with each object's ETag and write time (ListObjectsV2 gives both at no extra cost). */
  listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage>;
  /** Removes the object at `key`; a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** True when `store` can list write times and delete. */
export function isPrunable(store: ObjectStore): store is PrunableObjectStore {
  const candidate = store as Partial<PrunableObjectStore>;
  return typeof candidate.listObjects === 'function' && typeof candidate.delete === 'function';
}

/**
 * S3's version ID of an object written while its bucket kept no versions
 * (versioning never enabled, or suspended): the next such write replaces it.
 */
export const NULL_VERSION_ID = 'null';

/** What a write made: the new ETag and the version it created. */
export interface WrittenObject {
  etag: string;
  /** The new version's ID; undefined when the store kept no version of this write (an S3 bucket without versioning). */
  versionId: string | undefined;
}

/** One stored version of a key, as listed. */
export interface ObjectVersion {
  /** Opaque; pass it to `getVersion`. Not ordered: the listing gives the order. */
  versionId: string;
  etag: string;
  /** When the store recorded this version. */
  lastModified: Date;
  /** True for the version that is the key's current object. */
  isLatest: boolean;
}

export interface VersionListOptions {
  /** At most this many versions (1–{@link MAX_LIST_KEYS}). */
  limit: number;
  /** Only versions older than this one: the `cursor` of the previous page, or any listed version's ID. */
  cursor?: string | undefined;
}

export interface VersionPage {
  /** Versions of exactly the key, newest first; fewer than `limit` only when no older version is left. */
  versions: ObjectVersion[];
  /** Where the next page starts (the last listed version's ID) when older versions may follow. */
  cursor?: string | undefined;
}

/**
 * An object store that keeps every version of every key (S3 with versioning,
 * the SQLite store): each successful write creates a new, immutable version that
 * can be listed and read back. Versions are written by the store itself, with
 * the change: there is no way to write one separately.
 */
export interface VersionedObjectStore extends ObjectStore {
  /** `put`, also reporting the version the write created. Same conditions and errors as `put`. */
  putVersion(key: string, body: string, condition: WriteCondition, options?: WriteOptions): Promise<WrittenObject>;
  /**
   * The versions of exactly `key` (never of other keys that merely start with
   * it), newest first, a page at a time; delete markers are not versions. An
   * object stored while no versions were kept is listed with the version ID
   * {@link NULL_VERSION_ID}. A key never written has none.
   * @throws UnknownVersion when the store refuses the cursor.
   */
  listVersions(key: string, options: VersionListOptions): Promise<VersionPage>;
  /** That version of `key`, or undefined when `key` has no version with this ID. */
  getVersion(key: string, versionId: string): Promise<StoredObject | undefined>;
}

/** True when `store` keeps versions: it implements the version operations of the port. */
export function keepsVersions(store: ObjectStore): store is VersionedObjectStore {
  const candidate = store as Partial<VersionedObjectStore>;
  return (
    typeof candidate.putVersion === 'function' && typeof candidate.listVersions === 'function' && typeof candidate.getVersion === 'function'
  );
}

/**
 * A versioned store that can delete a key with every version it ever had
 * (retention of the local stores; deployed, S3 lifecycle rules do it).
 */
export interface PurgingObjectStore extends VersionedObjectStore {
  /**
   * Deletes `key` and all its versions: afterwards it reads as never written. A missing key is not an error.
   * @throws ConditionNotMet when `ifMatch` is given and the current object is missing or has another ETag.
   */
  purge(key: string, ifMatch?: string): Promise<void>;
}

/**
 * A versioned store whose versions carry object tags (S3): retention's ended tag is set by the ending write
 * (`WriteOptions.tagging`); these set it on, or remove it from, a version already stored.
 */
export interface VersionTaggingObjectStore extends VersionedObjectStore {
  /** Replaces the tags of that version of `key` with `tagging` (URL query form). */
  tagVersion(key: string, versionId: string, tagging: string): Promise<void>;
  /** Removes every tag of that version of `key`. */
  untagVersion(key: string, versionId: string): Promise<void>;
}

/** True when `store` tags versions. */
export function tagsVersions(store: ObjectStore): store is VersionTaggingObjectStore {
  const candidate = store as Partial<VersionTaggingObjectStore>;
  return keepsVersions(store) && typeof candidate.tagVersion === 'function' && typeof candidate.untagVersion === 'function';
}

/** True when `store` can purge a key with its versions. */
export function canPurge(store: ObjectStore): store is PurgingObjectStore {
  return keepsVersions(store) && typeof (store as Partial<PurgingObjectStore>).purge === 'function';
}

/** A version listing was asked to resume after a version the store does not know (a forged or expired cursor). */
export class UnknownVersion extends Error {
  override readonly name = 'UnknownVersion';
  readonly key: string;
  readonly versionId: string;
  constructor(key: string, versionId: string, options?: ErrorOptions) {
    super(`no version ${versionId} of ${key} to list after`, options);
    this.key = key;
    this.versionId = versionId;
  }
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

/**
 * The store throttled, failed or could not be reached; the request may be
 * retried. Passed up unchanged through the repository: the HTTP layer alone
 * answers it as 503 `storage_unavailable`.
 */
export class StoreFault extends Error {
  override readonly name = 'StoreFault';
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
