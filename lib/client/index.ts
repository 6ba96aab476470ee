/**
 * The runner-sessions client: `SessionsClient` and its types and errors.
 *
 * @example
 * import { SessionsClient, SessionsApiError } from '#lib/client/index.ts';
 */
export {
  SessionsClient,
  type ChangeOptions,
  type CreatedSession,
  type CreateSessionOptions,
  type HistoryOptions,
  type HistoryPage,
  type ListSessionsOptions,
  type SessionFilter,
  type ResumedSession,
  type SessionPage,
  type SessionsClientOptions,
  type VersionedSession,
} from './client.ts';
export {
  NoResumableSession,
  SessionsApiError,
  SessionsConfigError,
  SessionsError,
  SessionsNetworkError,
  type ApiErrorCode,
  type SessionsApiErrorInit,
} from './errors.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
export type { HistoryEntry } from './schemas.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
export type { Session, SessionStatus } from '../session.ts';
