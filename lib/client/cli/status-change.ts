import type { SessionStatus } from '../../domain/session.ts';
import type { Command } from './command.ts';
import { CHANGE_HELP, CHANGE_OPTIONS, changeOptions, printSession, sessionIdArgument } from './options.ts';

/** A command that moves a session to `status` (pause, complete, terminate); with --epoch it releases the lease. */
export function statusChange(name: string, status: SessionStatus, summary: string, details: string): Command {
  return {
    name,
    usage: `${name} ID [--if-match ETAG] [--epoch N]`,
    summary,
    details: `${details}\n\nOptions:\n${CHANGE_HELP}`,
    options: CHANGE_OPTIONS,
    positionals: ['ID'],
    async run({ client, io, json, args }) {
      const id = sessionIdArgument(args.positionals[0]!);
      printSession(io, json, await client.setStatus(id, status, changeOptions(args)));
      return undefined;
    },
  };
}
