import { LabelSchema } from '../../domain/session.ts';
import { type Command, UsageError } from './command.ts';
import { PROGRAM, printSession, sessionIdArgument, stringOption } from './options.ts';

export const adopt: Command = {
  name: 'adopt',
  usage: 'adopt ID OWNER [--if-match ETAG]',
  summary: "operators: make OWNER a session's owner",
  details: `Operators only. Makes OWNER the owner of the session, so that OWNER's runners may
change it. A session stored before owners were kept has none, and only operators may
change it until one adopts it. OWNER is a principal as sessions record it: deployed, a
role or user ARN (arn:aws:iam::123456789012:role/runner); locally, a token's tenant.
The change is recorded in the session's history. Anyone else gets forbidden (exit 6).
  npx ${PROGRAM} adopt "$ID" arn:aws:iam::123456789012:role/runner

Options:
  --if-match ETAG  change only that version of the session (the etag \`get\` shows); 412 otherwise
`,
  options: { 'if-match': { type: 'string' } },
  positionals: ['ID', 'OWNER'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const owner = args.positionals[1]!;
    if (!LabelSchema.safeParse(owner).success) throw new UsageError('OWNER must be 1-256 characters without control characters');
    printSession(io, json, await client.adoptSession(id, owner, { ifMatch: stringOption(args, 'if-match') }));
    return undefined;
  },
};
