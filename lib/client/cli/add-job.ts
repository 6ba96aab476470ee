import { ExitCodeSchema, JOB_STATES, type JobReport, JobStateSchema, SignalSchema } from '../../domain/job-outcome.ts';
import { JobIdSchema } from '../../domain/session.ts';
import { type Command, type Parsed, UsageError } from './command.ts';
import { CHANGE_HELP, CHANGE_OPTIONS, changeOptions, PROGRAM, printSession, sessionIdArgument, stringOption } from './options.ts';

export const addJob: Command = {
  name: 'add-job',
  usage: 'add-job ID JOB [--state S] [--exit-code N] [--signal NAME] [--epoch N]',
  summary: 'append a job to an active session, or record how it ran',
  details: `Appends JOB (1-256 characters, no control characters) to the session. A job ID
that is already there changes nothing, so repeating the command is safe.

With --state, also records how the job runs or ended: running (it has started), or a
final succeeded, failed or cancelled, with --exit-code and --signal. A job goes from
running to a final state, or straight to one; its final outcome is kept: the same
outcome again changes nothing, another one is refused (job_finished, exit 4).
  ${PROGRAM} add-job ID build-42 --state failed --exit-code 2

Options:
  --state S         ${JOB_STATES.join(', ')}
  --exit-code N     the job's exit code, a 32-bit integer (with a final --state)
  --signal NAME     the signal that ended it, such as SIGKILL (with a final --state)
${CHANGE_HELP}`,
  options: { ...CHANGE_OPTIONS, state: { type: 'string' }, 'exit-code': { type: 'string' }, signal: { type: 'string' } },
  positionals: ['ID', 'JOB'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const job = args.positionals[1]!;
    if (!JobIdSchema.safeParse(job).success) throw new UsageError('JOB must be 1-256 characters without control characters');
    printSession(io, json, await client.addJob(id, job, { ...changeOptions(args), ...jobReport(args) }));
    return undefined;
  },
};

/** `--state`, `--exit-code` and `--signal`, checked as the API checks them. */
function jobReport(args: Parsed): JobReport {
  const state = stringOption(args, 'state');
  const exitCode = stringOption(args, 'exit-code');
  const signal = stringOption(args, 'signal');
  if (state === undefined) {
    if (exitCode !== undefined || signal !== undefined) throw new UsageError('--exit-code and --signal go with a final --state');
    return {};
  }
  const parsedState = JobStateSchema.safeParse(state);
  if (!parsedState.success) throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')}; got '${state}'`);
  if (parsedState.data === 'running' && (exitCode !== undefined || signal !== undefined))
    throw new UsageError('--exit-code and --signal go with a final --state (succeeded, failed or cancelled), not running');
  const parsedExit =
    exitCode === undefined ? undefined : /^-?\d{1,10}$/.test(exitCode) ? ExitCodeSchema.safeParse(Number(exitCode)) : undefined;
  if (exitCode !== undefined && !parsedExit?.success) throw new UsageError(`--exit-code must be a 32-bit integer; got '${exitCode}'`);
  if (signal !== undefined && !SignalSchema.safeParse(signal).success)
    throw new UsageError(`--signal must be a signal name such as SIGKILL; got '${signal}'`);
  return { state: parsedState.data, exitCode: parsedExit?.data, signal };
}
