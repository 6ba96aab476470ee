import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  type DeleteObjectCommandInput,
  DeleteObjectTaggingCommand,
  type DeleteObjectTaggingCommandInput,
  GetObjectCommand,
  type GetObjectCommandInput,
  ListObjectsV2Command,
  type ListObjectsV2CommandInput,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandInput,
  PutObjectCommand,
  type PutObjectCommandInput,
  PutObjectTaggingCommand,
  type PutObjectTaggingCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

export type FakeCommand =
  | 'GetObject'
  | 'PutObject'
  | 'ListObjectsV2'
  | 'ListObjectVersions'
  | 'DeleteObject'
  | 'PutObjectTagging'
  | 'DeleteObjectTagging';

/** Commands counted only from their first use, so that counts of runs without them read as before. */
type CountedOnUse = 'ListObjectVersions' | 'DeleteObject' | 'PutObjectTagging' | 'DeleteObjectTagging';

interface FakeObject {
  body: string;
  etag: string;
  lastModified: Date;
}

/** One stored version of a key, or a delete marker. */
export interface FakeVersion {
  versionId: string;
  body: string;
  etag: string;
  lastModified: Date;
  deleteMarker: boolean;
  /** The version's object tags (the write's `Tagging`, then PutObjectTagging and DeleteObjectTagging). */
  tags?: Record<string, string>;
}

interface Fault {
  command: FakeCommand;
  error: () => unknown;
  when: (input: Record<string, unknown>) => boolean;
  remaining: number;
  /** Apply the request first, then fail: the answer is lost, the effect is not. */
  afterEffect: boolean;
}

/** An error shaped as the AWS SDK raises it for an S3 error response. */
export function s3Error(name: string, httpStatusCode: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, requestId: 'FAKE-REQUEST-ID', attempts: 1, totalRetryDelay: 0 },
    message,
  });
}

/** A network-level failure, as Node raises it when a connection drops. */
export function networkError(code = 'ECONNRESET'): Error {
  return Object.assign(new Error(`socket hang up (${code})`), { code, name: 'Error' });
}

/** The ETag S3 gives a single-part upload: the quoted MD5 of the body. */
export function md5Etag(body: string): string {
  return `"${createHash('md5').update(body, 'utf-8').digest('hex')}"`;
}

/**
 * A stateful S3 on aws-sdk-client-mock: it keeps bodies and ETags, enforces
 * `If-None-Match: *` and `If-Match` as Amazon S3 does (an `If-Match` on a
 * missing key is 404 NoSuchKey), lists in key order with `StartAfter` and
 * continuation tokens, counts requests, and can add latency and inject faults.
 * It keeps object versions as a versioned bucket does (switch `versioning` to
 * `'disabled'` for a bucket that never had it: writes then answer no
 * VersionId and each key has one version, "null"), answers GetObject with a
 * VersionId and ListObjectVersions with key and version-ID markers.
 * Every instance of `S3Client` talks to it while it is installed.
 */
export class S3Fake {
  readonly stub: AwsClientStub<S3Client>;
  readonly objects = new Map<string, FakeObject>();
  /** Every PutObject input received, in order, including refused ones. */
  readonly puts: PutObjectCommandInput[] = [];
  /** Requests by command; `ListObjectVersions` is counted from the first one made, so counts of runs without versions read as before. */
  readonly requests: Record<Exclude<FakeCommand, CountedOnUse>, number> & Partial<Record<CountedOnUse, number>> = {
    GetObject: 0,
    PutObject: 0,
    ListObjectsV2: 0,
  };
  /** The versions of each key, newest first (delete markers included); `objects` holds the current ones. */
  readonly versions = new Map<string, FakeVersion[]>();
  /** `'enabled'`, as the deployed bucket; `'disabled'`, a bucket whose versioning was never turned on. */
  versioning: 'enabled' | 'disabled' = 'enabled';
  /** Milliseconds since the epoch, for each version's LastModified. */
  clock: () => number = Date.now;
  /** Delay before each request takes effect, in ms (a number or a function of the command). */
  latency: number | ((command: FakeCommand) => number) = 0;
  readonly #faults: Fault[] = [];

  constructor() {
    this.stub = mockClient(S3Client);
    this.stub.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => this.#handle('GetObject', input, () => this.#get(input)));
    this.stub.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
      this.puts.push(input);
      return this.#handle('PutObject', input, () => this.#put(input));
    });
    this.stub
      .on(ListObjectsV2Command)
      .callsFake((input: ListObjectsV2CommandInput) => this.#handle('ListObjectsV2', input, () => this.#list(input)));
    this.stub
      .on(ListObjectVersionsCommand)
      .callsFake((input: ListObjectVersionsCommandInput) => this.#handle('ListObjectVersions', input, () => this.#listVersions(input)));
    this.stub.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) =>
      this.#handle('DeleteObject', input, () => {
        if (this.objects.has(input.Key ?? '')) this.deleteObject(input.Key ?? '');
        return { $metadata: { httpStatusCode: 204 } };
      }),
    );
    this.stub
      .on(PutObjectTaggingCommand)
      .callsFake((input: PutObjectTaggingCommandInput) =>
        this.#handle('PutObjectTagging', input, () =>
          this.#setTags(input, Object.fromEntries((input.Tagging?.TagSet ?? []).map(({ Key, Value }) => [Key ?? '', Value ?? '']))),
        ),
      );
    this.stub
      .on(DeleteObjectTaggingCommand)
      .callsFake((input: DeleteObjectTaggingCommandInput) => this.#handle('DeleteObjectTagging', input, () => this.#setTags(input, {})));
  }

  /** The tags of that version of `key` (default its current one); undefined when there is no such version. */
  tags(key: string, versionId?: string): Record<string, string> | undefined {
    const versions = this.versions.get(key) ?? [];
    const version = versionId === undefined ? versions[0] : versions.find((candidate) => candidate.versionId === versionId);
    return version === undefined || version.deleteMarker ? undefined : { ...version.tags };
  }

  /** PutObjectTagging and DeleteObjectTagging, on a version or the current object, as Amazon S3 answers them. */
  #setTags(input: { Key?: string | undefined; VersionId?: string | undefined }, tags: Record<string, string>) {
    const versions = this.versions.get(input.Key ?? '') ?? [];
    const version = input.VersionId === undefined ? versions[0] : versions.find((candidate) => candidate.versionId === input.VersionId);
    if (version === undefined) {
      throw input.VersionId === undefined
        ? s3Error('NoSuchKey', 404, 'The specified key does not exist.')
        : s3Error('NoSuchVersion', 404, 'The specified version does not exist.');
    }
    if (version.deleteMarker) throw s3Error('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.');
    version.tags = tags;
    return { VersionId: version.versionId, $metadata: { httpStatusCode: 200 } };
  }

  /** Total requests of every kind. */
  get totalRequests(): number {
    const { GetObject, PutObject, ListObjectsV2, ListObjectVersions = 0, DeleteObject = 0 } = this.requests;
    const { PutObjectTagging = 0, DeleteObjectTagging = 0 } = this.requests;
    return GetObject + PutObject + ListObjectsV2 + ListObjectVersions + DeleteObject + PutObjectTagging + DeleteObjectTagging;
  }

  resetCounts(): void {
    this.requests.GetObject = 0;
    this.requests.PutObject = 0;
    this.requests.ListObjectsV2 = 0;
    delete this.requests.ListObjectVersions;
    delete this.requests.DeleteObject;
    delete this.requests.PutObjectTagging;
    delete this.requests.DeleteObjectTagging;
    this.puts.length = 0;
    this.stub.resetHistory();
  }

  /** Stores an object directly, as another writer would have. */
  seed(key: string, body: string): string {
    const etag = md5Etag(body);
    this.objects.set(key, { body, etag, lastModified: new Date(this.clock()) });
    this.#recordVersion(key, body, etag);
    return etag;
  }

  /** Deletes the current object as a DeleteObject without a version ID would: a delete marker on a versioned bucket. */
  deleteObject(key: string): void {
    this.objects.delete(key);
    if (this.versioning === 'disabled') {
      this.versions.delete(key);
      return;
    }
    const marker: FakeVersion = { versionId: newVersionId(), body: '', etag: '', lastModified: new Date(this.clock()), deleteMarker: true };
    this.versions.set(key, [marker, ...(this.versions.get(key) ?? [])]);
  }

  /** The version IDs of `key`, newest first (delete markers included). */
  versionIds(key: string): string[] {
    return (this.versions.get(key) ?? []).map((version) => version.versionId);
  }

  body(key: string): string | undefined {
    return this.objects.get(key)?.body;
  }

  /** Makes the next `times` matching requests fail with `error` (an error, or a function making one). */
  fail(
    command: FakeCommand,
    error: unknown | (() => unknown),
    { times = 1, when = () => true }: { times?: number; when?: (input: Record<string, unknown>) => boolean } = {},
  ): void {
    this.#faults.push({
      command,
      error: typeof error === 'function' ? (error as () => unknown) : () => error,
      when,
      remaining: times,
      afterEffect: false,
    });
  }

  /**
   * The next matching PutObject is applied but its answer is lost; the SDK's
   * retry of the same request then meets its own write and gets 412.
   */
  loseNextPutAnswer({ when = () => true }: { when?: (input: Record<string, unknown>) => boolean } = {}): void {
    this.#faults.push({
      command: 'PutObject',
      error: () => s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'),
      when,
      remaining: 1,
      afterEffect: true,
    });
  }

  restore(): void {
    this.stub.restore();
  }

  async #handle<T>(command: FakeCommand, input: object, effect: () => T): Promise<T> {
    this.requests[command] = (this.requests[command] ?? 0) + 1;
    const delay = typeof this.latency === 'function' ? this.latency(command) : this.latency;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const fault = this.#takeFault(command, input as Record<string, unknown>);
    if (fault === undefined) return effect();
    if (fault.afterEffect) effect();
    throw fault.error();
  }

  #takeFault(command: FakeCommand, input: Record<string, unknown>): Fault | undefined {
    const index = this.#faults.findIndex((fault) => fault.command === command && fault.remaining > 0 && fault.when(input));
    if (index < 0) return undefined;
    const fault = this.#faults[index]!;
    fault.remaining--;
    if (fault.remaining === 0) this.#faults.splice(index, 1);
    return fault;
  }

  #get(input: GetObjectCommandInput) {
    if (input.VersionId !== undefined) return this.#getVersion(input.Key ?? '', input.VersionId);
    const object = this.objects.get(input.Key ?? '');
    if (object === undefined) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
    const stream = sdkStreamMixin(Readable.from([Buffer.from(object.body, 'utf-8')]));
    // A bucket that never had versioning sends no x-amz-version-id.
    const versionId = this.versioning === 'enabled' ? this.versions.get(input.Key ?? '')?.[0]?.versionId : undefined;
    return {
      Body: stream,
      ETag: object.etag,
      ContentType: 'application/json',
      ...(versionId === undefined ? {} : { VersionId: versionId }),
      $metadata: { httpStatusCode: 200 },
    };
  }

  /** GetObject with a VersionId, answered as Amazon S3 does. */
  #getVersion(key: string, versionId: string) {
    if (this.versioning === 'disabled' && versionId !== 'null') throw s3Error('InvalidArgument', 400, 'Invalid version id specified');
    const version = this.versions.get(key)?.find((candidate) => candidate.versionId === versionId);
    if (version === undefined) throw s3Error('NoSuchVersion', 404, 'The specified version does not exist.');
    if (version.deleteMarker) throw s3Error('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.');
    const stream = sdkStreamMixin(Readable.from([Buffer.from(version.body, 'utf-8')]));
    return {
      Body: stream,
      ETag: version.etag,
      VersionId: version.versionId,
      ContentType: 'application/json',
      $metadata: { httpStatusCode: 200 },
    };
  }

  /** Adds the version a successful write made; returns its ID as PutObject answers it (none without versioning). */
  #recordVersion(key: string, body: string, etag: string, tagging?: string): string | undefined {
    const earlier = this.versions.get(key) ?? [];
    const lastModified = new Date(this.clock());
    const tags = tagging === undefined ? {} : { tags: Object.fromEntries(new URLSearchParams(tagging)) };
    if (this.versioning === 'disabled') {
      this.versions.set(key, [{ versionId: 'null', body, etag, lastModified, deleteMarker: false, ...tags }]);
      return undefined;
    }
    const versionId = newVersionId();
    this.versions.set(key, [{ versionId, body, etag, lastModified, deleteMarker: false, ...tags }, ...earlier]);
    return versionId;
  }

  /** ListObjectVersions: keys in UTF-8 order, each key's versions newest first, resuming after KeyMarker (and VersionIdMarker). */
  #listVersions(input: ListObjectVersionsCommandInput) {
    const prefix = input.Prefix ?? '';
    const maxKeys = Math.min(input.MaxKeys ?? 1000, 1000);
    if (input.VersionIdMarker !== undefined && input.KeyMarker === undefined) {
      throw s3Error('InvalidArgument', 400, 'A version-id marker cannot be specified without a key marker.');
    }
    const entries = [...this.versions.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort(byUtf8)
      .flatMap((key) => this.versions.get(key)!.map((version, index) => ({ key, version, isLatest: index === 0 })));
    let start = 0;
    if (input.KeyMarker !== undefined && input.VersionIdMarker !== undefined && input.VersionIdMarker !== '') {
      const at = entries.findIndex((entry) => entry.key === input.KeyMarker && entry.version.versionId === input.VersionIdMarker);
      if (at < 0) throw s3Error('InvalidArgument', 400, 'Invalid version id specified');
      start = at + 1;
    } else if (input.KeyMarker !== undefined) {
      const after = entries.findIndex((entry) => byUtf8(entry.key, input.KeyMarker!) > 0);
      start = after < 0 ? entries.length : after;
    }
    const page = entries.slice(start, start + maxKeys);
    const truncated = start + page.length < entries.length;
    const last = page.at(-1);
    const listed = (entry: (typeof page)[number]) => ({
      Key: entry.key,
      VersionId: entry.version.versionId,
      IsLatest: entry.isLatest,
      LastModified: entry.version.lastModified,
      ...(entry.version.deleteMarker ? {} : { ETag: entry.version.etag, Size: Buffer.byteLength(entry.version.body) }),
    });
    return {
      Versions: page.filter((entry) => !entry.version.deleteMarker).map(listed),
      DeleteMarkers: page.filter((entry) => entry.version.deleteMarker).map(listed),
      IsTruncated: truncated,
      ...(truncated && last !== undefined ? { NextKeyMarker: last.key, NextVersionIdMarker: last.version.versionId } : {}),
      $metadata: { httpStatusCode: 200 },
    };
  }

  #put(input: PutObjectCommandInput) {
    const key = input.Key ?? '';
    if (typeof input.Body !== 'string') throw new TypeError('the fake accepts string bodies only');
    const existing = this.objects.get(key);
    if (input.IfNoneMatch !== undefined) {
      if (input.IfNoneMatch !== '*') throw s3Error('NotImplemented', 501, 'If-None-Match accepts only *');
      if (existing !== undefined) throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
    }
    if (input.IfMatch !== undefined) {
      if (existing === undefined) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
      if (bare(existing.etag) !== bare(input.IfMatch)) {
        throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
      }
    }
    const etag = md5Etag(input.Body);
    this.objects.set(key, { body: input.Body, etag, lastModified: new Date(this.clock()) });
    const versionId = this.#recordVersion(key, input.Body, etag, input.Tagging);
    return { ETag: etag, ...(versionId === undefined ? {} : { VersionId: versionId }), $metadata: { httpStatusCode: 200 } };
  }

  #list(input: ListObjectsV2CommandInput) {
    const prefix = input.Prefix ?? '';
    const maxKeys = Math.min(input.MaxKeys ?? 1000, 1000);
    const token = input.ContinuationToken === undefined ? undefined : Buffer.from(input.ContinuationToken, 'base64').toString('utf-8');
    const after = [token, input.StartAfter]
      .filter((key): key is string => key !== undefined)
      .sort(byUtf8)
      .at(-1);
    const keys = [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix) && (after === undefined || byUtf8(key, after) > 0))
      .sort(byUtf8);
    const page = keys.slice(0, maxKeys);
    const truncated = keys.length > page.length;
    return {
      Contents: page.map((Key) => {
        const object = this.objects.get(Key)!;
        return { Key, ETag: object.etag, Size: Buffer.byteLength(object.body), LastModified: object.lastModified };
      }),
      KeyCount: page.length,
      IsTruncated: truncated,
      ...(truncated ? { NextContinuationToken: Buffer.from(page.at(-1)!, 'utf-8').toString('base64') } : {}),
      $metadata: { httpStatusCode: 200 },
    };
  }
}

/** A version ID shaped like Amazon S3's: 32 URL-safe characters, in no particular order. */
function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

function bare(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** S3 lists keys in the order of their UTF-8 bytes, not of JavaScript's UTF-16 code units. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf-8'), Buffer.from(b, 'utf-8'));
}
