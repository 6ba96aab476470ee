/**
 * The runner-sessions client: `SessionsClient` and its types and errors.
 *
 * @example
 * import { SessionsClient, SessionsApiError } from '#lib/client/index.ts';
 */

export type { FinalJobState, JobCounts, JobOutcome, JobState } from '../domain/job-outcome.ts';
export type { Lease, SessionStatus } from '../domain/session.ts';
export {
  type AcquireByNameOptions,
  type AcquireLeaseOptions,
  type AppendJobOptions,
  type ChangeOptions,
  type CreatedSession,
  type CreateSessionOptions,
  defaultHolder,
  type HeartbeatOptions,
  type HistoryOptions,
  type HistoryPage,
  jobCountsOf,
  type ListSessionsOptions,
  type RestoreOptions,
  type ResumedSession,
  type SessionFilter,
  type SessionPage,
  SessionsClient,
  type SessionsClientOptions,
  type VersionedSession,
} from './client.ts';
export {
  type ApiErrorCode,
  JobFinishedError,
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
export type { HistoryEntry, Session, SessionSummary } from './schemas.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
