import { JobIdSchema } from '../../domain/session.ts';
import { type Command, UsageError } from './command.ts';
import { CHANGE_HELP, CHANGE_OPTIONS, changeOptions, printSession, sessionIdArgument } from './options.ts';

export const addJob: Command = {
  name: 'add-job',
  usage: 'add-job ID JOB [--if-match ETAG] [--epoch N]',
  summary: 'append a job ID to an active session',
  details: `Appends JOB (1-256 characters, no control characters) to the session. A job ID
that is already there changes nothing, so repeating the command is safe.

Options:
${CHANGE_HELP}`,
  options: CHANGE_OPTIONS,
  positionals: ['ID', 'JOB'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const job = args.positionals[1]!;
    if (!JobIdSchema.safeParse(job).success) throw new UsageError('JOB must be 1-256 characters without control characters');
    printSession(io, json, await client.addJob(id, job, changeOptions(args)));
    return undefined;
  },
};
