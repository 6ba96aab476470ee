import { describe, expect, it } from 'vitest';
import type { HistoryEntry, Lease, Session } from '#lib/console/page/api.ts';
import { timeline, visibleItems } from '#lib/console/page/history-groups.ts';
import { endedInHistory, endedText, leaseStanding, liveLease } from '#lib/console/page/lease.ts';

const base: Session = { id: 'f'.repeat(32), name: 'build', job_ids: [], created_at: 100, updated_at: 100, status: 'active' };

/** A history, newest first, from sessions given oldest first with the change the server would describe. */
function historyOf(...versions: [string, Partial<Session>][]): HistoryEntry[] {
  let session = base;
  const entries = versions.map(([change, fields], index) => {
    session = { ...session, ...fields, updated_at: 100 + index };
    return { version_id: `v${index}`, at: 100 + index, actor: 'local', change, session };
  });
  return entries.reverse();
}

const jobs = (count: number, from = 0) => Array.from({ length: count }, (_, index) => `j-${from + index}`);

describe('timeline', () => {
  const history = historyOf(
    ['created', {}],
    ['job_added j-0', { job_ids: jobs(1) }],
    ['jobs_added 2: j-1, j-2', { job_ids: jobs(3) }],
    ['job_added j-3', { job_ids: jobs(4) }],
    ['status active→paused', { status: 'paused' }],
    ['job_added j-4', { status: 'paused', job_ids: jobs(5) }],
  );

  it('groups a run of two or more appends into one item with the jobs it added, and leaves a lone append alone', () => {
    const items = timeline(history);

    expect(items.map((item) => item.kind)).toEqual(['version', 'version', 'appends', 'version']);
    const group = items[2]!;
    expect(group.kind === 'appends' && group.jobs).toEqual(['j-0', 'j-1', 'j-2', 'j-3']);
    expect(group.kind === 'appends' && group.entries.map((entry) => entry.version_id)).toEqual(['v3', 'v2', 'v1']);
    expect(group.kind === 'appends' && group.older?.version_id).toBe('v0');
  });

  it('tells the jobs of a run whose older versions are not read yet from the oldest one’s change', () => {
    const group = timeline(history.slice(2, 5))[0]!;

    expect(group.kind === 'appends' && group.jobs).toEqual(['j-0', 'j-1', 'j-2', 'j-3']);
  });

  it('does not count a restore or a status change that kept the jobs as an append', () => {
    const restored = historyOf(
      ['created', {}],
      ['job_added j-0', { job_ids: jobs(1) }],
      ['restored v0', { job_ids: jobs(2), restored_from: 'v0' }],
    );

    expect(timeline(restored).map((item) => item.kind)).toEqual(['version', 'version', 'version']);
  });

  it('shows only status and lease changes (and the creation) in that view', () => {
    const lease: Lease = { holder: 'r', epoch: 1, seconds: 60, expires_at: 200 };
    const held = historyOf(
      ['created', {}],
      ['job_added j-0', { job_ids: jobs(1) }],
      ['lease acquired by r (epoch 1)', { lease }],
      ['job_added j-1', { job_ids: jobs(2), lease }],
      ['job_added j-2', { job_ids: jobs(3), lease }],
      ['status active→paused', { status: 'paused', lease: { ...lease, ended: 'released' } }],
    );

    const shown = visibleItems(timeline(held), 'status-and-lease');

    expect(shown.map((item) => item.kind === 'version' && item.entry.change)).toEqual([
      'status active→paused',
      'lease acquired by r (epoch 1)',
      'created',
    ]);
  });
});

describe('leaseStanding', () => {
  const lease: Lease = { holder: 'build-7:4711', epoch: 3, seconds: 300, expires_at: 1000 };

  it.each([
    ['live while active, not ended and ahead', { lease }, 900, 'live'],
    ['expired at its expiry', { lease }, 1000, 'Expired at'],
    ['released at the release', { lease: { ...lease, expires_at: 800, ended: 'released' }, updated_at: 800 }, 900, 'Released at'],
  ])('%s', (_, fields, now, said) => {
    const standing = leaseStanding({ ...base, ...fields } as Session, now);

    expect(standing.kind === 'ended' ? endedText(standing) : standing.kind).toMatch(new RegExp(`^${said}`));
  });

  it('calls a lease that a change ended before its time ended at that change, not expired at a time still to come', () => {
    const session: Session = { ...base, status: 'paused', updated_at: 700, lease: { ...lease, ended: 'expired' } };

    const standing = leaseStanding(session, 900);

    expect(standing).toEqual({ kind: 'ended', lease: session.lease, how: 'ended', at: 700 });
    expect(liveLease(session, 900)).toBeUndefined();
  });

  it('is not live on a session that is no longer active, whatever its expiry says', () => {
    expect(leaseStanding({ ...base, status: 'paused', updated_at: 600, lease }, 900)).toMatchObject({ how: 'released', at: 600 });
  });

  it('dates the ending by the history when it shows the version that ended the lease', () => {
    const ended = { ...lease, ended: 'released', expires_at: 650 };
    const history = historyOf(
      ['lease acquired', { lease }],
      ['status active→paused', { status: 'paused', lease: ended }],
      ['status paused→completed', { status: 'completed', lease: ended }],
    );

    expect(endedInHistory(history, ended)).toBe(101);
    expect(endedInHistory(history.slice(0, 1), ended)).toBeUndefined();
  });

  it('keeps a run going through outcomes recorded without an append, and breaks it at a failure', () => {
    const counts = (succeeded: number, failed = 0, running = 0) => ({
      job_counts: { total: 3, running, succeeded, failed, cancelled: 0 },
    });
    const items = timeline(
      historyOf(
        ['created', {}],
        ['jobs_added 3: j-0, j-1, j-2', { job_ids: jobs(3), ...counts(0, 0, 3) }],
        ['job j-0 succeeded', { ...counts(1, 0, 2) }],
        ['job j-1 succeeded', { ...counts(2, 0, 1) }],
        ['job j-2 failed (exit 2)', { ...counts(2, 1, 0) }],
        ['unchanged', {}],
      ),
    );

    expect(items.map((item) => (item.kind === 'appends' ? `appends ${item.entries.length}` : item.entry.change))).toEqual([
      'unchanged',
      'job j-2 failed (exit 2)',
      'appends 3',
      'created',
    ]);
    const group = items[2]!;
    expect(group.kind === 'appends' && group.jobs).toEqual(['j-0', 'j-1', 'j-2']);
  });
});
