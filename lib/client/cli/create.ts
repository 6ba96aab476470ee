import { LEASE_SECONDS, SessionNameSchema } from '../../domain/session.ts';
import { IdempotencyKeySchema } from '../../http/schemas.ts';
import { type Command, UsageError } from './command.ts';
import { holderOption, leaseSecondsOption, PROGRAM, stringOption } from './options.ts';
import { formatSession } from './output.ts';

export const create: Command = {
  name: 'create',
  usage: 'create [--name NAME] [--idempotency-key K] [--lease N]',
  summary: 'open a new active session and print it',
  details: `Opens a session with no jobs. Keep its ID, or its name: every other command
needs the ID, and 'resume-by-name NAME' finds it again by name.
  ID=$(npx ${PROGRAM} create --name ssh-import --json | jq -r .session.id)

The request carries an Idempotency-Key, and is retried with it when the service
is busy or unreachable: a retry never opens a second session.

Options:
  --name NAME          a label for the session (1-256 characters, no control characters)
  --idempotency-key K  1-255 printable ASCII characters (default: a new random UUID).
                       Running create again with the same key and name, within a day,
                       prints the session the first run opened instead of a new one.
  --lease N            open it held: a lease of N seconds (${LEASE_SECONDS.min}-${LEASE_SECONDS.max}), epoch 1
  --holder H           a name for the holder of that lease (default: HOST:PID of this process)
`,
  options: { name: { type: 'string' }, 'idempotency-key': { type: 'string' }, lease: { type: 'string' }, holder: { type: 'string' } },
  positionals: [],
  async run({ client, io, json, args }) {
    const name = stringOption(args, 'name');
    if (name !== undefined && !SessionNameSchema.safeParse(name).success) {
      throw new UsageError('--name must be 1-256 characters without control characters');
    }
    const idempotencyKey = stringOption(args, 'idempotency-key');
    if (idempotencyKey !== undefined && !IdempotencyKeySchema.safeParse(idempotencyKey).success) {
      throw new UsageError('--idempotency-key must be 1-255 printable ASCII characters');
    }
    const leaseSeconds = leaseSecondsOption(args, 'lease');
    const holder = holderOption(args);
    if (holder !== undefined && leaseSeconds === undefined)
      throw new UsageError('--holder needs --lease N: it names the holder of the lease the session is opened with');
    const created = await client.createSession({ name, idempotencyKey, leaseSeconds, holder });
    if (json) {
      io.stdout.write(`${JSON.stringify({ session: created.session, etag: created.etag ?? null, replayed: created.replayed })}\n`);
      return undefined;
    }
    io.stdout.write(formatSession(created));
    if (created.replayed) io.stdout.write('replayed yes: an earlier create with this --idempotency-key opened this session\n');
    return undefined;
  },
};
