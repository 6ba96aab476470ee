import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idCreatedAt, idFromKey, isSessionId, newestFirstId, sessionKey } from '#lib/domain/ids.ts';

const MAX_MS = 2 ** 48 - 1;

describe('newestFirstId', () => {
  it('is 32 lowercase hex characters that the validator accepts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_MS }), fc.uint8Array({ minLength: 10, maxLength: 10 }), (ms, bytes) => {
        const id = newestFirstId(ms, Buffer.from(bytes));

        expect(id).toMatch(/^[0-9a-f]{32}$/);
        expect(isSessionId(id)).toBe(true);
        expect(idCreatedAt(id)).toBe(ms);
      }),
    );
  });

  it('sorts a later creation before an earlier one, across millisecond boundaries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_MS - 1 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        (earlier, gap, a, b) => {
          const later = Math.min(MAX_MS, earlier + gap);
          const first = newestFirstId(earlier, Buffer.from(a));
          const second = newestFirstId(later, Buffer.from(b));

          expect(sessionKey(second) < sessionKey(first)).toBe(true);
        },
      ),
    );
  });

  it('orders a run of IDs made one after another newest first', () => {
    const start = Date.UTC(2026, 10, 23);
    const ids = Array.from({ length: 2_000 }, (_, i) => newestFirstId(start + i));

    const byKey = [...ids].sort();

    expect(byKey).toEqual([...ids].reverse());
  });

  it('draws no collision in 10^6 IDs made in the same millisecond', () => {
    const now = Date.now();
    const seen = new Set<string>();

    for (let i = 0; i < 1_000_000; i++) seen.add(newestFirstId(now));

    expect(seen.size).toBe(1_000_000);
  });

  it.each([-1, 1.5, 2 ** 48, Number.NaN])('refuses the out-of-range instant %s', (ms) => {
    expect(() => newestFirstId(ms)).toThrow(RangeError);
  });
});

describe('isSessionId', () => {
  it.each([
    ['uppercase', 'FFFE6A1C2B3D4E5F60718293A4B5C6D7'],
    ['31 characters', 'fffe6a1c2b3d4e5f60718293a4b5c6d'],
    ['33 characters', 'fffe6a1c2b3d4e5f60718293a4b5c6d70'],
    ['a path', '../../etc/passwd'],
    ['an encoded slash', 'fffe6a1c2b3d4e5f%2F718293a4b5c6d7'],
    ['a trailing newline', 'fffe6a1c2b3d4e5f60718293a4b5c6d7\n'],
    ['empty', ''],
  ])('rejects %s', (_, value) => {
    expect(isSessionId(value)).toBe(false);
  });

  it('rejects every string that is not exactly 32 lowercase hex characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
        expect(isSessionId(value)).toBe(/^[0-9a-f]{32}$/.test(value) && value.length === 32);
      }),
    );
  });

  it('rejects non-strings', () => {
    expect(isSessionId(42)).toBe(false);
    expect(isSessionId(undefined)).toBe(false);
  });
});

describe('session keys', () => {
  it('round-trips an ID through its key', () => {
    const id = newestFirstId();

    expect(sessionKey(id)).toBe(`sessions/${id}.json`);
    expect(idFromKey(sessionKey(id))).toBe(id);
  });

  it('never builds a key from something that is not an ID', () => {
    expect(() => sessionKey('../secrets')).toThrow(RangeError);
    expect(idFromKey('sessions/../x.json')).toBeUndefined();
  });
});
