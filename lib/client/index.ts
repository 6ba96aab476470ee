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
  type ListSessionsOptions,
  type SessionPage,
  type SessionsClientOptions,
  type VersionedSession,
} from './client.ts';
export { SessionsApiError, SessionsConfigError, SessionsError, SessionsNetworkError, type ApiErrorCode, type SessionsApiErrorInit } from './errors.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
export type { AwsCredentials, AwsCredentialsProvider } from './signing.ts';
export type { Session, SessionStatus } from '../session.ts';
