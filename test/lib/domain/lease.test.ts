import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidTransition, LeaseHeld, LeaseLost, LeaseRequired } from '#lib/domain/errors.ts';
import {
  acquireLease,
  currentLease,
  effectiveExpiry,
  extendLease,
  fence,
  leaseState,
  needsRenewal,
  parseRenewalKey,
  type Renewal,
  releaseLease,
  renewalKey,
} from '#lib/domain/lease.ts';
import { type Lease, SESSION_STATUSES, type Session, SessionSchema } from '#lib/domain/session.ts';

const NOW = 1_763_942_400;
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

function session(overrides: Partial<Session> = {}): Session {
  return { id: ID, name: null, job_ids: [], created_at: NOW - 100, updated_at: NOW - 100, status: 'active', ...overrides };
}

function held(lease: Partial<Lease> = {}, overrides: Partial<Session> = {}): Session {
  return session({ lease: { holder: 'build-7:4711', epoch: 3, seconds: 60, expires_at: NOW + 30, ...lease }, ...overrides });
}

function renewal(overrides: Partial<Renewal> = {}): Renewal {
  return { session_id: ID, epoch: 3, seconds: 60, expires_at: NOW + 50, ...overrides };
}

describe('leaseState', () => {
  it('is none on a session that was never held, including the original JSON without the field', () => {
    expect(leaseState(session(), undefined, NOW)).toEqual({ kind: 'none' });
    expect(leaseState(session({ lease: null }), undefined, NOW)).toEqual({ kind: 'none' });
  });

  it('is live while the expiry is in the future, and gone (expired) from the second it is reached', () => {
    expect(leaseState(held(), undefined, NOW)).toMatchObject({ kind: 'live', expiresAt: NOW + 30 });
    expect(leaseState(held({ expires_at: NOW }), undefined, NOW)).toMatchObject({ kind: 'gone', reason: 'expired' });
  });

  it('counts a renewal only for the current epoch and only until the sweeper fenced it', () => {
    const expired = held({ expires_at: NOW - 5 });
    expect(leaseState(expired, renewal(), NOW)).toMatchObject({ kind: 'live', expiresAt: NOW + 50 });
    expect(leaseState(expired, renewal({ epoch: 2 }), NOW)).toMatchObject({ kind: 'gone', reason: 'expired' });
    expect(leaseState(expired, renewal({ expired: true }), NOW)).toMatchObject({ kind: 'gone', reason: 'expired' });
  });

  it('is gone (released) on a session that is no longer active, whatever the clock says', () => {
    for (const status of ['paused', 'completed', 'terminated'] as const) {
      expect(leaseState(held({}, { status }), renewal(), NOW)).toMatchObject({ kind: 'gone', reason: 'released' });
    }
    expect(leaseState(held({ ended: 'expired' }, { status: 'paused' }), undefined, NOW)).toMatchObject({ reason: 'expired' });
  });
});

describe('fence', () => {
  it('lets an operator change a session whose lease is not live, and refuses one that is', () => {
    expect(fence(session(), undefined, undefined, NOW)).toBe('operator');
    expect(fence(held({ expires_at: NOW - 1 }), undefined, undefined, NOW)).toBe('operator');
    expect(() => fence(held(), undefined, undefined, NOW)).toThrow(LeaseRequired);
  });

  it('accepts the live epoch as the holder and refuses every other with the reason and the current epoch', () => {
    expect(fence(held(), undefined, 3, NOW)).toBe('holder');
    const superseded = catchError(() => fence(held(), undefined, 2, NOW));
    expect(superseded).toBeInstanceOf(LeaseLost);
    expect((superseded as LeaseLost).details).toEqual({ id: ID, reason: 'superseded', epoch: 3 });
    expect((catchError(() => fence(held({ expires_at: NOW - 1 }), undefined, 3, NOW)) as LeaseLost).details.reason).toBe('expired');
    expect((catchError(() => fence(held({}, { status: 'paused' }), undefined, 3, NOW)) as LeaseLost).details.reason).toBe('released');
    expect((catchError(() => fence(session(), undefined, 1, NOW)) as LeaseLost).details).toMatchObject({ reason: 'released', epoch: null });
  });

  it('checks the epoch before anything else: a superseded holder hears superseded even after the lease ended', () => {
    const ended = held({ epoch: 5, ended: 'released' }, { status: 'completed' });
    expect((catchError(() => fence(ended, undefined, 4, NOW)) as LeaseLost).details.reason).toBe('superseded');
  });

  it('never accepts a change from an epoch other than the current one (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 1001 }),
        fc.integer({ min: -100, max: 100 }),
        fc.constantFrom(...SESSION_STATUSES),
        (current, presented, offset, status) => {
          const subject = held({ epoch: current, expires_at: NOW + offset }, { status });
          let outcome: string;
          try {
            outcome = fence(subject, undefined, presented, NOW);
          } catch (error) {
            outcome = error instanceof LeaseLost ? 'lost' : 'other';
          }
          const accepted = outcome === 'holder';
          expect(accepted).toBe(presented === current && status === 'active' && offset > 0);
          expect(outcome).not.toBe('other');
        },
      ),
    );
  });
});

describe('acquireLease', () => {
  it('gives a free session epoch 1, and a paused one its next epoch and the active status (the resume)', () => {
    const request = { holder: 'ci-runner-2', seconds: 120, force: false };
    expect(acquireLease(session(), undefined, request, NOW).lease).toEqual({
      holder: 'ci-runner-2',
      epoch: 1,
      seconds: 120,
      expires_at: NOW + 120,
    });
    const resumed = acquireLease(held({ ended: 'expired' }, { status: 'paused' }), undefined, request, NOW);
    expect(resumed.status).toBe('active');
    expect(resumed.lease).toEqual({ holder: 'ci-runner-2', epoch: 4, seconds: 120, expires_at: NOW + 120 });
  });

  it('refuses any caller while the lease is live (counting heartbeats), unless it carries the live epoch or forces', () => {
    const other = { holder: 'ci-runner-2', seconds: 60, force: false };
    const error = catchError(() => acquireLease(held({ expires_at: NOW - 1 }), renewal(), other, NOW));
    expect(error).toBeInstanceOf(LeaseHeld);
    expect((error as LeaseHeld).details).toEqual({ id: ID, holder: 'build-7:4711', expires_at: NOW + 50 });
    const forced = acquireLease(held(), undefined, { ...other, force: true }, NOW).lease;
    expect(forced).toMatchObject({ holder: 'ci-runner-2', epoch: 4, taken_over: true });
    const again = acquireLease(held(), undefined, { ...other, holder: 'build-7:4711', epoch: 3 }, NOW).lease;
    expect(again).toEqual({ holder: 'build-7:4711', epoch: 4, seconds: 60, expires_at: NOW + 60 });
  });

  it('takes a holder’s name as no proof: the same name without the live epoch, or with another, is refused', () => {
    const sameName = { holder: 'build-7:4711', seconds: 60, force: false };
    expect(() => acquireLease(held(), undefined, sameName, NOW)).toThrow(LeaseHeld);
    expect(() => acquireLease(held(), undefined, { ...sameName, epoch: 2 }, NOW)).toThrow(LeaseHeld);
    // Once the lease is no longer live, the epoch is not needed.
    expect(acquireLease(held({ expires_at: NOW - 1 }), undefined, sameName, NOW).lease).toMatchObject({ epoch: 4 });
  });

  it('refuses a completed or terminated session', () => {
    for (const status of ['completed', 'terminated'] as const) {
      expect(() => acquireLease(held({}, { status }), undefined, { holder: 'x', seconds: 60, force: true }, NOW)).toThrow(
        InvalidTransition,
      );
    }
  });

  it('hands out strictly increasing epochs over any sequence of acquires and releases (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('acquire', 'force', 'release', 'expire'), { maxLength: 40 }), (steps) => {
        let subject = session();
        let last = 0;
        let now = NOW;
        for (const step of steps) {
          now += 7;
          if (step === 'release' && subject.lease) subject = { ...subject, status: 'paused', lease: releaseLease(subject.lease, now) };
          if (step === 'expire') now += 3600;
          if (step === 'acquire' || step === 'force') {
            try {
              subject = acquireLease(subject, undefined, { holder: `h${now}`, seconds: 60, force: step === 'force' }, now);
            } catch (error) {
              expect(error).toBeInstanceOf(LeaseHeld);
              continue;
            }
            expect(subject.lease!.epoch).toBe(last + 1);
            last = subject.lease!.epoch;
          }
        }
      }),
    );
  });
});

describe('lease arithmetic', () => {
  it('extends by the lease length from now and never shortens; a release ends it now', () => {
    const lease: Lease = { holder: 'h', epoch: 2, seconds: 60, expires_at: NOW + 10 };
    expect(extendLease(lease, NOW).expires_at).toBe(NOW + 60);
    expect(extendLease({ ...lease, expires_at: NOW + 500 }, NOW).expires_at).toBe(NOW + 500);
    expect(releaseLease(lease, NOW)).toEqual({ ...lease, expires_at: NOW, ended: 'released' });
  });

  it('reads the renewal only when the session clock says the lease ran out on an active session', () => {
    expect(needsRenewal(held(), NOW)).toBe(false);
    expect(needsRenewal(held({ expires_at: NOW }), NOW)).toBe(true);
    expect(needsRenewal(held({ expires_at: NOW }, { status: 'paused' }), NOW)).toBe(false);
    expect(needsRenewal(session(), NOW)).toBe(false);
  });

  it('shows readers the expiry heartbeats extended the lease to', () => {
    expect(currentLease(held({ expires_at: NOW - 5 }), renewal())?.expires_at).toBe(NOW + 50);
    expect(currentLease(held({}, { status: 'paused' }), renewal())?.expires_at).toBe(NOW + 30);
    expect(currentLease(session(), undefined)).toBeNull();
    expect(effectiveExpiry({ holder: 'h', epoch: 3, seconds: 60, expires_at: NOW + 90 }, renewal())).toBe(NOW + 90);
  });

  it('names renewal records by session, epoch and length, and reads nothing else as one', () => {
    expect(renewalKey(ID, 12, 60)).toBe(`leases/${ID}/12-60.json`);
    expect(parseRenewalKey(renewalKey(ID, 12, 60))).toEqual({ id: ID, epoch: 12, seconds: 60 });
    for (const key of [
      `leases/${ID}/0-60.json`,
      `leases/${ID}/1-60.json.tmp`,
      `leases/${ID.toUpperCase()}/1-60.json`,
      `sessions/${ID}.json`,
    ]) {
      expect(parseRenewalKey(key)).toBeUndefined();
    }
  });

  it('keeps the original session JSON readable and a leased one round-trips through the schema', () => {
    const original = { id: ID, name: 'ssh-import', job_ids: ['job-123'], created_at: NOW, updated_at: NOW, status: 'active' };
    expect(SessionSchema.parse(original)).toEqual(original);
    const leased = held();
    expect(SessionSchema.parse(JSON.parse(JSON.stringify(leased)))).toEqual(leased);
    expect(SessionSchema.safeParse({ ...original, lease: { holder: 'h', epoch: 0, seconds: 60, expires_at: NOW } }).success).toBe(false);
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
