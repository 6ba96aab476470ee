import type { Command } from './command.ts';
import { LEASE_HELP, LEASE_OPTIONS, leaseOptions, PROGRAM, printSession, sessionIdArgument } from './options.ts';

export const acquire: Command = {
  name: 'acquire',
  usage: 'acquire ID [--holder H] [--seconds N] [--epoch N] [--force]',
  summary: 'take the lease of a session (resuming it if paused), print it with its epoch',
  details: `Takes the session's lease, with an epoch one above the last, and resumes the
session if it is paused. Pass the epoch as --epoch to every change while you hold it,
and keep it alive with 'heartbeat' (or run the work under '${PROGRAM} exec').
Exits 4 when a lease on it is live and you do not present its epoch (--epoch):
wait until it runs out, or --force. A holder name is not proof of holding a lease.
Not retried after a lost answer (a second acquire would fence out the first):
see who holds it with '${PROGRAM} get ID'.
  EPOCH=$(npx ${PROGRAM} acquire "$ID" --json | jq -r .session.lease.epoch)

Options:
${LEASE_HELP}  --force          take it even from a live holder, who is then fenced out (its changes get lease_lost)
`,
  options: { ...LEASE_OPTIONS, force: { type: 'boolean' } },
  positionals: ['ID'],
  usesLeases: true,
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const acquired = await client.acquireLease(id, { ...leaseOptions(args), force: args.values.force === true || undefined });
    printSession(io, json, acquired);
    return undefined;
  },
};
