import { describe, expect, it } from 'vitest';
import { ApiError, type Session } from '#lib/console/page/api.ts';
import { explain } from '#lib/console/page/errors.ts';
import { changeKind, diffSessions } from '#lib/console/page/versions.ts';

const base: Session = { id: 'f'.repeat(32), name: 'ssh-import', job_ids: ['a'], created_at: 100, updated_at: 100, status: 'active' };

describe('diffSessions', () => {
  it('lists changed fields and jobs added and removed, not the time or the writer', () => {
    const after: Session = { ...base, status: 'paused', name: 'renamed', job_ids: ['b', 'c'], updated_at: 200, updated_by: 'ops' };

    expect(diffSessions(base, after).map((line) => line.text)).toEqual([
      'name: "ssh-import" → "renamed"',
      'status: "active" → "paused"',
      '2 jobs added: b, c',
      '1 job removed: a',
    ]);
  });

  it('names five jobs and counts the rest', () => {
    const after: Session = { ...base, job_ids: ['a', ...Array.from({ length: 8 }, (_, index) => `j${index}`)] };

    expect(diffSessions(base, after)).toEqual([{ kind: 'jobs-added', text: '8 jobs added: j0, j1, j2, j3, j4, … (+3 more)' }]);
  });

  it.each([
    [null, { holder: 'build-7:4711', epoch: 1, seconds: 60, expires_at: 160 }, 'lease acquired by build-7:4711 (epoch 1, 60 s)'],
    [
      { holder: 'build-7:4711', epoch: 3, seconds: 60, expires_at: 500 },
      { holder: 'ops', epoch: 4, seconds: 60, expires_at: 520 },
      'lease taken over by ops from build-7:4711 (epoch 3 → 4)',
    ],
    [
      { holder: 'build-7:4711', epoch: 3, seconds: 60, expires_at: 100 },
      { holder: 'ops', epoch: 4, seconds: 60, expires_at: 520 },
      'lease acquired by ops (epoch 4, 60 s)',
    ],
    [
      { holder: 'r', epoch: 2, seconds: 60, expires_at: 500 },
      { holder: 'r', epoch: 2, seconds: 60, expires_at: 450 },
      'lease released by r (epoch 2)',
    ],
    [
      { holder: 'build-7:4711', epoch: 3, seconds: 60, expires_at: 100 },
      { holder: 'ops', epoch: 4, seconds: 60, expires_at: 520, taken_over: true },
      'lease taken over by ops from build-7:4711 (epoch 3 → 4)',
    ],
    [
      { holder: 'r', epoch: 2, seconds: 60, expires_at: 500 },
      { holder: 'r', epoch: 2, seconds: 60, expires_at: 500, ended: 'expired' },
      'lease expired (epoch 2)',
    ],
  ])('tells a lease change: %j → %j', (before, after, text) => {
    expect(diffSessions({ ...base, lease: before }, { ...base, lease: after })).toEqual([{ kind: 'lease', text }]);
  });

  it('says nothing when only the time and the writer changed', () => {
    expect(diffSessions(base, { ...base, updated_at: 300, updated_by: 'x' })).toEqual([]);
  });
});

describe('changeKind', () => {
  it.each([
    ['created', 'created'],
    ['job_added x', 'jobs'],
    ['jobs_added 3: a, b, c', 'jobs'],
    ['status active→paused', 'status'],
    ['status active→paused (lease expired)', 'lease'],
    ['restored 123', 'restored'],
    ['unchanged', 'other'],
  ])('%s is about %s', (change, kind) => {
    expect(changeKind(change)).toBe(kind);
  });
});

describe('explain', () => {
  it('tells a 412 as someone else’s change, fixed by a reload', () => {
    expect(explain(new ApiError(412, 'precondition_failed', 'stale'))).toEqual({
      message: 'Someone changed it meanwhile — reload to see the current version, then try again.',
      stale: true,
    });
  });

  it('names the holder of a lease that refused an acquire', () => {
    const told = explain(new ApiError(409, 'lease_held', 'held', { holder: 'build-7:4711', expires_at: 1_763_942_520 }));

    expect(told.message).toMatch(/^build-7:4711 holds this session until \d\d:\d\d:\d\d\. Use “Take over”/);
    expect(told.stale).toBe(true);
  });

  it.each([
    ['lease_lost', { reason: 'superseded', epoch: 5 }, 'The lease was lost (superseded)'],
    ['lease_required', {}, 'take it over first'],
    ['no_route', {}, 'does not offer this yet'],
  ])('explains %s', (code, details, text) => {
    expect(explain(new ApiError(409, code, 'x', details)).message).toContain(text);
  });
});
