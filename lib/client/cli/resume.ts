import type { Command } from './command.ts';
import { isMissingLeaseRoute } from './failures.ts';
import { LEASE_HELP, LEASE_OPTIONS, leaseOptions, printSession, sessionIdArgument } from './options.ts';

export const resume: Command = {
  name: 'resume',
  usage: 'resume ID [--holder H] [--seconds N] [--epoch N]',
  summary: 'take the lease of a paused or active session, resuming it',
  details: `Takes the session's lease (as 'acquire' without --force does, and as 'resume-by-name'
does), which moves a paused session back to active, where it takes jobs again.
Prints the session with the lease's epoch: pass it as --epoch to the commands that
change it while you hold it. Exits 4 when a lease on it is live and --epoch does not
present it. An API without leases (v1) is asked only to resume it.

Options:
${LEASE_HELP}`,
  options: LEASE_OPTIONS,
  positionals: ['ID'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const resumed = await client.acquireLease(id, leaseOptions(args)).catch((error: unknown) => {
      if (isMissingLeaseRoute(error)) return client.resume(id);
      throw error;
    });
    printSession(io, json, resumed);
    return undefined;
  },
};
