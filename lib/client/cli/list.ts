import { SESSION_STATUSES } from '../../domain/session.ts';
import { ListSessionsQuerySchema } from '../../http/schemas.ts';
import type { Command } from './command.ts';
import { limitOption, nameOption, PROGRAM, shellWord, statusOption, stringOption } from './options.ts';
import { formatSessionTable, sessionTablePrinter, streamPages } from './output.ts';

export const list: Command = {
  name: 'list',
  usage: 'list [--name NAME] [--status STATUS] [--mine] [--limit N] [--cursor C] [--all]',
  summary: 'list sessions, newest first',
  details: `Lists one page of sessions, newest first; how to get the next one is said on stderr.

Options:
  --name NAME      only sessions with exactly this name
  --status STATUS  only sessions with this status (${SESSION_STATUSES.join(', ')})
  --mine           only sessions you own (sent as owner=me)
  --limit N        sessions per page, 1-100 (default 50)
  --cursor C       start where a previous page ended
  --all            every page, not just the first, each printed as it arrives
                   (a long listing may need a longer --timeout, or --timeout 0)
`,
  options: {
    name: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
    mine: { type: 'boolean' },
  },
  positionals: [],
  async run({ client, io, json, args }) {
    const name = nameOption(args);
    const status = statusOption(args);
    const limit = limitOption(args, ListSessionsQuerySchema.shape.limit);
    const cursor = stringOption(args, 'cursor');
    const owner = args.values.mine === true ? 'me' : undefined;
    if (args.values.all === true) {
      const pages = client.sessionPages({ name, status, owner, pageSize: limit, cursor });
      await streamPages(io.stdout, json, 'sessions', pages, (page) => page.sessions, sessionTablePrinter());
      return undefined;
    }
    const page = await client.listSessions({ name, status, owner, limit, cursor });
    if (json) {
      io.stdout.write(`${JSON.stringify({ sessions: page.sessions, next_cursor: page.nextCursor })}\n`);
      return undefined;
    }
    io.stdout.write(formatSessionTable(page.sessions));
    if (page.nextCursor !== null) {
      const filters = [
        name !== undefined && `--name ${shellWord(name)}`,
        status && `--status ${status}`,
        owner && '--mine',
        limit && `--limit ${limit}`,
      ]
        .filter(Boolean)
        .join(' ');
      io.stderr.write(`more: ${PROGRAM} list ${filters ? `${filters} ` : ''}--cursor ${page.nextCursor}   (or --all)\n`);
    }
    return undefined;
  },
};
