/**
 * The runner-sessions client: `SessionsClient` and its types and errors.
 *
 * @example
 * import { SessionsClient, SessionsApiError } from '#lib/client/index.ts';
 */

export type { Lease, Session, SessionStatus } from '../domain/session.ts';
export {
  type AcquireByNameOptions,
  type AcquireLeaseOptions,
  type ChangeOptions,
  type CreatedSession,
  type CreateSessionOptions,
  defaultHolder,
  type HeartbeatOptions,
  type HistoryOptions,
  type HistoryPage,
  type ListSessionsOptions,
  type ResumedSession,
  type SessionFilter,
  type SessionPage,
  SessionsClient,
  type SessionsClientOptions,
  type VersionedSession,
} from './client.ts';
export {
  type ApiErrorCode,
  LeaseHeldError,
  LeaseLoss,
  type LeaseLossReason,
  LeaseLostError,
  type LeaseLostReason,
  LeaseRequiredError,
  NoResumableSession,
  SessionsApiError,
  type SessionsApiErrorInit,
  SessionsConfigError,
  SessionsError,
  SessionsNetworkError,
} from './errors.ts';
export { type HeldLease, type HoldLeaseOptions, holdLease, type LeaseApi } from './held-lease.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
export type { HistoryEntry } from './schemas.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
