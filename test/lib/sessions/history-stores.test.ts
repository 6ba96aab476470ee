import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { keepsVersions, type ObjectStore } from '#lib/storage/port.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { describeHistoryScenarios } from './history-scenarios.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

function onFake(versioning: S3Fake['versioning']) {
  return async () => {
    const fake = new S3Fake();
    fake.versioning = versioning;
    return { store: new S3ObjectStore({ bucket: 'history', client }), cleanup: async () => fake.restore() };
  };
}

/** Only the plain port: a store that keeps no versions (the shape of any store without the version operations). */
function withoutVersions(inner: ObjectStore): ObjectStore {
  return {
    get: (key) => inner.get(key),
    put: (key, body, condition) => inner.put(key, body, condition),
    list: (prefix, options) => inner.list(prefix, options),
  };
}

async function inTemporaryDirectory(wrap: (store: SqliteObjectStore) => ObjectStore) {
  const root = await mkdtemp(path.join(tmpdir(), 'history-'));
  return { store: wrap(new SqliteObjectStore(root)), cleanup: () => rm(root, { recursive: true, force: true }) };
}

describeHistoryScenarios('S3ObjectStore on the stateful S3 fake', onFake('enabled'), onFake('disabled'));

describeHistoryScenarios(
  'SqliteObjectStore',
  () => inTemporaryDirectory((store) => store),
  () => inTemporaryDirectory(withoutVersions),
);

describe('the store without versions used above', () => {
  it('offers only the plain port, so the repository sees a store that keeps no versions', async () => {
    const plain = await inTemporaryDirectory(withoutVersions);
    const versioned = await inTemporaryDirectory((store) => store);

    try {
      expect(keepsVersions(plain.store)).toBe(false);
      expect(keepsVersions(versioned.store)).toBe(true);
    } finally {
      await plain.cleanup();
      await versioned.cleanup();
    }
  });
});
