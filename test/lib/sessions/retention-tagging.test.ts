import { DeleteObjectTaggingCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sessionKey } from '#lib/domain/ids.ts';
import { ENDED_TAG, ENDED_TAGGING } from '#lib/domain/retention.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const ENDED = { [ENDED_TAG.key]: ENDED_TAG.value };

/** Retention on S3: the ended tag rides on the ending PUT, and a restore that replaces an ending removes it. */
describe('the ended tag on S3', () => {
  let fake: S3Fake;
  let repository: SessionRepository;

  beforeEach(() => {
    fake = new S3Fake();
    repository = new SessionRepository({
      store: new S3ObjectStore({ bucket: 'sessions', client }),
      renewals: new S3ObjectStore({ bucket: 'leases', client }),
    });
  });

  afterEach(() => fake.restore());

  const sessionPuts = (id: string) =>
    fake.stub
      .commandCalls(PutObjectCommand)
      .filter((call) => call.args[0].input.Key === sessionKey(id))
      .map((call) => call.args[0].input);

  it('sends Tagging on the PUT that ends a session, and on no other write', async () => {
    const { session } = await repository.createSession({ name: 'alpha' });
    await repository.addJob(session.id, 'job-1');
    await repository.setStatus(session.id, 'paused');
    await repository.setStatus(session.id, 'completed');

    const puts = sessionPuts(session.id);

    expect(puts.map((input) => input.Tagging)).toEqual([undefined, undefined, undefined, ENDED_TAGGING]);
    expect(puts.at(-1)).toMatchObject({ IfMatch: expect.any(String), Tagging: 'runner-sessions%3Aended=true' });
    expect(fake.tags(sessionKey(session.id))).toEqual(ENDED);
    // Only the session carries it: index entries and records are written untagged.
    expect(fake.puts.filter((input) => input.Tagging !== undefined).map((input) => input.Key)).toEqual([sessionKey(session.id)]);
    expect(fake.stub.commandCalls(PutObjectTaggingCommand)).toEqual([]);
    expect(fake.stub.commandCalls(DeleteObjectTaggingCommand)).toEqual([]);
  });

  it('adds no request to an ending write: ending costs what pausing costs', async () => {
    const paused = (await repository.createSession({})).session.id;
    const ended = (await repository.createSession({})).session.id;
    await repository.getSession(paused);
    await repository.getSession(ended);

    fake.resetCounts();
    await repository.setStatus(paused, 'paused');
    const pausing = fake.stub.calls().map((call) => (call.args[0] as object).constructor.name);
    fake.resetCounts();
    await repository.setStatus(ended, 'terminated');
    const ending = fake.stub.calls().map((call) => (call.args[0] as object).constructor.name);

    expect(ending).toEqual(pausing);
    expect(fake.tags(sessionKey(ended))).toEqual(ENDED);
    expect(fake.tags(sessionKey(paused))).toEqual({});
  });

  it('removes the tag of the ending version a restore replaces, by its version ID, in one request', async () => {
    const { session } = await repository.createSession({});
    const key = sessionKey(session.id);
    await repository.setStatus(session.id, 'completed');
    const [ending, created] = fake.versionIds(key);

    fake.resetCounts();
    await repository.restoreVersion(session.id, created!);

    const untags = fake.stub.commandCalls(DeleteObjectTaggingCommand).map((call) => call.args[0].input);
    expect(untags).toEqual([{ Bucket: 'sessions', Key: key, VersionId: ending }]);
    expect(fake.tags(key, ending)).toEqual({});
    expect(fake.tags(key)).toEqual({});
    expect(fake.stub.commandCalls(PutObjectTaggingCommand)).toEqual([]);
  });

  it('tags the restored version when it ends the session again, and untags the ending it replaced', async () => {
    const { session } = await repository.createSession({});
    const key = sessionKey(session.id);
    await repository.setStatus(session.id, 'terminated');
    const [firstEnding, created] = fake.versionIds(key);
    await repository.restoreVersion(session.id, created!);
    await repository.addJob(session.id, 'job-1');
    await repository.setStatus(session.id, 'completed');
    const [secondEnding] = fake.versionIds(key);

    await repository.restoreVersion(session.id, firstEnding!);

    expect(fake.tags(key)).toEqual(ENDED);
    expect(fake.tags(key, secondEnding)).toEqual({});
    expect(fake.tags(key, firstEnding)).toEqual({});
  });

  it('sends no untagging when a restore replaces a version that did not end the session', async () => {
    const { session } = await repository.createSession({});
    await repository.addJob(session.id, 'job-1');
    const [, created] = fake.versionIds(sessionKey(session.id));

    fake.resetCounts();
    await repository.restoreVersion(session.id, created!);

    expect(fake.stub.commandCalls(DeleteObjectTaggingCommand)).toEqual([]);
  });
});
