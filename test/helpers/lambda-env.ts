/**
 * The environment the handlers' telemetry and the S3 client see in tests.
 * Powertools reads it once, when its modules load, so `handlers.ts` imports
 * this module before anything of `lib/`.
 *
 * Logs and EMF metrics stay on (they are captured and silenced per test by
 * `captureTelemetry`), so the tests can assert what they say.
 */
export const TEST_BUCKET = 'runner-sessions-test-bucket-7f3a';

/** The region of the shell that runs the tests (an S3-compatible endpoint's), before the tests' own replaces it. */
export const OUTER_AWS_REGION = process.env.AWS_REGION;

process.env.AWS_REGION = 'eu-west-1';
// No backoff sleeps for limits read from the environment: contention tests then run in milliseconds.
process.env.CAS_BASE_DELAY_MS = '0';
process.env.CAS_MAX_DELAY_MS = '0';
// The test caller's role operates (test/helpers/api-event.ts TEST_CALLER): most tests seed sessions without an owner,
// which only operators change. The ownership tests build their handlers with operators of their own.
process.env.OPERATOR_PRINCIPALS = 'arn:aws:iam::123456789012:role/runner';
delete process.env.POWERTOOLS_DEV;
delete process.env.POWERTOOLS_METRICS_DISABLED;
delete process.env.POWERTOOLS_SERVICE_NAME;
delete process.env.POWERTOOLS_METRICS_NAMESPACE;
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
