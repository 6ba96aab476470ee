/** What went wrong, said once for every command: the exit code of each failure and what to do about it. */
import {
  JobFinishedError,
  LeaseLostError,
  NoResumableSession,
  SessionsApiError,
  SessionsConfigError,
  SessionsNetworkError,
} from '../errors.ts';
import { type CliIo, UsageError } from './command.ts';
import { PROGRAM, shellWord } from './options.ts';
import { formatOutcome, formatTime } from './output.ts';

/**
 * Exit statuses of `exec` of its own, apart from the command's: the lost lease keeps EX_TEMPFAIL, the
 * others are the ones `timeout` and `env` reserve, so that a failure of exec is not taken for the command's.
 */
export const ExecExit = {
  /** The lease was lost while the command ran, or before the session was released (EX_TEMPFAIL: try again later). */
  LeaseLost: 75,
  /** exec itself failed: a usage error, or the session could not be taken, or completed after a zero exit. */
  Failed: 125,
  /** The command was found but could not be run (not executable, a directory). */
  NotRunnable: 126,
  /** The command was not found. */
  NotFound: 127,
} as const;

/** The exit statuses of check-store, the same from `runner-sessions check-store` and `npm run check-store`. */
export const CheckStoreExit = { Safe: 0, NotSafe: 1, Usage: 2, CouldNotCheck: 3 } as const;

/** The process exit codes of `runner-sessions` (`exec` and `check-store` have their own: see their help). */
export const ExitCode = {
  Ok: 0,
  /** Anything else, such as access denied or an answer that is not the API's. */
  Failure: 1,
  /** Bad arguments, or the API refused the input (400, 413, 415), or the client cannot be configured. */
  Usage: 2,
  /** No session with that ID (404). */
  NotFound: 3,
  /** The session's state does not allow the change (409), or `--if-match` names an old version (412). */
  Conflict: 4,
  /** The service failed or is unavailable (5xx, 429), or could not be reached. */
  Unavailable: 5,
  /** The caller does not own the session and is not an operator (403 `forbidden`). */
  Forbidden: 6,
  /** The lease is lost (`lease_lost`): another holder took it over, or it expired or was released. EX_TEMPFAIL. */
  LeaseLost: ExecExit.LeaseLost,
} as const;

export const EXIT_HELP = `Exit codes:
  0  done
  1  any other failure (access denied: check the AWS credentials; an answer that is not the API's)
  2  usage error, or the API refused the input (400, 413, 415)
  3  no such session (404), or none to resume by that name
  4  conflict: the status does not allow it (409), --if-match is out of date (412), a lease is in the way (lease_held, 428), or the job already ended otherwise (job_finished)
  5  the service failed or is unavailable (5xx, 429), or could not be reached
  6  forbidden: you do not own the session (and are not an operator); ask an operator
  75 the lease is lost: taken over by another holder (acquire --force), expired or released
`;

export interface FailureContext {
  io: CliIo;
  json: boolean;
  /** The command's name, when it is a known one. */
  commandName: string | undefined;
  /** The command needs the lease routes. */
  usesLeases: boolean;
  /** The API's URL once known, for messages. */
  apiUrl: string;
  /** The session the command was given (its ID argument), for messages when the error's details do not name it. */
  sessionId?: string | undefined;
  /** The `--timeout` in seconds, when it ran out. */
  timedOut?: number | undefined;
}

/** A failure as the CLI reports it. */
export interface Failure {
  code: string;
  exitCode: number;
  message: string;
}

/** Writes what went wrong and what to do next to stderr, and returns the failure. */
export function reportFailure(error: unknown, context: FailureContext): Failure {
  const failure = describeFailure(error, context);
  if (context.json) {
    const apiError = error instanceof SessionsApiError ? error : undefined;
    const body = {
      error: {
        code: failure.code,
        message: failure.message,
        ...(apiError === undefined ? {} : { status: apiError.status, details: apiError.details, request_id: apiError.requestId ?? null }),
      },
    };
    context.io.stderr.write(`${JSON.stringify(body)}\n`);
  } else {
    context.io.stderr.write(`${PROGRAM}: ${failure.message}\n`);
  }
  return failure;
}

function describeFailure(error: unknown, { commandName, usesLeases, apiUrl, timedOut, sessionId }: FailureContext): Failure {
  if (error instanceof UsageError) {
    const help = commandName !== undefined ? `${PROGRAM} ${commandName} --help` : `${PROGRAM} --help`;
    return { code: 'usage', exitCode: ExitCode.Usage, message: `${error.message}\nSee '${help}'.` };
  }
  if (error instanceof SessionsConfigError) return { code: 'configuration', exitCode: ExitCode.Usage, message: error.message };
  if (error instanceof SessionsNetworkError) {
    const tries = error.attempts > 1 ? ` after ${error.attempts} attempts` : '';
    const mayHaveCreated =
      commandName === 'create'
        ? ` If a request did reach it, a session may have been opened: find it with '${PROGRAM} list --name NAME', or run create again with the same --idempotency-key to get it.`
        : '';
    if (timedOut !== undefined) {
      return {
        code: 'timeout',
        exitCode: ExitCode.Unavailable,
        message: `no answer from the API at ${apiUrl} within --timeout ${timedOut} s${tries}. Is it running and is --url / RUNNER_SESSIONS_URL right? A longer --timeout waits more.${mayHaveCreated}`,
      };
    }
    return {
      code: 'network_error',
      exitCode: ExitCode.Unavailable,
      message:
        `cannot reach the API at ${apiUrl} (${error.errno ?? 'network error'})${tries}. ` +
        `Is it running ('npm start' serves it locally)? Set its URL with --url or RUNNER_SESSIONS_URL.${mayHaveCreated}`,
    };
  }
  if (error instanceof NoResumableSession) {
    const name = shellWord(error.sessionName);
    return {
      code: 'no_resumable_session',
      exitCode: ExitCode.NotFound,
      message: `no paused or active session named ${name} at ${apiUrl}. '${PROGRAM} list --name ${name}' shows every session of that name; '${PROGRAM} create --name ${name}' opens a new one.`,
    };
  }
  if (isMissingLeaseRoute(error) && usesLeases) {
    return {
      code: 'leases_unsupported',
      exitCode: ExitCode.Failure,
      message: `the API at ${apiUrl} does not serve leases (${(error as SessionsApiError).message}); '${commandName}' needs runner-sessions v1.1 or later.`,
    };
  }
  if (error instanceof SessionsApiError)
    return { code: error.code, exitCode: exitCodeOf(error), message: explain(error, commandName, apiUrl, sessionId) };
  return {
    code: 'unexpected',
    exitCode: ExitCode.Failure,
    message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
  };
}

/** A 404 that is not about the session: the API predates leases (v1), so the lease routes are not there. */
export function isMissingLeaseRoute(error: unknown): boolean {
  return error instanceof SessionsApiError && error.status === 404 && error.code !== 'session_not_found';
}

function exitCodeOf(error: SessionsApiError): number {
  switch (error.code) {
    case 'lease_lost':
      return ExitCode.LeaseLost;
    case 'invalid_request':
    case 'payload_too_large':
    case 'unsupported_media_type':
      return ExitCode.Usage;
    case 'session_not_found':
      return ExitCode.NotFound;
    case 'forbidden':
      return ExitCode.Forbidden;
    default:
      if (error.status === 409 || error.status === 412 || error.status === 428) return ExitCode.Conflict;
      if (error.status >= 500 || error.status === 429) return ExitCode.Unavailable;
      return ExitCode.Failure;
  }
}

/** The API's error, said with what to do about it. */
function explain(error: SessionsApiError, commandName: string | undefined, apiUrl: string, sessionId: string | undefined): string {
  const details = error.details;
  const id = typeof details.id === 'string' ? details.id : sessionId;
  const tries = error.attempts > 1 ? ` (tried ${error.attempts} times)` : '';
  const requestId = error.requestId === undefined ? '' : ` (request id ${error.requestId})`;
  switch (error.code) {
    case 'invalid_request':
      return `the API refused the request: ${error.message}. See '${PROGRAM} ${commandName ?? ''} --help'.`;
    case 'session_not_found':
      return `no session ${id ?? ''} at ${apiUrl}. Check the ID and the URL (--url or RUNNER_SESSIONS_URL); '${PROGRAM} list' shows the sessions there.`;
    case 'session_not_active':
      return details.status === 'paused'
        ? `session ${id} is paused; resume it with '${PROGRAM} resume ${id}' before adding jobs.`
        : `session ${id} is ${String(details.status)} and takes no more jobs; open a new one with '${PROGRAM} create'.`;
    case 'session_full':
      return `session ${id} already holds the maximum of ${String(details.max_jobs)} jobs; complete it ('${PROGRAM} complete ${id}') and continue in a new session ('${PROGRAM} create').`;
    case 'invalid_transition':
      return `session ${id} is ${String(details.from)} and cannot become ${String(details.to)}: completed and terminated are final. See it with '${PROGRAM} get ${id}'.`;
    case 'precondition_failed':
      return `session ${id} has changed since version ${String(details.if_match)}; read the current etag with '${PROGRAM} get ${id}' and retry with it, or without --if-match.`;
    case 'payload_too_large':
      return `the request is too large for the API (${String(details.limit_bytes ?? '16384')} bytes at most); use a shorter name or job ID.`;
    case 'unsupported_media_type':
      return `the API refused the request's content type (this CLI sends application/json); is ${apiUrl} the runner-sessions API?`;
    case 'versioning_disabled':
      return `${error.message}.`;
    case 'lease_held': {
      const until = typeof details.expires_at === 'number' ? ` until ${formatTime(details.expires_at)}` : '';
      const takeOver =
        commandName === 'restore' ? `run restore again with --force` : `take it over with '${PROGRAM} acquire ${id} --force'`;
      return `session ${id} is held by ${String(details.holder)}${until}; wait for that lease to run out, or ${takeOver} (the holder is then fenced out).`;
    }
    case 'lease_lost': {
      const reason = error instanceof LeaseLostError ? error.reason : undefined;
      const why =
        reason === 'superseded'
          ? `superseded${error instanceof LeaseLostError && error.epoch !== undefined ? ` by epoch ${error.epoch}` : ''}`
          : reason === 'restored'
            ? "ended by an operator's restore"
            : (reason ?? 'gone');
      return `the lease on session ${id} is lost: ${why}. Nothing was changed; this runner no longer holds it ('${PROGRAM} get ${id}' shows who does).`;
    }
    case 'lease_required':
      return `session ${id} is held under a lease (epoch ${String(details.epoch)}); pass --epoch with the epoch of the lease you hold, or take it over with '${PROGRAM} acquire ${id} --force'.`;
    case 'forbidden':
      return commandName === 'adopt'
        ? `only operators may change who owns session ${id}; ask an operator.`
        : `you do not own session ${id}; ask an operator (only its owner and operators may change it).`;
    case 'job_finished': {
      const recorded = error instanceof JobFinishedError ? error.recorded : undefined;
      const job = error instanceof JobFinishedError && error.jobId !== undefined ? `job ${error.jobId}` : 'the job';
      return `${job} of session ${id ?? ''} already ended${recorded === undefined ? '' : `: ${formatOutcome(recorded)}`}; an outcome once recorded is kept. Nothing was changed.`;
    }
    case 'conflict_retry':
      return `session ${id ?? ''} is being changed by many writers at once${tries}; try again in a few seconds.`;
    case 'storage_unavailable':
      return `the service's storage is unavailable${tries}${requestId}; try again in a few seconds.`;
    case 'internal_error':
      return `the service failed${requestId}; try again, and report the request id if it keeps failing.`;
    case 'access_denied':
      return (
        `the API refused the request (HTTP ${error.status}: ${error.message}). Check the AWS credentials ` +
        `(AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region (--region) and that the principal may call execute-api:Invoke on this API.`
      );
    case 'throttled':
      return `the API is throttling requests${tries}; try again later.`;
    case 'unexpected_response':
      return `unexpected answer from ${apiUrl}: ${error.message}. Is --url / RUNNER_SESSIONS_URL the runner-sessions API?`;
    default:
      return `${error.code}: ${error.message}${requestId}`;
  }
}
