import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ConditionNotMet,
  type KeyListOptions,
  type ListPage,
  NULL_VERSION_ID,
  type ObjectPage,
  type PrunableObjectStore,
  type StoredObject,
  sameEtag,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '#lib/storage/port.ts';
import { defaultS3Client, S3ObjectStore } from '#lib/storage/s3.ts';

/** The real S3 endpoint the suites may run against, from the environment `scripts/ceph-rgw.sh env` prints. */
export const s3Endpoint = {
  url: process.env.AWS_ENDPOINT_URL_S3,
  /** A bucket without versioning. */
  bucket: process.env.SESSIONS_TEST_BUCKET,
  /** A bucket with versioning enabled. */
  versionedBucket: process.env.SESSIONS_TEST_VERSIONED_BUCKET,
};

/** A key prefix of its own for one run of one test file, so that runs against one bucket never meet. */
export function runPrefix(purpose: string): string {
  return `${purpose}/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}/`;
}

/** A view of a store confined to the keys under `prefix`, which it hides from its callers. */
export class PrefixedStore implements VersionedObjectStore, PrunableObjectStore {
  readonly #inner: VersionedObjectStore & PrunableObjectStore;
  readonly #prefix: string;

  constructor(inner: VersionedObjectStore & PrunableObjectStore, prefix: string) {
    this.#inner = inner;
    this.#prefix = prefix;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.#inner.get(this.#prefix + key);
  }

  put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return this.#inner.put(this.#prefix + key, body, condition);
  }

  putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    return this.#inner.putVersion(this.#prefix + key, body, condition);
  }

  async list(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ListPage> {
    const page = await this.#inner.list(this.#prefix + prefix, {
      limit,
      ...(startAfter === undefined ? {} : { startAfter: this.#prefix + startAfter }),
    });
    return { keys: page.keys.map((key) => key.slice(this.#prefix.length)), truncated: page.truncated };
  }

  listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    return this.#inner.listVersions(this.#prefix + key, options);
  }

  getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    return this.#inner.getVersion(this.#prefix + key, versionId);
  }

  async listObjects(prefix: string, { limit, startAfter }: KeyListOptions): Promise<ObjectPage> {
    const page = await this.#inner.listObjects(this.#prefix + prefix, {
      limit,
      ...(startAfter === undefined ? {} : { startAfter: this.#prefix + startAfter }),
    });
    return {
      objects: page.objects.map((object) => ({ ...object, key: object.key.slice(this.#prefix.length) })),
      truncated: page.truncated,
    };
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(this.#prefix + key);
  }
}

/**
 * The S3 store on a bucket whose server does not enforce write conditions
 * there (Ceph RGW 16.2 on a versioned bucket: a second `If-None-Match: *`
 * create succeeds as a new version, and `If-Match` answers 412 even with the
 * current ETag). It checks each write's condition against a fresh read and
 * then writes unconditionally, one write per key at a time in this process.
 * Reads and version listings are the real store's. Not atomic across
 * processes: a test double for single-process tests of what versions hold,
 * never a way to run the service.
 */
export class ConditionCheckingStore implements VersionedObjectStore {
  readonly #reads: PrefixedStore;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(bucket: string, prefix: string) {
    this.#reads = new PrefixedStore(new S3ObjectStore({ bucket }), prefix);
    this.#bucket = bucket;
    this.#prefix = prefix;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.#reads.get(key);
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return this.#reads.list(prefix, options);
  }

  listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    return this.#reads.listVersions(key, options);
  }

  getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    return this.#reads.getVersion(key, versionId);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const write = previous
      .catch(() => {})
      .then(async () => {
        const current = await this.#reads.get(key);
        const holds =
          'ifNoneMatch' in condition ? current === undefined : current !== undefined && sameEtag(current.etag, condition.ifMatch);
        if (!holds) throw new ConditionNotMet(key);
        const output = await defaultS3Client().send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: this.#prefix + key,
            Body: body,
            ContentType: 'application/json',
            ContentLength: Buffer.byteLength(body),
          }),
        );
        const versionId = output.VersionId === undefined || output.VersionId === NULL_VERSION_ID ? undefined : output.VersionId;
        return { etag: output.ETag ?? '', versionId };
      });
    this.#queues.set(key, write);
    return write;
  }
}

/**
 * What the endpoint does with write conditions on `bucket`, measured with two
 * writes under a fresh key: whether a second create is refused, and whether a
 * replace naming the current ETag is accepted. Amazon S3 does both.
 */
export async function measureWriteConditions(bucket: string, prefix: string): Promise<{ enforced: boolean; detail: string }> {
  const store = new S3ObjectStore({ bucket });
  const key = `${prefix}probe/${randomBytes(8).toString('hex')}.json`;
  await store.put(key, 'first', { ifNoneMatch: '*' });
  let secondCreate = 'refused (412)';
  try {
    await store.put(key, 'second', { ifNoneMatch: '*' });
    secondCreate = 'accepted as a new version';
  } catch (error) {
    if (!(error instanceof ConditionNotMet)) throw error;
  }
  const current = (await store.get(key))!;
  let replace = 'accepted';
  try {
    await store.put(key, 'third', { ifMatch: current.etag });
  } catch (error) {
    if (!(error instanceof ConditionNotMet)) throw error;
    replace = 'refused (412)';
  }
  await deleteUnder(bucket, `${prefix}probe/`);
  return {
    enforced: secondCreate.startsWith('refused') && replace === 'accepted',
    detail: `a second If-None-Match: * create was ${secondCreate}; If-Match with the current ETag was ${replace}`,
  };
}

/** Deletes every object under `prefix`, with every version of it and every delete marker when the bucket keeps versions. */
export async function deleteUnder(bucket: string, prefix: string): Promise<void> {
  const client = defaultS3Client();
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
    );
    const versions = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((entry) =>
      entry.Key === undefined ? [] : [{ Key: entry.Key, VersionId: entry.VersionId }],
    );
    await inBatches(versions, 16, (version) => client.send(new DeleteObjectCommand({ Bucket: bucket, ...version })));
    keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined;
    versionIdMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
}

async function inBatches<T>(items: T[], width: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
