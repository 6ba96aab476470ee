import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandInput,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';

export type FakeCommand = 'GetObject' | 'PutObject' | 'ListObjectsV2';

interface FakeObject {
  body: string;
  etag: string;
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
 * Every instance of `S3Client` talks to it while it is installed.
 */
export class S3Fake {
  readonly stub: AwsClientStub<S3Client>;
  readonly objects = new Map<string, FakeObject>();
  /** Every PutObject input received, in order, including refused ones. */
  readonly puts: PutObjectCommandInput[] = [];
  readonly requests: Record<FakeCommand, number> = { GetObject: 0, PutObject: 0, ListObjectsV2: 0 };
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
  }

  /** Total requests of every kind. */
  get totalRequests(): number {
    return this.requests.GetObject + this.requests.PutObject + this.requests.ListObjectsV2;
  }

  resetCounts(): void {
    this.requests.GetObject = 0;
    this.requests.PutObject = 0;
    this.requests.ListObjectsV2 = 0;
    this.puts.length = 0;
    this.stub.resetHistory();
  }

  /** Stores an object directly, as another writer would have. */
  seed(key: string, body: string): string {
    const etag = md5Etag(body);
    this.objects.set(key, { body, etag });
    return etag;
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
    this.#faults.push({ command, error: typeof error === 'function' ? (error as () => unknown) : () => error, when, remaining: times, afterEffect: false });
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
    this.requests[command]++;
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
    const object = this.objects.get(input.Key ?? '');
    if (object === undefined) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
    const stream = sdkStreamMixin(Readable.from([Buffer.from(object.body, 'utf-8')]));
    return { Body: stream, ETag: object.etag, ContentType: 'application/json', $metadata: { httpStatusCode: 200 } };
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
    this.objects.set(key, { body: input.Body, etag });
    return { ETag: etag, $metadata: { httpStatusCode: 200 } };
  }

  #list(input: ListObjectsV2CommandInput) {
    const prefix = input.Prefix ?? '';
    const maxKeys = Math.min(input.MaxKeys ?? 1000, 1000);
    const token = input.ContinuationToken === undefined ? undefined : Buffer.from(input.ContinuationToken, 'base64').toString('utf-8');
    const after = [token, input.StartAfter].filter((key): key is string => key !== undefined).sort(byUtf8).at(-1);
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix) && (after === undefined || byUtf8(key, after) > 0)).sort(byUtf8);
    const page = keys.slice(0, maxKeys);
    const truncated = keys.length > page.length;
    return {
      Contents: page.map((Key) => ({ Key, ETag: this.objects.get(Key)!.etag, Size: Buffer.byteLength(this.objects.get(Key)!.body) })),
      KeyCount: page.length,
      IsTruncated: truncated,
      ...(truncated ? { NextContinuationToken: Buffer.from(page.at(-1)!, 'utf-8').toString('base64') } : {}),
      $metadata: { httpStatusCode: 200 },
    };
  }
}

function bare(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** S3 lists keys in the order of their UTF-8 bytes, not of JavaScript's UTF-16 code units. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf-8'), Buffer.from(b, 'utf-8'));
}
