import { SessionNameSchema } from '../../domain/session.ts';
import { type Command, UsageError } from './command.ts';
import { isMissingLeaseRoute } from './failures.ts';
import { LEASE_HELP, LEASE_OPTIONS, leaseOptions, PROGRAM } from './options.ts';
import { formatSession } from './output.ts';

export const resumeByName: Command = {
  name: 'resume-by-name',
  usage: 'resume-by-name NAME [--holder H] [--seconds N] [--epoch N]',
  summary: 'take the lease of the newest paused or active session named NAME (resuming it)',
  details: `What a runner does when it reconnects and knows only the name it gave:
finds the newest session with exactly that name that is paused or active,
acquires its lease (which resumes it if it is paused, as 'resume ID' does),
and prints it, active, with the lease's epoch: pass it as --epoch to the
commands that change it. Exits 3 when there is none (every session of that
name is completed or terminated, or there is none), 4 when a lease on it is
live and --epoch does not present it. An API without leases (v1) is asked
only to resume it. Whether it was paused is said on stderr.
  ID=$(npx ${PROGRAM} resume-by-name ssh-import --json | jq -r .session.id)

Options:
${LEASE_HELP}`,
  options: LEASE_OPTIONS,
  positionals: ['NAME'],
  async run({ client, io, json, args }) {
    const name = args.positionals[0]!;
    if (!SessionNameSchema.safeParse(name).success) throw new UsageError('NAME must be 1-256 characters without control characters');
    const resumed = await client.acquireByName(name, leaseOptions(args)).catch((error: unknown) => {
      if (isMissingLeaseRoute(error)) return client.resumeByName(name);
      throw error;
    });
    if (json) {
      io.stdout.write(`${JSON.stringify({ session: resumed.session, etag: resumed.etag ?? null, was_paused: resumed.wasPaused })}\n`);
      return undefined;
    }
    const id = resumed.session.id;
    io.stderr.write(resumed.wasPaused ? `resumed paused session ${id}\n` : `session ${id} was already active\n`);
    io.stdout.write(formatSession(resumed));
    return undefined;
  },
};
