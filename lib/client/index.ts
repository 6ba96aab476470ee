/**
 * The runner-sessions client: `SessionsClient` and its types and errors.
 *
 * @example
 * import { SessionsClient, SessionsApiError } from '#lib/client/index.ts';
 */
export {
  SessionsClient,
  type AcquireByNameOptions,
  type AcquireLeaseOptions,
  type ChangeOptions,
  type CreatedSession,
  type CreateSessionOptions,
  type HeartbeatOptions,
  type HistoryOptions,
  type HistoryPage,
  type ListSessionsOptions,
  type SessionFilter,
  type ResumedSession,
  type SessionPage,
  type SessionsClientOptions,
  type VersionedSession,
} from './client.ts';
export { holdLease, type HeldLease, type HoldLeaseOptions, type LeaseApi } from './held-lease.ts';
export {
  LeaseHeldError,
  LeaseLoss,
  LeaseLostError,
  LeaseRequiredError,
  NoResumableSession,
  SessionsApiError,
  SessionsConfigError,
  SessionsError,
  SessionsNetworkError,
  type ApiErrorCode,
  type LeaseLossReason,
  type LeaseLostReason,
  type SessionsApiErrorInit,
} from './errors.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
export type { HistoryEntry } from './schemas.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
export type { Lease, Session, SessionStatus } from '../session.ts';
