import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { describe } from 'vitest';
import type { ListOptions, ListPage, ObjectStore, StoredObject, WriteCondition } from '#lib/store/port.ts';
import { defaultS3Client, S3ObjectStore } from '#lib/store/s3.ts';
import { describeObjectStoreConformance, inBatches } from './conformance.ts';

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
const bucket = process.env.SESSIONS_TEST_BUCKET;
const configured = Boolean(endpoint && bucket);
/** Every run writes under its own prefix, so runs against one bucket never meet. */
const runPrefix = `conformance/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}/`;

/** A view of a store confined to the keys under `prefix`, which it hides from its callers. */
class PrefixedStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #prefix: string;

  constructor(inner: ObjectStore, prefix: string) {
    this.#inner = inner;
    this.#prefix = prefix;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.#inner.get(this.#prefix + key);
  }

  put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return this.#inner.put(this.#prefix + key, body, condition);
  }

  async list(prefix: string, { limit, startAfter }: ListOptions): Promise<ListPage> {
    const page = await this.#inner.list(this.#prefix + prefix, { limit, ...(startAfter === undefined ? {} : { startAfter: this.#prefix + startAfter }) });
    return { keys: page.keys.map((key) => key.slice(this.#prefix.length)), truncated: page.truncated };
  }
}

/** Deletes every object under `prefix`, with every version of it when the bucket keeps versions. */
async function deleteUnder(prefix: string): Promise<void> {
  const client = defaultS3Client();
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
    const versions = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((entry) =>
      entry.Key === undefined ? [] : [{ Key: entry.Key, VersionId: entry.VersionId }],
    );
    await inBatches(versions, 16, (version) => client.send(new DeleteObjectCommand({ Bucket: bucket, ...version })));
    keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined;
    versionIdMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
}

let namespaces = 0;

const SKIP_REASON = 'skipped: set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (and AWS credentials) to run the conformance suite against a real S3 endpoint';
// The default reporter names no skipped test, so say why here, where the output shows it.
if (!configured) console.warn(`S3ObjectStore on a real endpoint: ${SKIP_REASON}`);

describe.skipIf(!configured)(
  configured
    ? `S3ObjectStore on a real endpoint (${endpoint}, bucket ${bucket}, prefix ${runPrefix})`
    : `S3ObjectStore on a real endpoint: ${SKIP_REASON}`,
  () => {
    describeObjectStoreConformance(`S3 endpoint ${endpoint}`, async () => {
      const prefix = `${runPrefix}${++namespaces}/`;
      return { store: new PrefixedStore(new S3ObjectStore({ bucket: bucket! }), prefix), cleanup: () => deleteUnder(prefix) };
    });
  },
);
