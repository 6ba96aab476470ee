import { SessionHistoryQuerySchema } from '../../http/schemas.ts';
import type { Command } from './command.ts';
import { limitOption, PROGRAM, sessionIdArgument, stringOption } from './options.ts';
import { formatHistoryTable, historyTablePrinter, streamPages } from './output.ts';

export const history: Command = {
  name: 'history',
  usage: 'history ID [--limit N] [--cursor C] [--all]',
  summary: 'show every change of a session, newest first: version, time, who, what',
  details: `Lists the session's stored versions, newest first: each one's version id, when it
was stored, who wrote it and what it changed (created, job_added JOB, status A→B,
restored VERSION). Pass a version id to 'restore' to bring that version back.
How to get the next page is said on stderr.

Options:
  --limit N        versions per page, 1-100 (default 20)
  --cursor C       start where a previous page ended
  --all            every page, down to the session's creation, each printed as it arrives
`,
  options: { limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } },
  positionals: ['ID'],
  async run({ client, io, json, args }) {
    const id = sessionIdArgument(args.positionals[0]!);
    const limit = limitOption(args, SessionHistoryQuerySchema.shape.limit);
    if (args.values.all === true) {
      const pages = client.historyPages(id, { pageSize: limit, cursor: stringOption(args, 'cursor') });
      await streamPages(io.stdout, json, 'versions', pages, (page) => page.versions, historyTablePrinter());
      return undefined;
    }
    const page = await client.history(id, { limit, cursor: stringOption(args, 'cursor') });
    if (json) {
      io.stdout.write(`${JSON.stringify({ versions: page.versions, next_cursor: page.nextCursor })}\n`);
      return undefined;
    }
    io.stdout.write(formatHistoryTable(page.versions));
    if (page.nextCursor !== null) {
      io.stderr.write(`more: ${PROGRAM} history ${id} ${limit ? `--limit ${limit} ` : ''}--cursor ${page.nextCursor}   (or --all)\n`);
    }
    return undefined;
  },
};
