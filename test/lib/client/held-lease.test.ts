import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseLoss, LeaseLostError, SessionsApiError, SessionsNetworkError } from '#lib/client/errors.ts';
import { holdLease, type LeaseApi } from '#lib/client/held-lease.ts';
import type { Lease } from '#lib/domain/session.ts';

const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const START = 1_763_942_400_000;

beforeEach(() => {
  vi.useFakeTimers({ now: START });
});
afterEach(() => {
  vi.useRealTimers();
});

function leaseFromNow(seconds: number, epoch = 3): Lease {
  return { holder: 'build-7:4711', epoch, seconds, expires_at: Math.floor(Date.now() / 1000) + seconds };
}

/** A client whose heartbeat answers what `answer` says for the nth call (1-based), by default the lease extended. */
function fakeApi(
  answer: (call: number) => Promise<Lease> = () => Promise.resolve(leaseFromNow(30)),
): LeaseApi & { heartbeat: ReturnType<typeof vi.fn> } {
  let calls = 0;
  return {
    acquireLease: vi.fn(async () => ({ session: { lease: leaseFromNow(30, 1) } as never, etag: undefined })),
    heartbeat: vi.fn((_id: string, _epoch: number) => answer(++calls)),
  };
}

function leaseLost(reason: string, epoch: number): LeaseLostError {
  return new LeaseLostError({ code: 'lease_lost', status: 409, message: 'the lease is lost', details: { id: ID, reason, epoch } });
}

const unavailable = (): SessionsApiError => new SessionsApiError({ code: 'storage_unavailable', status: 503, message: 'busy' });

describe('holdLease heartbeats', () => {
  it('every third of the lease, with the held epoch and the lease length', async () => {
    const api = fakeApi();
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(9_999);
    const before = api.heartbeat.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1);
    const first = api.heartbeat.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);

    expect([before, first, api.heartbeat.mock.calls.length]).toEqual([0, 1, 2]);
    expect(api.heartbeat).toHaveBeenCalledWith(ID, 3, expect.objectContaining({ seconds: 30 }));
    expect(held.signal.aborted).toBe(false);
    await held.stop();
  });

  it('a little early by the jitter: at most a fifth of the third', async () => {
    const api = fakeApi();
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0.999 });

    await vi.advanceTimersByTimeAsync(7_990);
    const before = api.heartbeat.mock.calls.length;
    await vi.advanceTimersByTimeAsync(20);

    expect(before).toBe(0);
    expect(api.heartbeat).toHaveBeenCalledTimes(1);
    await held.stop();
  });

  it('keeps the lease each heartbeat answers, and believes it held until its expiry less the margin', async () => {
    const api = fakeApi();
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(10_000);

    expect(held.lease.expires_at).toBe(START / 1000 + 40);
    expect(held.heldUntil).toBe((START / 1000 + 40) * 1000 - 3_000);
    await held.stop();
  });

  it('confirms a given epoch with a heartbeat at once; acquires when given neither lease nor epoch', async () => {
    const confirming = fakeApi();
    const acquiring = fakeApi();

    const confirmed = await holdLease(confirming, ID, { epoch: 3, seconds: 30 });
    const acquired = await holdLease(acquiring, ID, { seconds: 30, holder: 'me' });

    expect(confirming.heartbeat).toHaveBeenCalledWith(ID, 3, { seconds: 30 });
    expect(confirmed.epoch).toBe(3);
    expect(acquiring.acquireLease).toHaveBeenCalledWith(ID, { holder: 'me', seconds: 30, force: undefined });
    expect(acquired.epoch).toBe(1);
    await confirmed.stop();
    await acquired.stop();
  });
});

describe('a lost lease aborts the signal', () => {
  it('lease_lost from a heartbeat: the reason and the new epoch, and no more heartbeats', async () => {
    const api = fakeApi(() => Promise.reject(leaseLost('superseded', 5)));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });
    const onAbort = vi.fn();
    held.signal.addEventListener('abort', onAbort);

    await vi.advanceTimersByTimeAsync(10_000);
    await vi.advanceTimersByTimeAsync(60_000);

    expect(onAbort).toHaveBeenCalledTimes(1);
    expect(held.signal.reason).toBeInstanceOf(LeaseLoss);
    expect(held.lost).toMatchObject({ reason: 'superseded', epoch: 5, heldEpoch: 3, sessionId: ID });
    expect(held.lost?.message).toBe(`lease on session ${ID} lost: superseded by epoch 5`);
    expect(api.heartbeat).toHaveBeenCalledTimes(1);
  });

  it('released and expired are told apart', async () => {
    const api = fakeApi(() => Promise.reject(leaseLost('released', 3)));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(10_000);

    expect(held.lost?.reason).toBe('released');
  });

  it('no heartbeat gets through: lost as expired at the expiry less the margin, not a moment later', async () => {
    const api = fakeApi(() => Promise.reject(new SessionsNetworkError('POST /sessions/x/heartbeat', 'ECONNREFUSED', 1)));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(26_999);
    const beforeMargin = held.signal.aborted;
    await vi.advanceTimersByTimeAsync(1);

    expect(beforeMargin).toBe(false);
    expect(held.lost).toMatchObject({ reason: 'expired', heldEpoch: 3, epoch: undefined });
    expect(held.lost?.message).toContain('expired before a heartbeat got through');
    expect(api.heartbeat.mock.calls.length).toBeGreaterThan(2);
  });

  it('a heartbeat refused for another reason (404) ends the lease at once', async () => {
    const api = fakeApi(() => Promise.reject(new SessionsApiError({ code: 'session_not_found', status: 404, message: 'no session' })));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(10_000);

    expect(held.lost).toMatchObject({ reason: 'refused' });
    expect(api.heartbeat).toHaveBeenCalledTimes(1);
  });
});

describe('transient failures', () => {
  it('a 503 is tried again within the lease, and the lease is kept', async () => {
    const api = fakeApi((call) => (call === 1 ? Promise.reject(unavailable()) : Promise.resolve(leaseFromNow(30))));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });

    await vi.advanceTimersByTimeAsync(10_000);
    await vi.advanceTimersByTimeAsync(2_000);

    expect(api.heartbeat).toHaveBeenCalledTimes(2);
    expect(held.signal.aborted).toBe(false);
    expect(held.lease.expires_at).toBeGreaterThan(START / 1000 + 40);
    await held.stop();
  });
});

describe('stop()', () => {
  it('stops heartbeating, and does not abort the signal', async () => {
    const api = fakeApi();
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });
    await vi.advanceTimersByTimeAsync(10_000);

    await held.stop();
    await vi.advanceTimersByTimeAsync(120_000);

    expect(api.heartbeat).toHaveBeenCalledTimes(1);
    expect(held.signal.aborted).toBe(false);
  });

  it('waits for the heartbeat in flight to answer', async () => {
    let answer: (lease: Lease) => void = () => undefined;
    const api = fakeApi(() => new Promise((resolve) => (answer = resolve)));
    const held = await holdLease(api, ID, { lease: leaseFromNow(30), random: () => 0 });
    await vi.advanceTimersByTimeAsync(10_000);

    let stopped = false;
    const stopping = held.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(100);
    const beforeAnswer = stopped;
    answer(leaseFromNow(30));
    await stopping;

    expect(beforeAnswer).toBe(false);
    expect(stopped).toBe(true);
    expect(held.lease.expires_at).toBe(START / 1000 + 40);
    expect(held.signal.aborted).toBe(false);
  });
});
