import { VERSION_ID_PATTERN } from '../../sessions/history.ts';
import { type Command, UsageError } from './command.ts';
import { PROGRAM, printSession, sessionIdArgument, stringOption } from './options.ts';

export const restore: Command = {
  name: 'restore',
  usage: 'restore ID VERSION [--force] [--if-match ETAG]',
  summary: 'undo: make an earlier version of a session current again',
  details: `Makes the content of VERSION (a version id from '${PROGRAM} history ID') current
again - its jobs and its status, even out of completed or terminated - as a new
version, which the history then shows as 'restored VERSION' (so a restore can be
undone the same way). Restoring what the session already holds changes nothing.

A session whose lease is live is restored only with --force: that is an operator's
take-over, and the holder is fenced (its next change hears lease_lost, reason
restored). Without --force such a restore is refused (lease_held, exit 4).

Options:
  --force          restore even while a lease is live, fencing its holder out
  --if-match ETAG  change only that version of the session (the etag \`get\` shows); 412 otherwise
`,
  options: { 'if-match': { type: 'string' }, force: { type: 'boolean' } },
  positionals: ['ID', 'VERSION'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const version = args.positionals[1]!;
    if (!VERSION_ID_PATTERN.test(version)) throw new UsageError(`VERSION must be a version id from '${PROGRAM} history ${id}'`);
    const force = args.values.force === true ? true : undefined;
    printSession(io, json, await client.restoreSession(id, version, { ifMatch: stringOption(args, 'if-match'), force }));
    return undefined;
  },
};
