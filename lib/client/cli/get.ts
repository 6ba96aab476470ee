import type { Command } from './command.ts';
import { printSession, sessionIdArgument } from './options.ts';

export const get: Command = {
  name: 'get',
  usage: 'get ID',
  summary: 'show a session: status, jobs, times, etag',
  details: 'Shows the session and its etag (pass it to --if-match to change exactly this version).\n',
  options: {},
  positionals: ['ID'],
  async run({ client, io, json, args }) {
    printSession(io, json, await client.getSession(sessionIdArgument(args.positionals[0]!)));
    return undefined;
  },
};
