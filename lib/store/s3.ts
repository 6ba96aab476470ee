import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { bareEtag, ConditionNotMet, StoreUnavailable, type ListOptions, type ListPage, type ObjectStore, type StoredObject, type WriteCondition } from './port.ts';

/** S3 error names that mean "the condition of a conditional write did not hold". */
const CONDITION_FAILURES = new Set([
  'PreconditionFailed', // 412: the object exists (If-None-Match) or has another ETag (If-Match)
  'ConditionalRequestConflict', // 409: a concurrent conditional write to the key won
  'NoSuchKey', // 404: If-Match on a key that does not exist (AWS; some S3-compatible servers answer 412)
]);

/** S3 error names after which a request may be retried later. */
const TRANSIENT_FAILURES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'ThrottlingException',
  'TimeoutError',
  'AbortError',
]);

let sharedClient: S3Client | undefined;

/**
 * The process-wide S3 client, made on first use and reused by every request.
 * The endpoint comes from the standard `AWS_ENDPOINT_URL_S3` variable when set.
 */
export function defaultS3Client(): S3Client {
  sharedClient ??= new S3Client({
    // Checksums only where S3 requires them: bodies are small strings sent with a
    // Content-Length, and some S3-compatible servers refuse aws-chunked uploads.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    forcePathStyle: process.env.AWS_ENDPOINT_URL_S3 !== undefined || process.env.AWS_ENDPOINT_URL !== undefined,
  });
  return sharedClient;
}

export interface S3ObjectStoreOptions {
  bucket: string;
  client?: S3Client;
}

/** The object-store port on Amazon S3 (or any S3-compatible endpoint), with conditional writes. */
export class S3ObjectStore implements ObjectStore {
  readonly #bucket: string;
  readonly #client: S3Client;

  constructor({ bucket, client = defaultS3Client() }: S3ObjectStoreOptions) {
    this.#bucket = bucket;
    this.#client = client;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const body = (await output.Body?.transformToString('utf-8')) ?? '';
      return { body, etag: output.ETag ?? '' };
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return undefined;
      throw translate(error, `get ${key}`);
    }
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    const input: PutObjectCommandInput = {
      Bucket: this.#bucket,
      Key: key,
      Body: body,
      ContentLength: Buffer.byteLength(body, 'utf-8'),
      ContentType: 'application/json',
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
      return output.ETag ?? '';
    } catch (error) {
      if (CONDITION_FAILURES.has(errorName(error))) throw new ConditionNotMet(key, { cause: error });
      throw translate(error, `put ${key}`);
    }
  }

  async list(prefix: string, { limit, startAfter }: ListOptions): Promise<ListPage> {
    try {
      const output = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: limit,
          ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
        }),
      );
      const keys = (output.Contents ?? []).flatMap((entry) => (entry.Key === undefined ? [] : [entry.Key]));
      return { keys, truncated: output.IsTruncated === true };
    } catch (error) {
      throw translate(error, `list ${prefix}`);
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

/**
 * Server-side faults, throttling and network failures become `StoreUnavailable`
 * (the caller may retry); anything else (access denied, missing bucket) is a
 * configuration problem and is passed on unchanged, to surface as a 500.
 */
function translate(error: unknown, what: string): unknown {
  if (!(error instanceof Error)) return error;
  const transient =
    TRANSIENT_FAILURES.has(error.name) ||
    (error instanceof S3ServiceException && error.$fault === 'server') ||
    isNetworkError(error);
  return transient ? new StoreUnavailable(`${what}: ${error.name}`, { cause: error }) : error;
}

function isNetworkError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED'].includes(code)
  );
}
