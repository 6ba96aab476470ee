import { networkError, type S3Fake, s3Error } from '../helpers/s3-fake.ts';

/** A failure S3 or the network can hand the SDK, and what the contract answers when it outlasts the retries. */
export interface FaultKind {
  name: string;
  error: () => unknown;
  /** The code of the 503 once the retry budget is spent. */
  exhausted: 'storage_unavailable' | 'conflict_retry';
  /** Whether the write it interrupts may have been applied all the same. */
  mayHaveLanded: boolean;
  /** Text of the AWS or Node error that must never reach a caller. */
  internals: string[];
}

function timeoutError(): Error {
  return Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' });
}

/** The faults of issue 7: throttling, server errors, resets, timeouts, conditional-write conflicts. */
export const FAULT_KINDS: readonly FaultKind[] = [
  {
    name: '503 SlowDown',
    error: () => s3Error('SlowDown', 503, 'Please reduce your request rate.'),
    exhausted: 'storage_unavailable',
    mayHaveLanded: false,
    internals: ['SlowDown', 'reduce your request rate', 'FAKE-REQUEST-ID'],
  },
  {
    name: '500 InternalError',
    error: () => s3Error('InternalError', 500, 'We encountered an internal error. Please try again.'),
    exhausted: 'storage_unavailable',
    mayHaveLanded: true,
    internals: ['InternalError', 'We encountered', 'FAKE-REQUEST-ID'],
  },
  {
    name: 'a connection reset',
    error: () => networkError('ECONNRESET'),
    exhausted: 'storage_unavailable',
    mayHaveLanded: true,
    internals: ['ECONNRESET', 'socket hang up'],
  },
  {
    name: 'a connect timeout (ETIMEDOUT)',
    error: () => networkError('ETIMEDOUT'),
    exhausted: 'storage_unavailable',
    mayHaveLanded: false,
    internals: ['ETIMEDOUT', 'socket hang up'],
  },
  {
    name: 'an SDK request timeout (TimeoutError)',
    error: timeoutError,
    exhausted: 'storage_unavailable',
    mayHaveLanded: true,
    internals: ['TimeoutError', 'timed out after'],
  },
  {
    name: '400 RequestTimeout',
    error: () =>
      s3Error('RequestTimeout', 400, 'Your socket connection to the server was not read from or written to within the timeout period.'),
    exhausted: 'storage_unavailable',
    mayHaveLanded: false,
    internals: ['RequestTimeout', 'socket connection', 'FAKE-REQUEST-ID'],
  },
  {
    name: '409 ConditionalRequestConflict',
    error: () =>
      s3Error('ConditionalRequestConflict', 409, 'A conflicting conditional action is currently in progress against this resource.'),
    exhausted: 'conflict_retry',
    mayHaveLanded: false,
    internals: ['ConditionalRequestConflict', 'conflicting conditional', 'FAKE-REQUEST-ID'],
  },
  {
    name: '412 PreconditionFailed',
    error: () => s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'),
    exhausted: 'conflict_retry',
    mayHaveLanded: false,
    internals: ['PreconditionFailed', 'pre-conditions', 'FAKE-REQUEST-ID'],
  },
];

/** The faults a read can meet (a conditional-write conflict cannot happen to a GET or a LIST). */
export const READ_FAULT_KINDS = FAULT_KINDS.filter((kind) => kind.exhausted === 'storage_unavailable');

function bare(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * The next `times` PutObject requests matching `when` take effect as S3 would
 * apply them (if their condition holds), and then their answer is `error`
 * instead of 200: the write landed, the caller was told it failed. Built on
 * the fake's public `fail` and `seed`, whose ETags are the same MD5s its
 * PutObject makes.
 */
export function landThenFail(
  fake: S3Fake,
  error: () => unknown,
  { times = 1, when = () => true }: { times?: number; when?: (input: Record<string, unknown>) => boolean } = {},
): void {
  fake.fail('PutObject', error, {
    times,
    when: (input) => {
      if (!when(input)) return false;
      const key = String(input.Key);
      const existing = fake.objects.get(key);
      const holds =
        input.IfNoneMatch === '*'
          ? existing === undefined
          : input.IfMatch !== undefined && existing !== undefined && bare(existing.etag) === bare(String(input.IfMatch));
      // A write whose condition fails is refused by the fake as usual, and this fault stays armed.
      if (!holds) return false;
      fake.seed(key, String(input.Body));
      return true;
    },
  });
}
