import { describe, expect, it } from 'vitest';
import {
  ConflictRetry,
  InternalError,
  InvalidRequest,
  InvalidTransition,
  PayloadTooLarge,
  PreconditionFailed,
  type ServiceError,
  SessionFull,
  SessionNotActive,
  SessionNotFound,
  StorageUnavailable,
  UnsupportedMediaType,
  VersioningDisabled,
} from '#lib/domain/errors.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { httpRoute } from '#lib/http/route.ts';
import { SessionPathSchema } from '#lib/http/schemas.ts';
import { StoreFault } from '#lib/storage/port.ts';
import { apiEvent, invoke, TEST_CALLER } from '../../helpers/api-event.ts';
import { TEST_BUCKET } from '../../helpers/lambda-env.ts';
import { captureTelemetry } from '../../helpers/telemetry.ts';

const telemetry = captureTelemetry();
const ID = 'fffe6a1c2b3d4e5f60718293a4b5c6d7';

/** A route whose work is to throw `failure`. */
function failingRoute(failure: unknown) {
  return httpRoute('GET /failing/{id}', { path: SessionPathSchema }, async () => {
    throw failure;
  });
}

const SERVICE_ERRORS: Array<[string, ServiceError, number, string, string | undefined]> = [
  ['InvalidRequest', InvalidRequest.field('body.job_id', 'is required'), 400, 'invalid_request', undefined],
  ['SessionNotFound', new SessionNotFound(ID), 404, 'session_not_found', undefined],
  ['SessionNotActive', new SessionNotActive(ID, 'paused'), 409, 'session_not_active', undefined],
  ['SessionFull', new SessionFull(ID, 10_000), 409, 'session_full', undefined],
  ['InvalidTransition', new InvalidTransition(ID, 'completed', 'active'), 409, 'invalid_transition', undefined],
  ['VersioningDisabled', new VersioningDisabled(), 409, 'versioning_disabled', undefined],
  ['PreconditionFailed', new PreconditionFailed(ID, '"abc"'), 412, 'precondition_failed', undefined],
  ['PayloadTooLarge', new PayloadTooLarge(16_384), 413, 'payload_too_large', undefined],
  ['UnsupportedMediaType', new UnsupportedMediaType('text/plain'), 415, 'unsupported_media_type', undefined],
  ['ConflictRetry', new ConflictRetry(ID, 8), 503, 'conflict_retry', '1'],
  ['StorageUnavailable', new StorageUnavailable({ cause: new Error(`SlowDown on ${TEST_BUCKET}`) }), 503, 'storage_unavailable', '2'],
  ['InternalError', new InternalError('req-1'), 500, 'internal_error', undefined],
];

describe('the error mapper', () => {
  it.each(SERVICE_ERRORS)(
    'answers %s with its status, its code and Retry-After only when retryable',
    async (_, error, status, code, retryAfter) => {
      const response = await invoke(failingRoute(error), apiEvent('GET /failing/{id}', { id: ID }));

      expect(response.statusCode).toBe(status);
      expect(response.headers).toEqual({
        'Content-Type': JSON_CONTENT_TYPE,
        ...(retryAfter === undefined ? {} : { 'Retry-After': retryAfter }),
      });
      expect(response.body).toEqual({ error: { code, message: error.message, details: error.details } });
    },
  );

  it.each(SERVICE_ERRORS)('counts %s once in Errors, by code, with the service dimension', async (_, error, _status, code) => {
    await invoke(failingRoute(error), apiEvent('GET /failing/{id}', { id: ID }));

    const errors = telemetry.metric('Errors');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ value: 1, dimensions: [['service', 'code']] });
    expect(errors[0]!.blob).toMatchObject({ service: 'runner-sessions', code });
    expect(errors[0]!.blob._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'RunnerSessions',
      Metrics: [{ Name: 'Errors', Unit: 'Count' }],
    });
  });

  it('answers a store fault from any layer as 503 storage_unavailable with Retry-After, logged at WARN with the fault', async () => {
    const fault = new StoreFault(`get sessions/${ID}.json: SlowDown`, { cause: new Error(`SlowDown on ${TEST_BUCKET}`) });

    const response = await invoke(failingRoute(fault), apiEvent('GET /failing/{id}', { id: ID }));

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE, 'Retry-After': '2' });
    expect(response.body).toEqual(new StorageUnavailable().toJSON());
    expect(response.raw).not.toContain(TEST_BUCKET);
    expect(telemetry.metric('Errors')[0]!.blob).toMatchObject({ code: 'storage_unavailable' });
    expect(telemetry.logs()[0]).toMatchObject({
      level: 'WARN',
      status_code: 503,
      outcome: 'storage_unavailable',
      error: { name: 'StoreFault', message: fault.message, cause: { message: `SlowDown on ${TEST_BUCKET}` } },
    });
  });

  it('never puts the cause of a service error in the body', async () => {
    const error = new StorageUnavailable({ cause: new Error(`SlowDown on ${TEST_BUCKET}`) });

    const response = await invoke(failingRoute(error), apiEvent('GET /failing/{id}', { id: ID }));

    expect(response.raw).not.toContain(TEST_BUCKET);
    expect(response.raw).not.toContain('SlowDown');
  });

  it.each([
    ['an Error naming internals', new Error(`connect ECONNREFUSED to ${TEST_BUCKET}.s3.eu-west-1.amazonaws.com`)],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'job_ids')")],
    ['a thrown string', 'something broke'],
    ['a thrown null', null],
  ])('answers %s with 500 internal_error carrying only the request ID', async (_, thrown) => {
    const event = apiEvent('GET /failing/{id}', { id: ID });

    const response = await invoke(failingRoute(thrown), event);

    expect(response.statusCode).toBe(500);
    expect(response.headers).toEqual({ 'Content-Type': JSON_CONTENT_TYPE });
    expect(response.body).toEqual({
      error: { code: 'internal_error', message: 'internal error', details: { request_id: event.requestContext.requestId } },
    });
    for (const secret of [TEST_BUCKET, 'ECONNREFUSED', 'amazonaws', 'Cannot read', 'something broke', 'TypeError', '    at ']) {
      expect(response.raw).not.toContain(secret);
    }
  });

  it('logs the full unexpected error, stack included, once, at ERROR, with the request keys', async () => {
    const thrown = new TypeError("Cannot read properties of undefined (reading 'job_ids')");
    const event = apiEvent('GET /failing/{id}', { id: ID });

    await invoke(failingRoute(thrown), event);

    const failures = telemetry.logs().filter((line) => line.level === 'ERROR');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      message: 'request failed',
      service: 'runner-sessions',
      route: 'GET /failing/{id}',
      request_id: event.requestContext.requestId,
      function_request_id: expect.stringMatching(/^lambda-/),
      actor: TEST_CALLER,
      session_id: ID,
      status_code: 500,
      outcome: 'internal_error',
      error: { name: 'TypeError', message: thrown.message, stack: expect.stringContaining('outcome.test.ts') },
    });
  });

  it('logs a 503 at WARN with its cause, and a 4xx at INFO with its details', async () => {
    await invoke(failingRoute(new StorageUnavailable({ cause: new Error('SlowDown') })), apiEvent('GET /failing/{id}', { id: ID }));
    await invoke(failingRoute(new SessionNotFound(ID)), apiEvent('GET /failing/{id}', { id: ID }));

    const [unavailable, notFound] = telemetry.logs();
    expect(unavailable).toMatchObject({
      level: 'WARN',
      message: 'request failed',
      outcome: 'storage_unavailable',
      error: { message: 'SlowDown' },
    });
    expect(notFound).toMatchObject({
      level: 'INFO',
      message: 'request refused',
      status_code: 404,
      outcome: 'session_not_found',
      details: { id: ID },
    });
  });
});

describe('what a failure log line says of its cause', () => {
  const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLEtokenTOKENtokenTOKENtokenTOKEN0123456789abcdef';
  const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  /** An S3 error as the SDK parses SignatureDoesNotMatch: the signed request echoed back among its fields. */
  function signatureDoesNotMatch(): Error {
    return Object.assign(
      new Error(`The request signature we calculated does not match. x-amz-security-token:${TOKEN} Signature=0123abcd`),
      {
        name: 'SignatureDoesNotMatch',
        $fault: 'client',
        $metadata: { httpStatusCode: 403, requestId: 'REQ-1', attempts: 1, totalRetryDelay: 0, cfId: undefined },
        Code: 'SignatureDoesNotMatch',
        CanonicalRequest: `GET\n/bucket/sessions/x.json\n\nhost:s3\nx-amz-security-token:${TOKEN}`,
        StringToSign: 'AWS4-HMAC-SHA256',
        $response: { headers: { 'x-amz-security-token': TOKEN } },
      },
    );
  }

  it('keeps name, message, $fault, $metadata, stack and causes, and no other parsed field, credentials redacted', async () => {
    const cause = signatureDoesNotMatch();
    await invoke(failingRoute(new Error(`outer ${SECRET}`, { cause })), apiEvent('GET /failing/{id}', { id: ID }));

    const failure = telemetry.logs().find((line) => line.message === 'request failed');
    expect(failure?.error).toMatchObject({
      name: 'Error',
      message: 'outer [REDACTED]',
      cause: {
        name: 'SignatureDoesNotMatch',
        $fault: 'client',
        $metadata: { httpStatusCode: 403, requestId: 'REQ-1', attempts: 1 },
        stack: expect.stringContaining('SignatureDoesNotMatch'),
      },
    });
    expect(Object.keys(failure!.error.cause).sort()).toEqual(['$fault', '$metadata', 'message', 'name', 'stack']);
    expect(failure!.error.cause.message).toContain('x-amz-security-token:[REDACTED]');
    expect(failure!.error.cause.message).toContain('Signature=[REDACTED]');
    for (const secret of [TOKEN, SECRET, '0123abcd', 'CanonicalRequest', 'StringToSign']) expect(telemetry.text()).not.toContain(secret);
  });

  it('redacts the security token and signature of a presigned URL, and keeps a Node error code', async () => {
    const error = Object.assign(new Error(`connect ECONNREFUSED https://s3/x?X-Amz-Security-Token=${TOKEN}&X-Amz-Signature=feedbeef`), {
      code: 'ECONNREFUSED',
    });
    await invoke(failingRoute(error), apiEvent('GET /failing/{id}', { id: ID }));

    const failure = telemetry.logs().find((line) => line.message === 'request failed');
    expect(failure?.error).toMatchObject({
      code: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED https://s3/x?X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]',
    });
    for (const secret of [TOKEN, 'feedbeef']) expect(telemetry.text()).not.toContain(secret);
  });
});
