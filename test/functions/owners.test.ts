/**
 * Owners through the Lambda handlers, with API Gateway v2 events as the IAM authorizer delivers them: assumed-role,
 * user and root principals, normalised to the owner a session records; operators by OPERATOR_PRINCIPALS.
 */
import { describe, expect, it } from 'vitest';
import { readServiceConfig } from '#lib/domain/config.ts';
import { ownerIndexKey } from '#lib/sessions/owner-index.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { invoke, request } from '../helpers/api-event.ts';
import { TEST_CONFIG, useFakeS3Service } from '../helpers/handlers.ts';
import { seedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();

const ACCOUNT = '123456789012';
const FLEET_A = `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-a/i-0aaaaaaaaaaaaaaaa`;
const FLEET_A_MATE = `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-a/i-0bbbbbbbbbbbbbbbb`;
const FLEET_B = `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-b/i-0cccccccccccccccc`;
const USER = `arn:aws:iam::${ACCOUNT}:user/ci/bob`;
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const OPERATOR_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/operators/console-alice`;
const OPERATOR_USER = `arn:aws:iam::${ACCOUNT}:user/alice-admin`;
const OWNER_A = `arn:aws:iam::${ACCOUNT}:role/fleet-a`;

/** As a Lambda cold start reads it: the operators' role (without its path) and a user, from OPERATOR_PRINCIPALS. */
const OWNED_CONFIG = {
  ...TEST_CONFIG,
  operators: readServiceConfig({ OPERATOR_PRINCIPALS: ` arn:aws:iam::${ACCOUNT}:role/operators,${OPERATOR_USER} ` }).operators,
};

describe('with readers: account', () => {
  const renewals = new MemoryObjectStore();
  const s3 = useFakeS3Service({ config: OWNED_CONFIG, renewals });

  const create = async (caller: string, body: Record<string, unknown> = {}) => {
    const response = await invoke(s3.createSession, request.createSession({ body, caller }));
    expect(response.statusCode).toBe(201);
    return response.body as { id: string; owner: string; updated_by: string };
  };

  it.each([
    ['an assumed-role session owns as its role', FLEET_A, OWNER_A],
    ['an IAM user owns as itself, path and all', USER, USER],
    ["the account's root owns as itself", ROOT, ROOT],
    ['an operator owns as its role too', OPERATOR_SESSION, `arn:aws:iam::${ACCOUNT}:role/operators`],
  ])('%s', async (_case, principal, owner) => {
    const session = await create(principal, { name: 'owned' });
    expect(session.owner).toBe(owner);
    expect(session.updated_by).toBe(principal);
    // Its owner's index entry, in the leases store.
    expect(await renewals.get(ownerIndexKey(owner, session.id))).toBeDefined();
    const mine = await invoke(s3.listSessions, request.listSessions({ owner: 'me' }, { caller: principal }));
    expect(mine.body.sessions.map((listed: { id: string }) => listed.id)).toContain(session.id);
  });

  it('a fleet-mate under the same role changes the session, a forced take-over included', async () => {
    const { id } = await create(FLEET_A, { lease_seconds: 60 });
    const taken = await invoke(s3.acquireLease, request.acquireLease(id, { body: { force: true }, caller: FLEET_A_MATE }));
    expect(taken.statusCode).toBe(200);
    const epoch = String(taken.body.lease.epoch);
    expect(
      (await invoke(s3.heartbeat, request.heartbeat(id, { headers: { 'lease-epoch': epoch }, caller: FLEET_A_MATE }))).statusCode,
    ).toBe(200);
    const appended = await invoke(
      s3.addJob,
      request.addJob(id, { body: { job_id: 'job-1' }, headers: { 'lease-epoch': epoch }, caller: FLEET_A_MATE }),
    );
    expect(appended.statusCode).toBe(200);
    expect(appended.body.owner).toBe(OWNER_A);
  });

  it('another role, a user and root are refused every change with 403 forbidden; nothing is written', async () => {
    const { id } = await create(FLEET_A, { lease_seconds: 60 });
    const epoch = { 'lease-epoch': '1' };
    const history = await invoke(s3.sessionHistory, request.sessionHistory(id, {}, { caller: FLEET_A }));
    const version = history.body.versions.at(-1).version_id as string;
    const body = s3.fake.body(`sessions/${id}.json`);
    for (const caller of [FLEET_B, USER, ROOT]) {
      const puts = s3.fake.requests.PutObject;
      const answers = [
        await invoke(s3.addJob, request.addJob(id, { body: { job_id: 'job-x' }, headers: epoch, caller })),
        await invoke(s3.setStatus, request.setStatus(id, { body: { status: 'terminated' }, headers: epoch, caller })),
        await invoke(s3.acquireLease, request.acquireLease(id, { body: {}, caller })),
        await invoke(s3.acquireLease, request.acquireLease(id, { body: { force: true }, caller })),
        await invoke(s3.heartbeat, request.heartbeat(id, { headers: epoch, caller })),
        await invoke(s3.restoreSession, request.restoreSession(id, { body: { version_id: version, force: true }, caller })),
        await invoke(s3.adoptSession, request.adoptSession(id, { body: { owner: USER }, caller })),
      ];
      for (const answer of answers) {
        expect(answer.statusCode, `${caller}: ${answer.raw}`).toBe(403);
        expect(answer.body).toEqual({
          error: { code: 'forbidden', message: `you do not own session ${id}; ask an operator`, details: { id } },
        });
      }
      expect(s3.fake.requests.PutObject).toBe(puts);
    }
    expect(s3.fake.body(`sessions/${id}.json`)).toBe(body);
  });

  it('operators, by role session or by user, change every session; a session stored before owners only they change, until one adopts it', async () => {
    const { session } = seedSession(s3.fake, { name: 'before-owners' });
    const { id } = session;
    const append = (caller: string, job: string) => invoke(s3.addJob, request.addJob(id, { body: { job_id: job }, caller }));
    expect((await append(FLEET_A, 'job-a')).statusCode).toBe(403);
    expect((await append(OPERATOR_SESSION, 'job-1')).statusCode).toBe(200);
    expect((await append(OPERATOR_USER, 'job-2')).statusCode).toBe(200);
    const adopted = await invoke(s3.adoptSession, request.adoptSession(id, { body: { owner: OWNER_A }, caller: OPERATOR_USER }));
    expect(adopted.statusCode).toBe(200);
    expect(adopted.body.owner).toBe(OWNER_A);
    // The same owner again changes nothing.
    const again = await invoke(s3.adoptSession, request.adoptSession(id, { body: { owner: OWNER_A }, caller: OPERATOR_SESSION }));
    expect(again.statusCode).toBe(200);
    expect(again.headers.ETag).toBe(adopted.headers.ETag);
    expect((await append(FLEET_A, 'job-a')).statusCode).toBe(200);
    expect((await append(FLEET_B, 'job-b')).statusCode).toBe(403);
    const history = await invoke(s3.sessionHistory, request.sessionHistory(id, {}, { caller: FLEET_A }));
    expect(history.body.versions.map((entry: { change: string; actor: string }) => [entry.change, entry.actor])).toEqual([
      ['job_added job-a', FLEET_A],
      [`owner changed to ${OWNER_A}`, OPERATOR_USER],
      ['job_added job-2', OPERATOR_USER],
      ['job_added job-1', OPERATOR_SESSION],
      ['created', null],
    ]);
    // A restore to a version before the adoption keeps the owner.
    const first = history.body.versions.at(-1).version_id as string;
    const restored = await invoke(s3.restoreSession, request.restoreSession(id, { body: { version_id: first }, caller: OPERATOR_USER }));
    expect(restored.statusCode).toBe(200);
    expect(restored.body.owner).toBe(OWNER_A);
    expect(restored.body.job_ids).toEqual([]);
  });

  it('the ownership check adds no S3 request: an append by its owner costs what an append without a caller does', async () => {
    const { id: checked } = await create(FLEET_A);
    const { id: unchecked } = await create(FLEET_A);
    const before = { ...s3.fake.requests };
    expect((await invoke(s3.addJob, request.addJob(checked, { body: { job_id: 'job-1' }, caller: FLEET_A }))).statusCode).toBe(200);
    const owned = { ...s3.fake.requests };
    await s3.repository.addJob(unchecked, 'job-1');
    const after = { ...s3.fake.requests };
    const delta = (from: Record<string, number>, to: Record<string, number>) =>
      Object.fromEntries(Object.keys(to).map((command) => [command, to[command]! - (from[command] ?? 0)]));
    expect(delta(before, owned)).toEqual(delta(owned, after));
    expect(delta(before, owned)).toEqual({ GetObject: 0, PutObject: 1, ListObjectsV2: 0 });
  });

  it("the owner's warm heartbeat reads nothing; another owner's falls back to reading the session and is refused", async () => {
    const { id } = await create(FLEET_A, { lease_seconds: 60 });
    const gets = s3.fake.requests.GetObject;
    expect((await invoke(s3.heartbeat, request.heartbeat(id, { headers: { 'lease-epoch': '1' }, caller: FLEET_A_MATE }))).statusCode).toBe(
      200,
    );
    expect(s3.fake.requests.GetObject).toBe(gets);
    const refused = await invoke(s3.heartbeat, request.heartbeat(id, { headers: { 'lease-epoch': '1' }, caller: FLEET_B }));
    expect(refused.statusCode).toBe(403);
    expect(s3.fake.requests.GetObject).toBe(gets + 1);
  });
});

describe('with readers: owner', () => {
  const s3 = useFakeS3Service({ config: { ...OWNED_CONFIG, readers: 'owner' } });

  it("answers another owner's session as missing (404), lists only the caller's own, and operators everything", async () => {
    const ofA = (await invoke(s3.createSession, request.createSession({ body: { name: 'a' }, caller: FLEET_A }))).body.id as string;
    const ofB = (await invoke(s3.createSession, request.createSession({ body: { name: 'b' }, caller: FLEET_B }))).body.id as string;
    const { session: legacy } = seedSession(s3.fake, { name: 'before-owners' });

    const get = await invoke(s3.getSession, request.getSession(ofA, { caller: FLEET_B }));
    expect(get.statusCode).toBe(404);
    expect(get.body.error.code).toBe('session_not_found');
    expect((await invoke(s3.sessionHistory, request.sessionHistory(ofA, {}, { caller: FLEET_B }))).statusCode).toBe(404);
    expect((await invoke(s3.getSession, request.getSession(legacy.id, { caller: FLEET_B }))).statusCode).toBe(404);
    expect((await invoke(s3.getSession, request.getSession(ofA, { caller: FLEET_A_MATE }))).statusCode).toBe(200);
    const listed = async (caller: string, query: Record<string, string> = {}) =>
      (await invoke(s3.listSessions, request.listSessions(query, { caller }))).body.sessions.map((session: { id: string }) => session.id);
    expect(await listed(FLEET_B)).toEqual([ofB]);
    expect(await listed(FLEET_B, { name: 'a' })).toEqual([]);
    expect(await listed(FLEET_B, { status: 'active' })).toEqual([ofB]);
    expect(await listed(FLEET_A, { owner: 'me' })).toEqual([ofA]);
    // Operators read everything, sessions stored before owners included; under owner=me, only their own.
    expect((await listed(OPERATOR_USER)).sort()).toEqual([ofA, ofB, legacy.id].sort());
    expect(await listed(OPERATOR_USER, { owner: 'me' })).toEqual([]);
    expect((await invoke(s3.getSession, request.getSession(ofA, { caller: OPERATOR_SESSION }))).statusCode).toBe(200);
  });
});
