import { LEASE_SECONDS } from '../../domain/session.ts';
import { type Command, UsageError } from './command.ts';
import { epochOption, leaseSecondsOption, sessionIdArgument } from './options.ts';
import { formatLease } from './output.ts';

export const heartbeat: Command = {
  name: 'heartbeat',
  usage: 'heartbeat ID --epoch N [--seconds N]',
  summary: 'extend the lease you hold',
  details: `Extends the lease of epoch N to now + its length (or --seconds), and prints it.
Exits 75 when that lease is lost: superseded by another acquire, expired or released.

Options:
  --epoch N        the epoch of the lease you hold (required)
  --seconds N      extend it by this many seconds, ${LEASE_SECONDS.min}-${LEASE_SECONDS.max} (default: the lease's own length)
`,
  options: { epoch: { type: 'string' }, seconds: { type: 'string' } },
  positionals: ['ID'],
  usesLeases: true,
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const epoch = epochOption(args);
    if (epoch === undefined) throw new UsageError('heartbeat needs --epoch N, the epoch of the lease you hold');
    const lease = await client.heartbeat(id, epoch, { seconds: leaseSecondsOption(args, 'seconds') });
    io.stdout.write(json ? `${JSON.stringify({ lease })}\n` : `lease    ${formatLease(lease)}\n`);
    return undefined;
  },
};
