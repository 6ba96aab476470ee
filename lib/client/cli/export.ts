import { once } from 'node:events';
import type { Command, Context } from './command.ts';

/** The largest page the API serves: the fewest requests for a whole export. */
const PAGE_SIZE = 100;

/** At most one progress line this often. */
const PROGRESS_EVERY_MS = 2_000;

/**
 * `runner-sessions export`: every session, newest first, one JSON document per
 * line on stdout exactly as `GET /sessions/{id}` answers it, written page by
 * page as the pages arrive (memory stays bounded by a page), through the API so
 * that it works against any version of the server, local or deployed.
 */
export const exportCommand: Command = {
  name: 'export',
  usage: 'export [--url URL]',
  summary: 'write every session to stdout, one JSON per line, newest first (for import)',
  details: `Writes every session of the API to stdout, one JSON document per line, newest
first, each as GET /sessions/{id} answers it: its current state, its lease as
heartbeats extended it, every field the server sends. Pages are read through the
API, so this works against any version of the server, local or deployed (signed
as every command is), and written as they arrive; a line on stderr tells how far
a long export got. Sessions created or changed while it runs may or may not be in
it. History (earlier versions) is not exported. 'runner-sessions import' writes
such a file into a store.
  runner-sessions export --url https://abc123.execute-api.eu-west-1.amazonaws.com > sessions.jsonl

Without --timeout an export has no time limit (each request still has its own).
Any exit code but 0 means the output is incomplete.
`,
  options: {},
  positionals: [],
  async run(context) {
    return exportSessions(context);
  },
};

/** The export, with how often it reports progress (tests ask for every page). */
export async function exportSessions(
  { io, args, client, clientWith }: Context,
  { progressEveryMs = PROGRESS_EVERY_MS }: { progressEveryMs?: number } = {},
): Promise<undefined> {
  // The whole export is bounded only when asked: --timeout's default is for one command, not a walk of every session.
  const api = args.values.timeout === undefined ? clientWith(undefined) : client;
  let written = 0;
  let lastProgress = Date.now();
  try {
    for await (const page of api.sessionPages({ pageSize: PAGE_SIZE })) {
      if (page.sessions.length === 0) continue;
      await write(io.stdout, page.sessions.map((session) => `${JSON.stringify(session)}\n`).join(''));
      written += page.sessions.length;
      if (page.nextCursor !== null && Date.now() - lastProgress >= progressEveryMs) {
        io.stderr.write(`runner-sessions export: ${written} sessions so far\n`);
        lastProgress = Date.now();
      }
    }
  } catch (error) {
    if (!isPipeClosed(error)) io.stderr.write(`runner-sessions export: stopped after ${written} sessions; the output is incomplete\n`);
    throw error;
  }
  io.stderr.write(`runner-sessions export: ${written} sessions from ${api.baseUrl}\n`);
  return undefined;
}

/** Writes `text`, waiting for a stream that asks for it (`write` answered false) to drain. */
async function write(stdout: Context['io']['stdout'], text: string): Promise<void> {
  if (stdout.write(text) !== false) return;
  const stream = stdout as Partial<NodeJS.WritableStream>;
  if (typeof stream.once === 'function') await once(stream as NodeJS.WritableStream, 'drain');
}

function isPipeClosed(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}
