import {
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  PutObjectTaggingCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import {
  bareEtag,
  ConditionNotMet,
  type KeyListOptions,
  type ListPage,
  MAX_LIST_KEYS,
  NULL_VERSION_ID,
  type ObjectPage,
  type ObjectVersion,
  type PrunableObjectStore,
  type StoredObject,
  StoreFault,
  UnknownVersion,
  type VersionListOptions,
  type VersionPage,
  type VersionTaggingObjectStore,
  type WriteCondition,
  type WriteOptions,
  type WrittenObject,
} from './port.ts';

/** S3 error names that mean "the condition of a conditional write did not hold". */
const CONDITION_FAILURES = new Set([
  'PreconditionFailed', // 412: the object exists (If-None-Match) or has another ETag (If-Match)
  'ConditionalRequestConflict', // 409: a concurrent conditional write to the key won
  'NoSuchKey', // 404: If-Match on a key that does not exist (AWS; some S3-compatible servers answer 412)
]);

/**
 * S3 error names that mean "no such version of this key" on a GetObject with a
 * version ID: the key or version does not exist (404; Ceph RGW says NoSuchKey
 * for both), the version is a delete marker (405), or the ID is not one the
 * bucket could have issued (400, e.g. any ID but "null" on a bucket without versioning).
 */
const NO_SUCH_VERSION = new Set(['NoSuchKey', 'NoSuchVersion', 'MethodNotAllowed', 'InvalidArgument']);

/**
 * Error names the SDK's classification (`@smithy/core/retry`) does not count
 * as retryable but this store does, each on purpose.
 */
const ALSO_RETRYABLE_NAMES = new Set([
  'RequestTimeTooSkewed', // The SDK corrects its clock on this answer and retries; still refused, a later request may pass.
  'AbortError', // The SDK excludes it as a caller's abort; here only the client's own request timeout aborts.
]);

/** Socket error codes of a failed connection that the SDK's lists leave out: the request may be retried later. */
const ALSO_RETRYABLE_CODES = new Set(['ECONNABORTED', 'EHOSTDOWN', 'ENETDOWN', 'ENETRESET']);

let sharedClient: S3Client | undefined;

/**
 * How the service's S3 client is configured. A request that hangs fails
 * after a bounded time (and is retried by the SDK, then by the
 * compare-and-swap loop) instead of running into the Lambda timeout, which
 * would leave the caller without a contract answer.
 */
export const S3_CLIENT_CONFIG = {
  // Checksums only where S3 requires them: bodies are small strings sent with a
  // Content-Length, and some S3-compatible servers refuse aws-chunked uploads.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
} as const satisfies S3ClientConfig;

/**
 * The process-wide S3 client, made on first use and reused by every request.
 * The endpoint comes from the standard `AWS_ENDPOINT_URL_S3` variable when set.
 */
export function defaultS3Client(): S3Client {
  sharedClient ??= new S3Client({
    ...S3_CLIENT_CONFIG,
    forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined || process.env.AWS_ENDPOINT_URL !== undefined,
  });
  return sharedClient;
}

export interface S3ObjectStoreOptions {
  bucket: string;
  client?: S3Client;
}

/**
 * The object-store port on Amazon S3 (or any S3-compatible endpoint), with
 * conditional writes. Its versions are the bucket's object versions: on a
 * bucket without versioning each key has only its current object, listed with
 * the version ID "null", and writes report no version.
 */
export class S3ObjectStore implements VersionTaggingObjectStore, PrunableObjectStore {
  readonly #bucket: string;
  readonly #client: S3Client;

  constructor({ bucket, client = defaultS3Client() }: S3ObjectStoreOptions) {
    this.#bucket = bucket;
    this.#client = client;
  }

  /**
   * GetObject. S3 answers a missing key with 403 AccessDenied, not 404, to a
   * caller that may not list the whole bucket; the functions may only list
   * their own keys, so a 403 is followed by one listing of exactly this key,
   * which tells a missing key (undefined) from a denied one (the 403 is thrown).
   */
  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const body = (await output.Body?.transformToString('utf-8')) ?? '';
      const versionId = output.VersionId === undefined || output.VersionId === NULL_VERSION_ID ? {} : { versionId: output.VersionId };
      return { body, etag: output.ETag ?? '', ...versionId };
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return undefined;
      if (errorName(error) === 'AccessDenied' && !(await this.#keyListed(key, error))) return undefined;
      throw translate(error, `get ${key}`);
    }
  }

  /** Whether a listing of exactly `key` shows it (a longer key under it sorts after it). */
  async #keyListed(key: string, denied: unknown): Promise<boolean> {
    try {
      const output = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: key, MaxKeys: 1 }));
      return (output.Contents ?? []).some((entry) => entry.Key === key);
    } catch (error) {
      throw probeFailure(error, denied, `get ${key}`);
    }
  }

  /** Whether the version listing of `key` still shows `versionId`: only on the rare 403, so its pages are followed to the end. */
  async #versionListed(key: string, versionId: string, denied: unknown): Promise<boolean> {
    try {
      let cursor: string | undefined;
      do {
        const page = await this.listVersions(key, { limit: MAX_LIST_KEYS, ...(cursor === undefined ? {} : { cursor }) });
        if (page.versions.some((version) => version.versionId === versionId)) return true;
        cursor = page.cursor;
      } while (cursor !== undefined);
      return false;
    } catch (error) {
      throw probeFailure(error, denied, `get ${key} version ${versionId}`);
    }
  }

  async put(key: string, body: string, condition: WriteCondition, options?: WriteOptions): Promise<string> {
    return (await this.putVersion(key, body, condition, options)).etag;
  }

  /** PutObject; `options.tagging` becomes its `Tagging` (the tags are set by the write itself, no request of their own). */
  async putVersion(key: string, body: string, condition: WriteCondition, options?: WriteOptions): Promise<WrittenObject> {
    const input: PutObjectCommandInput = {
      Bucket: this.#bucket,
      Key: key,
      Body: body,
      ContentLength: Buffer.byteLength(body, 'utf-8'),
      ContentType: 'application/json',
      ...(options?.tagging === undefined ? {} : { Tagging: options.tagging }),
    };
    if ('ifNoneMatch' in condition) {
      input.IfNoneMatch = '*';
    } else {
      // The bare ETag: Amazon S3 compares it with the object's ETag either way, and some
      // S3-compatible servers (Ceph RGW) match only the unquoted form.
      input.IfMatch = bareEtag(condition.ifMatch);
    }
    try {
      const output = await this.#client.send(new PutObjectCommand(input));
      // "null" (versioning suspended) names a version the next write replaces: none was kept.
      const versionId = output.VersionId === undefined || output.VersionId === NULL_VERSION_ID ? undefined : output.VersionId;
      return { etag: output.ETag ?? '', versionId };
    } catch (error) {
      if (CONDITION_FAILURES.has(errorName(error))) throw new ConditionNotMet(key, { cause: error });
      throw translate(error, `put ${key}`);
    }
  }

  async list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    const { objects, truncated } = await this.listObjects(prefix, options);
    return { keys: objects.map(({ key }) => key), truncated };
  }

  async listObjects(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ObjectPage> {
    try {
      const output = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: limit,
          ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
        }),
      );
      const objects = (output.Contents ?? []).flatMap((entry) =>
        entry.Key === undefined ? [] : [{ key: entry.Key, etag: entry.ETag ?? '', lastModified: entry.LastModified ?? new Date(0) }],
      );
      return { objects, truncated: output.IsTruncated === true };
    } catch (error) {
      throw translate(error, `list ${prefix}`);
    }
  }

  /** DeleteObject; S3 answers 204 for a missing key too. Only for buckets of soft state: it is unconditional. */
  async delete(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (error) {
      throw translate(error, `delete ${key}`);
    }
  }

  /**
   * ListObjectVersions with `Prefix` = the key, keeping only entries of exactly
   * that key (its versions come first: every other key under the prefix is
   * longer, so sorts after it) and skipping delete markers. Usually one
   * request; more only when delete markers fill a page.
   */
  async listVersions(key: string, { limit, cursor }: VersionListOptions): Promise<VersionPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_KEYS) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_LIST_KEYS}, got ${limit}`);
    }
    const versions: ObjectVersion[] = [];
    let keyMarker = cursor === undefined ? undefined : key;
    let versionIdMarker = cursor;
    let more = true;
    try {
      while (more && versions.length < limit) {
        const output = await this.#client.send(
          new ListObjectVersionsCommand({
            Bucket: this.#bucket,
            Prefix: key,
            MaxKeys: limit - versions.length,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
          }),
        );
        for (const entry of output.Versions ?? []) {
          if (entry.Key !== key || entry.VersionId === undefined) continue;
          versions.push({
            versionId: entry.VersionId,
            etag: entry.ETag ?? '',
            lastModified: entry.LastModified ?? new Date(0),
            isLatest: entry.IsLatest === true,
          });
        }
        // Past the key's last entry once the listing moves on to a longer key.
        more = output.IsTruncated === true && output.NextKeyMarker === key;
        keyMarker = output.NextKeyMarker;
        versionIdMarker = output.NextVersionIdMarker;
      }
    } catch (error) {
      if (cursor !== undefined && errorName(error) === 'InvalidArgument') throw new UnknownVersion(key, cursor, { cause: error });
      throw translate(error, `list versions of ${key}`);
    }
    const page = versions.slice(0, limit);
    return more || versions.length > limit ? { versions: page, cursor: page.at(-1)!.versionId } : { versions: page };
  }

  /** PutObjectTagging of one version (S3 checks the tags against `s3:RequestObjectTag`). */
  async tagVersion(key: string, versionId: string, tagging: string): Promise<void> {
    const TagSet = [...new URLSearchParams(tagging)].map(([Key, Value]) => ({ Key, Value }));
    try {
      await this.#client.send(new PutObjectTaggingCommand({ Bucket: this.#bucket, Key: key, VersionId: versionId, Tagging: { TagSet } }));
    } catch (error) {
      throw translate(error, `tag ${key} version ${versionId}`);
    }
  }

  /** DeleteObjectTagging of one version. */
  async untagVersion(key: string, versionId: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectTaggingCommand({ Bucket: this.#bucket, Key: key, VersionId: versionId }));
    } catch (error) {
      throw translate(error, `untag ${key} version ${versionId}`);
    }
  }

  async getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, VersionId: versionId }));
      const body = (await output.Body?.transformToString('utf-8')) ?? '';
      return { body, etag: output.ETag ?? '', versionId: output.VersionId ?? versionId };
    } catch (error) {
      if (NO_SUCH_VERSION.has(errorName(error))) return undefined;
      // A version that expired since it was listed: 403 to a caller that may not list the whole bucket.
      if (errorName(error) === 'AccessDenied' && !(await this.#versionListed(key, versionId, error))) return undefined;
      throw translate(error, `get ${key} version ${versionId}`);
    }
  }
}

/** A probe that failed for a passing reason says so (the caller may retry); otherwise the 403 it was to explain stands. */
function probeFailure(error: unknown, denied: unknown, what: string): unknown {
  const translated = translate(error, what);
  return translated instanceof StoreFault ? translated : translate(denied, what);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

/**
 * Throttling, server-side faults and network failures, as the SDK classifies
 * them plus the deliberate additions above, become `StoreFault` (the caller
 * may retry); anything else (access denied, missing bucket) is a
 * configuration problem and is passed on unchanged, to surface as a 500.
 * Ceph RGW answers some concurrent conditional PUTs with 500 UnknownError
 * (AWS: 409): a server error, so a `StoreFault`, which the port allows for a
 * write that may or may not have happened.
 */
function translate(error: unknown, what: string): unknown {
  if (!(error instanceof Error)) return error;
  return isRetryable(error) ? new StoreFault(`${what}: ${error.name}`, { cause: error }) : error;
}

function isRetryable(error: Error): boolean {
  const sdkError = error as Parameters<typeof isTransientError>[0];
  const code = (error as { code?: unknown }).code;
  return (
    isThrottlingError(sdkError) ||
    isTransientError(sdkError) ||
    isServerError(sdkError) ||
    ALSO_RETRYABLE_NAMES.has(error.name) ||
    (typeof code === 'string' && ALSO_RETRYABLE_CODES.has(code))
  );
}
