import { describe, expect, it } from 'vitest';
import { ENDED_TAG, ENDED_TAGGING, RETENTION_DAYS_RANGE, readRetentionDays } from '#lib/domain/retention.ts';

describe('readRetentionDays', () => {
  it('keeps ended sessions forever when RETENTION_DAYS is unset or empty', () => {
    expect(readRetentionDays({})).toBeUndefined();
    expect(readRetentionDays({ RETENTION_DAYS: ' ' })).toBeUndefined();
  });

  it('reads whole days from 1 to 3650', () => {
    expect(readRetentionDays({ RETENTION_DAYS: '1' })).toBe(RETENTION_DAYS_RANGE.min);
    expect(readRetentionDays({ RETENTION_DAYS: '90' })).toBe(90);
    expect(readRetentionDays({ RETENTION_DAYS: '3650' })).toBe(RETENTION_DAYS_RANGE.max);
  });

  it.each(['0', '3651', '1.5', '-3', 'forever', '1e3x'])('refuses %j with a message naming the variable and the range', (value) => {
    expect(() => readRetentionDays({ RETENTION_DAYS: value })).toThrow(/^RETENTION_DAYS must be a whole number of days from 1 to 3650/);
  });
});

describe('the ended tag', () => {
  it('is one tag, in the URL query form a PutObject Tagging takes', () => {
    expect(ENDED_TAGGING).toBe('runner-sessions%3Aended=true');
    expect([...new URLSearchParams(ENDED_TAGGING)]).toEqual([[ENDED_TAG.key, ENDED_TAG.value]]);
  });
});
