import { type FileHandle, open as openFile } from 'node:fs/promises';
import { type ImportOutcome, type ImportStores, parseExportedSession, SessionImporter } from '../../sessions/import.ts';
import { StoreFault } from '../../storage/port.ts';
import { type CliIo, type Command, type Parsed, UsageError } from './command.ts';

/** The exit codes of `runner-sessions import`. */
export const ImportExit = {
  /** Every session imported, or already there with the same content. */
  Ok: 0,
  /** Anything else, such as a store that cannot be opened. */
  Failure: 1,
  /** Bad arguments, or FILE cannot be read. */
  Usage: 2,
  /** The store failed or could not be reached: the import stopped; running it again carries on safely. */
  Unavailable: 5,
  /** Done, but some lines were skipped: not sessions, or sessions already there with other content. */
  Skipped: 6,
} as const;

const USAGE = 'import FILE (--data-dir DIR | --bucket B)';

/** Sessions written at once. */
const CONCURRENCY = 16;

/** At most one progress line this often. */
const PROGRESS_EVERY_MS = 2_000;

const IMPORT_PREFIX = 'runner-sessions import';

const DETAILS = `Writes the sessions of FILE (what 'runner-sessions export' wrote: one session per
line, as GET /sessions/{id} answers it) straight into a store - an operator's tool;
no server is involved. Each session keeps its id, name, job_ids, status, created_at,
updated_at, lease and every other field, and gets its name and status index entries
(and the renewal record of a lease still open). History is not carried: an imported
session has one version, its import, which the server's events announce once as
'Session Created' (with the session's status as it was imported).

Create-only: a session that is already there with the same content is left as it is
(running an import again changes nothing); one that is there with other content is
reported and skipped, never overwritten. A line that is not a session is reported
with its line number and skipped. Empty lines are ignored.

Options:
  --data-dir DIR      the local store of a data directory (what 'npm start' serves with DATA_DIR=DIR)
  --bucket B          the sessions bucket (versioned; standard AWS credentials, $AWS_REGION)
  --leases-bucket L   the bucket without versions for the status index and lease renewals
                      (deployed: LEASES_BUCKET; default: B, as 'npm start' with SESSIONS_BUCKET does)
  --endpoint URL      an S3-compatible endpoint, addressed path-style (default: AWS, or $AWS_ENDPOINT_URL_S3)
  --json              the summary as one JSON document: {"imported", "identical", "conflicts", "bad"}
  -h, --help          help

Exit status:
  0  every session was imported, or was already there with the same content
  1  any other failure (the store could not be opened)
  2  usage error, or FILE cannot be read
  5  the store failed or could not be reached: the import stopped there (run it again: what is done stays done)
  6  finished, but lines were skipped: reported on stderr with their line numbers
`;

/** A line of FILE and where it is. */
interface Line {
  number: number;
  text: string;
}

/** What an import did, line by line. */
interface Tally {
  imported: number;
  identical: number;
  conflicts: number;
  bad: number;
}

/** Opens the stores of `--data-dir`, or those of `--bucket`; `close` when done. */
type OpenStores = () => Promise<ImportStores & { close?: () => unknown }>;

/**
 * `runner-sessions import FILE`: writes the exported sessions of FILE into a
 * store, create-only (see `lib/sessions/import.ts`). Resolves to the exit code (`ImportExit`).
 */
export const importCommand: Command = {
  name: 'import',
  usage: USAGE,
  summary: 'write the sessions of an export into a store (--data-dir or --bucket), create-only',
  details: DETAILS,
  options: {
    'data-dir': { type: 'string' },
    bucket: { type: 'string' },
    'leases-bucket': { type: 'string' },
    endpoint: { type: 'string' },
  },
  positionals: ['FILE'],
  usesApi: false,
  async run({ io, args, json }) {
    const file = args.positionals[0]!;
    const open = storesFrom(args.values);
    let handle: FileHandle;
    try {
      handle = await openFile(file, 'r');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    return importFile(handle, open, io, json);
  },
};

async function importFile(handle: FileHandle, open: OpenStores, io: CliIo, json: boolean): Promise<number> {
  let stores: Awaited<ReturnType<OpenStores>>;
  try {
    stores = await open();
  } catch (error) {
    await handle.close();
    io.stderr.write(`${IMPORT_PREFIX}: cannot open the store: ${error instanceof Error ? error.message : String(error)}\n`);
    return ImportExit.Failure;
  }
  const tally: Tally = { imported: 0, identical: 0, conflicts: 0, bad: 0 };
  try {
    const importer = new SessionImporter(stores);
    let batch: Line[] = [];
    let number = 0;
    let lastProgress = Date.now();
    for await (const text of handle.readLines({ encoding: 'utf-8' })) {
      number++;
      if (text.trim() === '') continue;
      batch.push({ number, text });
      if (batch.length >= CONCURRENCY) {
        await importBatch(importer, batch, tally, io);
        batch = [];
        if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
          io.stderr.write(`${IMPORT_PREFIX}: line ${number}: ${summary(tally)} so far\n`);
          lastProgress = Date.now();
        }
      }
    }
    await importBatch(importer, batch, tally, io);
  } catch (error) {
    const unavailable = error instanceof StoreFault;
    const reason = error instanceof Error ? error.message : String(error);
    io.stderr.write(
      `${IMPORT_PREFIX}: ${unavailable ? 'the store is unavailable' : 'failed'} (${reason}); stopped after ${summary(tally)}. ` +
        'Running the same import again carries on: what is done stays done.\n',
    );
    return unavailable ? ImportExit.Unavailable : ImportExit.Failure;
  } finally {
    await handle.close();
    await stores.close?.();
  }
  io.stdout.write(json ? `${JSON.stringify(tally)}\n` : `${summary(tally)}\n`);
  return tally.conflicts + tally.bad === 0 ? ImportExit.Ok : ImportExit.Skipped;
}

/** Imports a batch of lines at once and reports, in line order, every line it skipped. */
async function importBatch(importer: SessionImporter, batch: Line[], tally: Tally, io: CliIo): Promise<void> {
  const outcomes = await Promise.allSettled(
    batch.map(async ({ text }): Promise<{ id: string; outcome: ImportOutcome } | Error> => {
      const session = parseExportedSession(text);
      return session instanceof Error ? session : { id: session.id, outcome: await importer.importSession(session) };
    }),
  );
  let failure: PromiseRejectedResult | undefined;
  for (const [index, settled] of outcomes.entries()) {
    const { number } = batch[index]!;
    if (settled.status === 'rejected') {
      failure ??= settled;
      continue;
    }
    const result = settled.value;
    if (result instanceof Error) {
      tally.bad++;
      io.stderr.write(`${IMPORT_PREFIX}: line ${number}: ${result.message}; skipped\n`);
    } else if (result.outcome === 'conflict') {
      tally.conflicts++;
      io.stderr.write(
        `${IMPORT_PREFIX}: line ${number}: session ${result.id} is already there with other content; skipped, not overwritten\n`,
      );
    } else {
      tally[result.outcome]++;
    }
  }
  // The lines beside a failed one are counted first, so that the summary says what was done.
  if (failure !== undefined) throw failure.reason;
}

function summary({ imported, identical, conflicts, bad }: Tally): string {
  return `imported ${imported}, already there ${identical}, skipped ${conflicts + bad} (${conflicts} there with other content, ${bad} not sessions)`;
}

/** How to open the store the options name: exactly one of `--data-dir` and `--bucket`. */
function storesFrom(values: Parsed['values']): OpenStores {
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
  const dataDir = text('data-dir');
  const bucket = text('bucket')?.trim();
  if ((dataDir === undefined) === (bucket === undefined))
    throw new UsageError('name the store: --data-dir DIR or --bucket B (one of them)');
  if (dataDir !== undefined) {
    if (text('leases-bucket') !== undefined || text('endpoint') !== undefined)
      throw new UsageError('--leases-bucket and --endpoint go with --bucket, not --data-dir');
    return async () => {
      // The local store's module, loaded only when asked for (it opens node:sqlite).
      const { openSqliteStores } = await import('../../storage/sqlite/index.ts');
      const stores = openSqliteStores(dataDir);
      // Both stores share one database: closing it lets what is queued commit first.
      return { ...stores, close: () => stores.sessions.database.close() };
    };
  }
  if (bucket === '') throw new UsageError('--bucket must name a bucket');
  const endpoint = text('endpoint');
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw new UsageError(`--endpoint must be a URL, got ${JSON.stringify(endpoint)}`);
  const leasesBucket = text('leases-bucket')?.trim() || bucket!;
  return async () => {
    // Loaded only when asked for, to keep the S3 SDK off the CLI's start-up.
    const { S3ObjectStore } = await import('../../storage/s3.ts');
    const { probeClient } = await import('../../storage/probe.ts');
    const client = probeClient({ endpoint });
    return { sessions: new S3ObjectStore({ bucket: bucket!, client }), state: new S3ObjectStore({ bucket: leasesBucket, client }) };
  };
}
