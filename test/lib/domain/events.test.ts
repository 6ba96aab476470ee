import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveEvent, EVENT_TYPES, eventTypeOf, failedJobs, sessionEvents } from '#lib/domain/events.ts';
import { acquireLease, releaseLease } from '#lib/domain/lease.ts';
import { SESSION_STATUSES, type Session } from '#lib/domain/session.ts';

const NOW = 1_763_942_400;
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';
const base: Session = { id: ID, name: 'ssh-import', job_ids: [], created_at: NOW, updated_at: NOW, status: 'active', updated_by: 'ci' };

describe('deriveEvent', () => {
  it('announces a creation with no old status, and the epoch of a held one', () => {
    expect(deriveEvent(null, base, 'v1')).toEqual({
      type: 'Session Created',
      detail: {
        session_id: ID,
        name: 'ssh-import',
        old_status: null,
        new_status: 'active',
        epoch: null,
        actor: 'ci',
        version_id: 'v1',
        at: NOW,
      },
    });
    const held = acquireLease(base, undefined, { holder: 'r', seconds: 60, force: false }, NOW);
    expect(deriveEvent(null, held, 'v1')?.detail.epoch).toBe(1);
  });

  it('tells an acquire (a resume and a forced take-over included) from an expiry and other status changes', () => {
    const held = acquireLease(base, undefined, { holder: 'r', seconds: 60, force: false }, NOW);
    const expired: Session = { ...held, status: 'paused', updated_by: 'lease-expiry', lease: { ...held.lease!, ended: 'expired' } };
    const resumed = acquireLease(expired, undefined, { holder: 'r2', seconds: 60, force: false }, NOW + 100);
    const forced = acquireLease(resumed, undefined, { holder: 'r3', seconds: 60, force: true }, NOW + 101);
    const completed: Session = { ...forced, status: 'completed', lease: releaseLease(forced.lease!, NOW + 102), updated_by: 'r3' };
    expect(eventTypeOf(base, held)).toBe('Session Lease Acquired');
    expect(eventTypeOf(held, expired)).toBe('Session Lease Expired');
    expect(deriveEvent(expired, resumed, 'v4')?.detail).toMatchObject({ old_status: 'paused', new_status: 'active', epoch: 2 });
    expect(eventTypeOf(resumed, forced)).toBe('Session Lease Acquired');
    expect(eventTypeOf(forced, completed)).toBe('Session Status Changed');
    expect(eventTypeOf(base, { ...base, status: 'paused' })).toBe('Session Status Changed');
  });

  it('announces a restore, and nothing for job appends or lease extensions', () => {
    expect(eventTypeOf(base, { ...base, restored_from: 'v0' })).toBe('Session Restored');
    expect(eventTypeOf(base, { ...base, job_ids: ['job-1'] })).toBeUndefined();
    const held = acquireLease(base, undefined, { holder: 'r', seconds: 60, force: false }, NOW);
    expect(eventTypeOf(held, { ...held, job_ids: ['j'], lease: { ...held.lease!, expires_at: NOW + 600 } })).toBeUndefined();
  });

  it('gives exactly one type or none for any pair of versions, consistent with what changed (property)', () => {
    const version = fc.record({
      status: fc.constantFrom(...SESSION_STATUSES),
      epoch: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      jobs: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
      restoredFrom: fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
      expiry: fc.boolean(),
    });
    fc.assert(
      fc.property(version, version, (a, b) => {
        const build = (v: typeof a): Session => ({
          ...base,
          status: v.status,
          job_ids: v.jobs,
          ...(v.restoredFrom === undefined ? {} : { restored_from: v.restoredFrom }),
          ...(v.epoch === undefined ? {} : { lease: { holder: 'h', epoch: v.epoch, seconds: 60, expires_at: NOW } }),
          updated_by: v.expiry ? 'lease-expiry' : 'ci',
        });
        const previous = build(a);
        const next = build(b);
        const type = eventTypeOf(previous, next);
        expect(type === undefined || EVENT_TYPES.includes(type)).toBe(true);
        const epochRose = (b.epoch ?? 0) > (a.epoch ?? 0);
        const restored = b.restoredFrom !== undefined && b.restoredFrom !== a.restoredFrom;
        expect(type !== undefined).toBe(restored || epochRose || a.status !== b.status);
        if (type === 'Session Lease Expired') expect([a.status, b.status]).toEqual([a.status, 'paused']);
        const detail = deriveEvent(previous, next, 'v9')?.detail;
        if (detail) expect(detail).toMatchObject({ old_status: a.status, new_status: b.status, version_id: 'v9', session_id: ID });
      }),
    );
  });
});

describe('Session Job Failed', () => {
  const outcome = (state: 'running' | 'succeeded' | 'failed', exitCode: number | null, signal: string | null = null) => ({
    state,
    exit_code: exitCode,
    signal,
    started_at: NOW,
    finished_at: state === 'running' ? null : NOW + 60,
  });
  const counts = (failed: number, succeeded = 0) => ({ total: 3, running: 0, succeeded, failed, cancelled: 0 });
  const before: Session = { ...base, job_ids: ['a', 'b', 'c'], job_counts: counts(0) };

  it('is announced once per job the version recorded as failed, after the version’s own event, with the job’s outcome', () => {
    const next: Session = {
      ...before,
      status: 'paused',
      updated_at: NOW + 60,
      job_counts: counts(2, 1),
      last_jobs: { a: outcome('failed', 2), b: outcome('failed', null, 'SIGKILL'), c: outcome('succeeded', 0) },
    };

    const events = sessionEvents(before, next, 'v2');

    expect(events.map((event) => [event.id, event['detail-type']])).toEqual([
      [`${ID}:v2`, 'Session Status Changed'],
      [`${ID}:v2:a`, 'Session Job Failed'],
      [`${ID}:v2:b`, 'Session Job Failed'],
    ]);
    expect(events[1]).toEqual({
      id: `${ID}:v2:a`,
      time: new Date((NOW + 60) * 1000).toISOString(),
      source: 'runner-sessions',
      'detail-type': 'Session Job Failed',
      detail: {
        session_id: ID,
        name: 'ssh-import',
        job_id: 'a',
        exit_code: 2,
        signal: null,
        epoch: null,
        actor: 'ci',
        version_id: 'v2',
        at: NOW + 60,
      },
    });
    expect(events[2]?.detail).toMatchObject({ job_id: 'b', exit_code: null, signal: 'SIGKILL' });
  });

  it('is not announced when the failed count did not grow: other outcomes, later writes carrying the last outcomes, restores, creations', () => {
    const failed: Session = { ...before, job_counts: counts(1), last_jobs: { a: outcome('failed', 1) } };
    const succeeded: Session = { ...before, job_counts: counts(0, 1), last_jobs: { a: outcome('succeeded', 0) } };

    expect(failedJobs(before, succeeded, 'v')).toEqual([]);
    expect(failedJobs(failed, { ...failed, status: 'paused' }, 'v')).toEqual([]);
    expect(failedJobs(failed, { ...failed, job_ids: [...failed.job_ids, 'd'] }, 'v')).toEqual([]);
    expect(failedJobs(before, { ...failed, restored_from: 'v0' }, 'v')).toEqual([]);
    expect(failedJobs(null, failed, 'v')).toEqual([]);
    expect(failedJobs(before, failed, 'v')).toHaveLength(1);
    // A session stored before counts were kept counts as none failed.
    const { job_counts: _counts, ...legacy } = before;
    expect(failedJobs(legacy, failed, 'v')).toHaveLength(1);
  });

  it('is one of the event types', () => {
    expect(EVENT_TYPES).toContain('Session Job Failed');
  });
});
