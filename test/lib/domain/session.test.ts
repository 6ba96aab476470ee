import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JOB_ID_MAX_BYTES, LABEL_MAX_BYTES } from '#lib/domain/limits.ts';
import {
  isTerminal,
  JobIdSchema,
  LabelSchema,
  SESSION_STATUSES,
  SessionNameSchema,
  SessionSchema,
  type SessionStatus,
  transition,
} from '#lib/domain/session.ts';

const status = fc.constantFrom(...SESSION_STATUSES);

describe('transition', () => {
  it.each<[SessionStatus, SessionStatus, string]>([
    ['active', 'paused', 'allowed'],
    ['paused', 'active', 'allowed'],
    ['active', 'completed', 'allowed'],
    ['active', 'terminated', 'allowed'],
    ['paused', 'completed', 'allowed'],
    ['paused', 'terminated', 'allowed'],
    ['completed', 'active', 'refused'],
    ['completed', 'paused', 'refused'],
    ['completed', 'terminated', 'refused'],
    ['terminated', 'active', 'refused'],
    ['terminated', 'paused', 'refused'],
    ['terminated', 'completed', 'refused'],
  ])('%s → %s is %s', (from, to, expected) => {
    expect(transition(from, to)).toBe(expected);
  });

  it('treats asking for the current status as a no-op', () => {
    fc.assert(
      fc.property(status, (s) => {
        expect(transition(s, s)).toBe('unchanged');
      }),
    );
  });

  it('never leaves a terminal status', () => {
    fc.assert(
      fc.property(status, status, (from, to) => {
        fc.pre(isTerminal(from) && from !== to);
        expect(transition(from, to)).toBe('refused');
      }),
    );
  });

  it('reaches only the states the machine allows along any walk', () => {
    fc.assert(
      fc.property(fc.array(status, { maxLength: 50 }), (requests) => {
        let current: SessionStatus = 'active';
        let terminalAt: SessionStatus | undefined;
        for (const next of requests) {
          if (transition(current, next) === 'allowed') current = next;
          if (terminalAt !== undefined) expect(current).toBe(terminalAt);
          if (isTerminal(current)) terminalAt = current;
        }
        expect(SESSION_STATUSES).toContain(current);
      }),
    );
  });

  it('can always return from paused to active, and pause again', () => {
    expect(transition('paused', 'active')).toBe('allowed');
    expect(transition('active', 'paused')).toBe('allowed');
  });
});

describe('SessionSchema', () => {
  const stored = {
    id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7',
    name: 'ssh-import',
    job_ids: ['job-123', 'job-124'],
    created_at: 1763942400,
    updated_at: 1763942460,
    status: 'active',
  };

  it('reads the JSON of the original tracker', () => {
    expect(SessionSchema.parse(stored)).toEqual(stored);
  });

  it('keeps fields it does not know', () => {
    const parsed = SessionSchema.parse({ ...stored, runner: { host: 'build-7' } });

    expect(JSON.parse(JSON.stringify(parsed))).toEqual({ ...stored, runner: { host: 'build-7' } });
  });

  it.each([
    ['a name with a control character', { name: 'a\u0007b' }],
    ['an empty name', { name: '' }],
    ['a 257-character name', { name: 'x'.repeat(257) }],
    ['an unknown status', { status: 'running' }],
    ['timestamps in milliseconds as strings', { created_at: '1763942400000' }],
    ['an uppercase id', { id: stored.id.toUpperCase() }],
    ['a job id that is not a string', { job_ids: [7] }],
  ])('refuses %s', (_, change) => {
    expect(SessionSchema.safeParse({ ...stored, ...change }).success).toBe(false);
  });

  it('accepts a null name and 256-character names', () => {
    expect(SessionSchema.safeParse({ ...stored, name: null }).success).toBe(true);
    expect(SessionSchema.safeParse({ ...stored, name: 'é'.repeat(256) }).success).toBe(true);
  });
});

describe('byte bounds of what callers send', () => {
  it(`JobIdSchema takes a job ID of ${JOB_ID_MAX_BYTES} bytes and refuses one byte more, ASCII or not`, () => {
    expect(JobIdSchema.safeParse('j'.repeat(JOB_ID_MAX_BYTES)).success).toBe(true);
    expect(JobIdSchema.safeParse('é'.repeat(JOB_ID_MAX_BYTES / 2)).success).toBe(true);

    const ascii = JobIdSchema.safeParse('j'.repeat(JOB_ID_MAX_BYTES + 1));
    const wide = JobIdSchema.safeParse(`${'é'.repeat(JOB_ID_MAX_BYTES / 2)}j`);

    expect(ascii.success).toBe(false);
    expect(wide.error?.issues.map((issue) => issue.message)).toEqual([`must be at most ${JOB_ID_MAX_BYTES} bytes of UTF-8`]);
  });

  it(`LabelSchema (names, holders) takes 256 characters of ${LABEL_MAX_BYTES} bytes and refuses 256 of more`, () => {
    expect(SessionNameSchema.safeParse('é'.repeat(256)).success).toBe(true);

    const result = LabelSchema.safeParse('ビ'.repeat(256));

    expect(result.error?.issues.map((issue) => issue.message)).toEqual([`must be at most ${LABEL_MAX_BYTES} bytes of UTF-8`]);
  });

  it('a stored session keeps reading with longer job IDs and names written before the bounds', () => {
    const stored = { id: 'fffe6a1c2b3d4e5f60718293a4b5c6d7', created_at: 1, updated_at: 1, status: 'active' };

    const parsed = SessionSchema.safeParse({ ...stored, name: 'ビ'.repeat(256), job_ids: ['ジ'.repeat(256)] });

    expect(parsed.success).toBe(true);
  });
});
