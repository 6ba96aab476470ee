import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LeaseHeldError, LeaseLostError, LeaseRequiredError, SessionsNetworkError } from '#lib/client/errors.ts';
import { errorBody, useScriptedServer, wireSession } from './scripted-server.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const LEASE = { holder: 'build-7:4711', epoch: 4, seconds: 60, expires_at: 1763942520 };
const { clientFor, received, sent } = useScriptedServer();

describe('acquireLease', () => {
  it('POSTs the holder, length and force, and answers the session held', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession({ lease: LEASE }) }));

    const { session } = await client.acquireLease(ID, { holder: 'build-7:4711', seconds: 60, force: true });

    expect(sent(0)).toMatchObject({ method: 'POST', url: `/sessions/${ID}/lease` });
    expect(JSON.parse(sent(0).body)).toEqual({ holder: 'build-7:4711', seconds: 60, force: true });
    expect(session.lease).toEqual(LEASE);
  });

  it('sends HOST:PID as the holder when given nothing, so that no two processes share a holder name', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession({ lease: LEASE }) }));

    await client.acquireLease(ID);

    expect(JSON.parse(sent(0).body)).toEqual({ holder: `${hostname()}:${process.pid}` });
    expect(sent(0).headers['lease-epoch']).toBeUndefined();
  });

  it('a re-acquire presents the epoch held as Lease-Epoch', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession({ lease: { ...LEASE, epoch: 5 } }) }));

    const { session } = await client.acquireLease(ID, { holder: 'build-7:4711', seconds: 60, leaseEpoch: 4 });

    expect(sent(0).headers['lease-epoch']).toBe('4');
    expect(JSON.parse(sent(0).body)).toEqual({ holder: 'build-7:4711', seconds: 60 });
    expect(session.lease?.epoch).toBe(5);
  });

  it('is not sent again after a lost answer: a second acquire would supersede the first', async () => {
    const client = await clientFor(() => 'drop');

    await expect(client.acquireLease(ID)).rejects.toBeInstanceOf(SessionsNetworkError);

    expect(received()).toHaveLength(1);
  });

  it('is sent again after 503 conflict_retry, which says nothing was written', async () => {
    const client = await clientFor((_request, count) =>
      count === 1
        ? { status: 503, body: errorBody('conflict_retry', 'busy', { id: ID }) }
        : { status: 200, body: wireSession({ lease: LEASE }) },
    );

    const { session } = await client.acquireLease(ID);

    expect(session.lease?.epoch).toBe(4);
    expect(received()).toHaveLength(2);
  });

  it('is not sent again after 503 storage_unavailable, which may have written it', async () => {
    const client = await clientFor(() => ({ status: 503, body: errorBody('storage_unavailable', 'down') }));

    await expect(client.acquireLease(ID)).rejects.toMatchObject({ code: 'storage_unavailable' });

    expect(received()).toHaveLength(1);
  });

  it('lease_held is a LeaseHeldError with the holder and its expiry', async () => {
    const client = await clientFor(() => ({
      status: 409,
      body: errorBody('lease_held', 'held', { id: ID, holder: 'other:1', expires_at: 1763942999 }),
    }));

    const error = await client.acquireLease(ID).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(LeaseHeldError);
    expect(error).toMatchObject({ code: 'lease_held', status: 409, holder: 'other:1', expiresAt: 1763942999 });
  });
});

describe('heartbeat', () => {
  it('sends Lease-Epoch and the length, and answers the lease', async () => {
    const client = await clientFor(() => ({ status: 200, body: { lease: LEASE } }));

    const lease = await client.heartbeat(ID, 4, { seconds: 60 });

    expect(sent(0)).toMatchObject({ method: 'POST', url: `/sessions/${ID}/heartbeat` });
    expect(sent(0).headers['lease-epoch']).toBe('4');
    expect(JSON.parse(sent(0).body)).toEqual({ seconds: 60 });
    expect(lease).toEqual(LEASE);
  });

  it('is retried after a lost answer and a 503: the same epoch twice is harmless', async () => {
    const client = await clientFor((_request, count) =>
      count === 1
        ? 'drop'
        : count === 2
          ? { status: 503, body: errorBody('storage_unavailable', 'down') }
          : { status: 200, body: { lease: LEASE } },
    );

    await expect(client.heartbeat(ID, 4)).resolves.toEqual(LEASE);

    expect(received().map((request) => request.headers['lease-epoch'])).toEqual(['4', '4', '4']);
  });

  it('gives up when its own signal aborts, retries included', async () => {
    const client = await clientFor(() => 'hang');

    await expect(client.heartbeat(ID, 4, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ errno: 'TimeoutError' });
  });

  it.each([
    ['superseded', 5],
    ['expired', 4],
    ['released', 4],
  ] as const)('lease_lost (%s) is a LeaseLostError with the reason and the current epoch', async (reason, epoch) => {
    const client = await clientFor(() => ({ status: 409, body: errorBody('lease_lost', 'lost', { id: ID, reason, epoch }) }));

    const error = await client.heartbeat(ID, 4).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ reason, epoch, status: 409 });
    expect(received()).toHaveLength(1);
  });

  it('lease_required is a LeaseRequiredError with the live epoch', async () => {
    const client = await clientFor(() => ({ status: 428, body: errorBody('lease_required', 'send Lease-Epoch', { id: ID, epoch: 4 }) }));

    await expect(client.addJob(ID, 'job-1')).rejects.toSatisfy((error) => error instanceof LeaseRequiredError && error.epoch === 4);
  });
});

describe('changes under a lease', () => {
  it('createSession --lease without a holder sends HOST:PID; without a lease, no holder', async () => {
    const client = await clientFor(() => ({ status: 201, body: wireSession({ lease: { ...LEASE, epoch: 1 } }) }));

    await client.createSession({ name: 'held', leaseSeconds: 30 });
    await client.createSession({ name: 'free' });

    expect(JSON.parse(sent(0).body)).toEqual({ name: 'held', lease_seconds: 30, holder: `${hostname()}:${process.pid}` });
    expect(JSON.parse(sent(1).body)).toEqual({ name: 'free' });
  });

  it('createSession sends lease_seconds and holder', async () => {
    const client = await clientFor(() => ({ status: 201, body: wireSession({ lease: { ...LEASE, epoch: 1 } }) }));

    const created = await client.createSession({ name: 'ssh-import', leaseSeconds: 30, holder: 'build-7:4711' });

    expect(JSON.parse(sent(0).body)).toEqual({ name: 'ssh-import', lease_seconds: 30, holder: 'build-7:4711' });
    expect(created.session.lease?.epoch).toBe(1);
  });

  it('addJob and every status change send Lease-Epoch when given one, and not otherwise', async () => {
    const client = await clientFor(() => ({ status: 200, body: wireSession() }));

    await client.addJob(ID, 'job-1', { leaseEpoch: 4 });
    await client.pause(ID, { leaseEpoch: 4 });
    await client.complete(ID, { leaseEpoch: 0 });
    await client.terminate(ID);

    expect(received().map((request) => request.headers['lease-epoch'])).toEqual(['4', '4', '0', undefined]);
  });

  it('a status change whose answer was lost, retried, finds its own release: the change is done', async () => {
    const client = await clientFor((request, count) => {
      if (count === 1) return 'drop';
      if (request.method === 'PATCH')
        return { status: 409, body: errorBody('lease_lost', 'released', { id: ID, reason: 'released', epoch: 4 }) };
      return { status: 200, body: wireSession({ status: 'completed', lease: LEASE }) };
    });

    const { session } = await client.complete(ID, { leaseEpoch: 4 });

    expect(session.status).toBe('completed');
    expect(received().map((request) => request.method)).toEqual(['PATCH', 'PATCH', 'GET']);
  });

  it('a release by someone else, on the first attempt, is a lost lease', async () => {
    const client = await clientFor(() => ({
      status: 409,
      body: errorBody('lease_lost', 'released', { id: ID, reason: 'released', epoch: 4 }),
    }));

    await expect(client.complete(ID, { leaseEpoch: 4 })).rejects.toBeInstanceOf(LeaseLostError);
    expect(received()).toHaveLength(1);
  });
});

describe('acquireByName', () => {
  it('acquires the newest paused or active session of the name, passing over one completed meanwhile', async () => {
    const older = 'fffe6a1c2b3d4e5f60718293a4b5c6d8';
    const client = await clientFor((request) => {
      if (request.method === 'GET') {
        return {
          status: 200,
          body: {
            sessions: [
              wireSession({ status: 'completed' }),
              wireSession({ status: 'paused' }),
              wireSession({ id: older, status: 'paused' }),
            ],
            next_cursor: null,
          },
        };
      }
      if (request.url.startsWith(`/sessions/${ID}/`))
        return { status: 409, body: errorBody('invalid_transition', 'final', { id: ID, from: 'completed', to: 'active' }) };
      return { status: 200, body: wireSession({ id: older, lease: LEASE }) };
    });

    const acquired = await client.acquireByName('ssh-import', { holder: 'me' });

    expect(acquired).toMatchObject({ session: { id: older }, wasPaused: true });
    expect(received().map((request) => `${request.method} ${request.url}`)).toEqual([
      'GET /sessions?name=ssh-import',
      `POST /sessions/${ID}/lease`,
      `POST /sessions/${older}/lease`,
    ]);
  });
});
