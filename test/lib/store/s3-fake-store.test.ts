import { S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '#lib/store/s3.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { describeObjectStoreConformance, describeVersionedStoreConformance } from './conformance.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

describeObjectStoreConformance(
  'S3ObjectStore on the stateful S3 fake',
  async () => {
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
