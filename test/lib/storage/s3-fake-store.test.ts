import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { describeObjectStoreConformance, describePrunableStoreConformance, describeVersionedStoreConformance } from './conformance.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

describeObjectStoreConformance('S3ObjectStore on the stateful S3 fake', async () => {
  const fake = new S3Fake();
  // Uneven delays interleave the racing requests as a network would; without them the races barely overlap.
  fake.latency = () => (Math.random() < 0.5 ? 0 : 1);
  return { store: new S3ObjectStore({ bucket: 'conformance', client }), cleanup: async () => fake.restore() };
});

describeVersionedStoreConformance(
  'S3ObjectStore on the stateful S3 fake, versioning enabled',
  async () => {
    const fake = new S3Fake();
    fake.latency = () => (Math.random() < 0.5 ? 0 : 1);
    return { store: new S3ObjectStore({ bucket: 'conformance', client }), cleanup: async () => fake.restore() };
  },
  { conditionalWrites: true },
);

describePrunableStoreConformance('S3ObjectStore on the stateful S3 fake, no versioning', async () => {
  const fake = new S3Fake();
  fake.versioning = 'disabled';
  return { store: new S3ObjectStore({ bucket: 'conformance', client }), cleanup: async () => fake.restore() };
});

describe('S3ObjectStore on the stateful S3 fake: requests', () => {
  it('sends one request per port operation and nothing else', async () => {
    const fake = new S3Fake();
    const store = new S3ObjectStore({ bucket: 'conformance', client });

    try {
      const etag = await store.put('sessions/a.json', '{}', { ifNoneMatch: '*' });
      await store.put('sessions/a.json', '{"a":1}', { ifMatch: etag });
      await store.get('sessions/a.json');
      await store.list('sessions/', { limit: 10 });

      expect(fake.requests).toEqual({ GetObject: 1, PutObject: 2, ListObjectsV2: 1 });
    } finally {
      fake.restore();
    }
  });
});
