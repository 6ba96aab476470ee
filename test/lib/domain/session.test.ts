import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminal, SESSION_STATUSES, SessionSchema, type SessionStatus, transition } from '#lib/domain/session.ts';

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
