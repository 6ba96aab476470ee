/**
 * The environment the handlers see in tests. Import it through `vi.hoisted`
 * so that it is in place before `lib/runtime.ts` and the Powertools
 * utilities read it at module load:
 *
 *     const { TEST_BUCKET } = await vi.hoisted(() => import('../helpers/lambda-env.ts'));
 *
 * Logs and EMF metrics stay on (they are captured and silenced per test by
 * `captureTelemetry`), so the tests can assert what they say.
 */
export const TEST_BUCKET = 'runner-sessions-test-bucket-7f3a';

process.env.SESSIONS_BUCKET = TEST_BUCKET;
process.env.AWS_REGION = 'eu-west-1';
// No backoff sleeps: contention tests then run in milliseconds.
process.env.CAS_BASE_DELAY_MS = '0';
process.env.CAS_MAX_DELAY_MS = '0';
delete process.env.POWERTOOLS_DEV;
delete process.env.POWERTOOLS_METRICS_DISABLED;
delete process.env.POWERTOOLS_SERVICE_NAME;
delete process.env.POWERTOOLS_METRICS_NAMESPACE;
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
