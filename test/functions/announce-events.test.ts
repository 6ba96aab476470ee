import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sessionKey } from '#lib/domain/ids.ts';
import type { S3ObjectCreatedEvent } from '#lib/runtime/eventbridge.ts';
import { announcedKey } from '#lib/workers/announcer.ts';
import { TEST_BUCKET, useFakeS3Service } from '../helpers/handlers.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

const LEASES_BUCKET = 'runner-sessions-test-leases-7f3a';
const BUS_NAME = 'runner-sessions-test-bus';

captureTelemetry();
const s3 = useFakeS3Service();
const eventBridge = mockClient(EventBridgeClient);
let handler: (event: S3ObjectCreatedEvent) => Promise<unknown>;

beforeAll(async () => {
  process.env.SESSIONS_BUCKET = TEST_BUCKET;
  process.env.LEASES_BUCKET = LEASES_BUCKET;
  process.env.EVENTS_BUS_NAME = BUS_NAME;
  ({ handler } = await import('../../functions/announce-events.ts'));
});
afterAll(() => {
  eventBridge.restore();
  delete process.env.SESSIONS_BUCKET;
  delete process.env.LEASES_BUCKET;
  delete process.env.EVENTS_BUS_NAME;
});
beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake(({ Entries = [] }: { Entries?: PutEventsRequestEntry[] }) => ({
    FailedEntryCount: 0,
    Entries: Entries.map((_, index) => ({ EventId: `e-${index}` })),
  }));
});

/** An S3 "Object Created" event as EventBridge delivers it to a rule's target. */
function objectCreated(key: string, versionId: string | undefined, bucket = TEST_BUCKET): S3ObjectCreatedEvent {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-12-01T12:00:00Z',
    region: 'eu-west-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: { key, size: 180, etag: 'b1946ac92492d2347c6235b4d2611184', 'version-id': versionId, sequencer: '00617F08299329D189' },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      'source-ip-address': '1.2.3.4',
      reason: 'PutObject',
    },
  } as S3ObjectCreatedEvent;
}

/** A session created, leased, given a job, paused: four versions, three of them announced. */
async function sessionWithHistory(): Promise<string> {
  const { repository } = s3;
  const created = await repository.createSession({ name: 'build-42', actor: 'ci' });
  const id = created.session.id;
  await repository.acquireLease(id, { holder: 'runner-1', seconds: 60, actor: 'runner-1' });
  await repository.addJob(id, 'job-1', { actor: 'runner-1', leaseEpoch: 1 });
  await repository.setStatus(id, 'paused', { actor: 'runner-1', leaseEpoch: 1 });
  return id;
}

function entries(): PutEventsRequestEntry[] {
  return eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
}

describe('announce-events (S3 Object Created → EventBridge)', () => {
  it('publishes the session’s events oldest first to the bus, then moves the cursor to the newest version', async () => {
    const id = await sessionWithHistory();
    const [newest] = s3.fake.versionIds(sessionKey(id));

    await handler(objectCreated(sessionKey(id), newest));

    const published = entries();
    expect(published.map((entry) => entry.DetailType)).toEqual(['Session Created', 'Session Lease Acquired', 'Session Status Changed']);
    for (const entry of published) {
      expect(entry).toMatchObject({ EventBusName: BUS_NAME, Source: 'runner-sessions' });
      expect(entry.Time).toBeInstanceOf(Date);
    }
    const details = published.map((entry) => JSON.parse(entry.Detail!));
    expect(details.map((detail) => [detail.session_id, detail.old_status, detail.new_status, detail.actor])).toEqual([
      [id, null, 'active', 'ci'],
      [id, 'active', 'active', 'runner-1'],
      [id, 'active', 'paused', 'runner-1'],
    ]);
    expect(details.at(-1)).toMatchObject({ name: 'build-42', epoch: 1, version_id: newest });
    expect(published[0]!.Time!.getTime()).toBe(details[0].at * 1000);
    expect(JSON.parse(s3.fake.body(announcedKey(id))!)).toEqual({ version_id: newest });
  });

  it('publishes nothing again for a repeated notification', async () => {
    const id = await sessionWithHistory();
    const [newest] = s3.fake.versionIds(sessionKey(id));
    await handler(objectCreated(sessionKey(id), newest));
    eventBridge.resetHistory();

    await handler(objectCreated(sessionKey(id), newest));

    expect(entries()).toEqual([]);
  });

  it('throws when EventBridge refuses an entry, and leaves the cursor where it was', async () => {
    const id = await sessionWithHistory();
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-0' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }, { EventId: 'e-2' }],
    });

    await expect(handler(objectCreated(sessionKey(id), s3.fake.versionIds(sessionKey(id))[0]))).rejects.toThrow(
      /EventBridge refused 1 of 3 events \(InternalFailure\)/,
    );

    expect(s3.fake.body(announcedKey(id))).toBeUndefined();
    expect(s3.fake.puts.filter((put) => put.Key === announcedKey(id))).toEqual([]);
  });

  it('ignores keys that are not sessions, and notifications from another bucket', async () => {
    const id = await sessionWithHistory();
    s3.fake.resetCounts();

    await expect(handler(objectCreated('names/ab/cd.json', 'v1'))).resolves.toBeUndefined();
    await expect(handler(objectCreated(`sessions/${id}.json.tmp`, 'v1'))).resolves.toBeUndefined();
    await expect(handler(objectCreated('sessions/not-an-id.json', 'v1'))).resolves.toBeUndefined();
    await expect(handler(objectCreated(sessionKey(id), 'v1', 'another-bucket'))).resolves.toBeUndefined();

    expect(eventBridge.commandCalls(PutEventsCommand)).toEqual([]);
    expect(s3.fake.totalRequests).toBe(0);
  });
});
