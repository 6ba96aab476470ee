import { describe, expect, it } from 'vitest';
import { formatSession, formatSessionTable, formatTime } from '#lib/client/cli/output.ts';
import type { Session } from '#lib/domain/session.ts';

const session: Session = {
  id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7',
  name: 'ssh-import',
  job_ids: ['job-123', 'job-124'],
  created_at: 1763942400,
  updated_at: 1763942460,
  status: 'active',
  updated_by: 'arn:aws:iam::123456789012:user/runner-7',
};

describe('formatSession', () => {
  it('lines up label and value, with the etag last', () => {
    expect(formatSession({ session, etag: '"abc"' })).toBe(
      [
        'session  fffe6a1c2b3d4e5f60718293a4b5c6d7',
        'name     ssh-import',
        'status   active',
        'jobs     2  (job-123, job-124)',
        'created  2025-11-24 00:00:00 UTC',
        'updated  2025-11-24 00:01:00 UTC',
        'by       arn:aws:iam::123456789012:user/runner-7',
        'etag     "abc"',
        '',
      ].join('\n'),
    );
  });

  it('shows the last 10 jobs of a longer session and the count', () => {
    const jobs = Array.from({ length: 12 }, (_, i) => `j${i + 1}`);

    const text = formatSession({ session: { ...session, job_ids: jobs }, etag: undefined });

    expect(text).toContain('jobs     12  (last 10: j3, j4, j5, j6, j7, j8, j9, j10, j11, j12)\n');
    expect(text).not.toContain('etag');
  });

  it('shows a session without name, jobs or author', () => {
    const { updated_by: _by, ...anonymous } = session;

    const text = formatSession({ session: { ...anonymous, name: null, job_ids: [] }, etag: undefined });

    expect(text).toContain('name     -\n');
    expect(text).toContain('jobs     0\n');
    expect(text).not.toContain('by ');
  });
});

describe('formatSessionTable', () => {
  it('aligns columns, right-aligns the job count and keeps the name last', () => {
    const other: Session = {
      ...session,
      id: 'fffe6a1c2b3d4e5f60718293a4b5c6d8',
      name: null,
      status: 'terminated',
      job_ids: Array.from({ length: 120 }, (_, i) => `j${i}`),
    };

    expect(formatSessionTable([session, other])).toBe(
      [
        'ID                                STATUS      JOBS  UPDATED                  NAME',
        'fffe6a1c2b3d4e5f60718293a4b5c6d7  active         2  2025-11-24 00:01:00 UTC  ssh-import',
        'fffe6a1c2b3d4e5f60718293a4b5c6d8  terminated   120  2025-11-24 00:01:00 UTC  -',
        '',
      ].join('\n'),
    );
  });

  it('says so when there is nothing to show', () => {
    expect(formatSessionTable([])).toBe('no sessions\n');
  });
});

describe('formatTime', () => {
  it('is UTC, to the second', () => {
    expect(formatTime(0)).toBe('1970-01-01 00:00:00 UTC');
  });
});
