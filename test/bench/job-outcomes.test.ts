import { describe, expect, it } from 'vitest';
import { measureJobOutcomes } from '../../bench/job-outcomes.ts';

describe('bench: job outcomes (quick)', () => {
  it('an append with an outcome is one PUT and no read, warm; a session of failed jobs reads back with its counts', {
    timeout: 120_000,
  }, async () => {
    const result = await measureJobOutcomes({ jobs: 60, window: 10 });

    expect(result.s3Requests).toEqual({ get: 0, put: 1 });
    expect(result.failedBytes).toBeGreaterThan(result.bareBytes);
    expect(result.p50BareMs).toBeGreaterThan(0);
    expect(result.p50OutcomeMs).toBeGreaterThan(0);
  });
});
