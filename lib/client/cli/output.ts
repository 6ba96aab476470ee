import type { JobOutcome } from '../../domain/job-outcome.ts';
import type { Lease } from '../../domain/session.ts';
import { jobCountsOf, type VersionedSession } from '../client.ts';
import type { HistoryEntry, Session } from '../schemas.ts';

/** Jobs listed by name in a session summary; the rest are counted. */
const JOBS_SHOWN = 10;

/** A Unix-seconds timestamp as `2025-11-24 00:01:00 UTC`. */
export function formatTime(seconds: number): string {
  return new Date(seconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/** A lease as `epoch 3, build-7:4711, until 2025-11-24 00:02:00 UTC`. */
export function formatLease(lease: Lease): string {
  return `epoch ${lease.epoch}, ${lease.holder}, until ${formatTime(lease.expires_at)}${lease.ended === undefined ? '' : ` (${lease.ended})`}`;
}

/** How a job ended, or since when it runs: `failed (exit 2)`, `failed (SIGTERM)`, `succeeded`, `running since …`. */
export function formatOutcome(outcome: JobOutcome): string {
  if (outcome.state === 'running') return `running since ${formatTime(outcome.started_at)}`;
  const how =
    outcome.signal !== null
      ? ` (${outcome.signal})`
      : outcome.exit_code !== null && outcome.exit_code !== 0
        ? ` (exit ${outcome.exit_code})`
        : '';
  return `${outcome.state}${how}`;
}

/** The `outcomes` and `failed` rows of a session: its job counts by state, and its failed jobs (the last few, by name). */
function outcomeRows(session: Session): [string, string][] {
  const counts = jobCountsOf(session);
  if (counts.running + counts.succeeded + counts.failed + counts.cancelled === 0) return [];
  const rows: [string, string][] = [
    ['outcomes', `${counts.running} running, ${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.cancelled} cancelled`],
  ];
  const failed = Object.entries(session.jobs ?? {}).filter(([, outcome]) => outcome.state === 'failed');
  if (failed.length === 0) return rows;
  const shown = failed.slice(-JOBS_SHOWN).map(([job, outcome]) => `${job}${formatOutcome(outcome).slice('failed'.length)}`);
  rows.push(['failed', `${failed.length > JOBS_SHOWN ? `last ${JOBS_SHOWN}: ` : ''}${shown.join(', ')}`]);
  return rows;
}

/** A session as aligned `label  value` lines. */
export function formatSession({ session, etag }: VersionedSession): string {
  const jobs = session.job_ids;
  const shown = jobs.slice(-JOBS_SHOWN).join(', ');
  const jobLine =
    jobs.length === 0 ? '0' : jobs.length <= JOBS_SHOWN ? `${jobs.length}  (${shown})` : `${jobs.length}  (last ${JOBS_SHOWN}: ${shown})`;
  const rows: [string, string][] = [
    ['session', session.id],
    ['name', session.name ?? '-'],
    ['status', session.status],
    ['jobs', jobLine],
    ...outcomeRows(session),
    ['created', formatTime(session.created_at)],
    ['updated', formatTime(session.updated_at)],
  ];
  if (session.owner != null) rows.push(['owner', session.owner]);
  if (session.updated_by !== undefined) rows.push(['by', session.updated_by]);
  if (session.restored_from !== undefined) rows.push(['restored', `from version ${session.restored_from}`]);
  if (session.lease != null) rows.push(['lease', formatLease(session.lease)]);
  if (etag !== undefined) rows.push(['etag', etag]);
  return rows.map(([label, value]) => `${label.padEnd(8)} ${value}\n`).join('');
}

/** A table printed page by page, as the pages arrive: `page` answers the lines of each, `end` what closes the table. */
export interface TablePrinter<T> {
  page(items: readonly T[]): string;
  /** `no sessions` / `no versions` when no page held anything, else nothing. */
  end(): string;
}

/**
 * The header once, then rows whose columns are as wide as the widest cell seen
 * so far, so that the pages of a streamed listing line up; the last column is
 * never padded and `rightAligned` columns are padded on the left.
 */
function tablePrinter<T>(header: string[], cells: (item: T) => string[], empty: string, rightAligned: number[] = []): TablePrinter<T> {
  const widths = header.map((title) => title.length);
  let printedHeader = false;
  const line = (row: string[]): string =>
    `${row
      .map((cell, column) =>
        column === row.length - 1 ? cell : rightAligned.includes(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')}\n`;
  return {
    page(items) {
      if (items.length === 0) return '';
      const rows = items.map(cells);
      for (const row of rows) {
        row.forEach((cell, column) => {
          widths[column] = Math.max(widths[column]!, cell.length);
        });
      }
      const head = printedHeader ? '' : line(header);
      printedHeader = true;
      return head + rows.map(line).join('');
    },
    end: () => (printedHeader ? '' : empty),
  };
}

/** Sessions as a table, newest first: ID, status, job count, last update, name. */
export function sessionTablePrinter(): TablePrinter<Session> {
  return tablePrinter(
    ['ID', 'STATUS', 'JOBS', 'UPDATED', 'NAME'],
    (s) => [s.id, s.status, String(s.job_ids.length), formatTime(s.updated_at), s.name ?? '-'],
    'no sessions\n',
    [2],
  );
}

/** A session's history as a table, newest first: version ID, when, who, what changed. */
export function historyTablePrinter(): TablePrinter<HistoryEntry> {
  return tablePrinter(
    ['VERSION', 'AT', 'BY', 'CHANGE'],
    (entry) => [entry.version_id, formatTime(entry.at), entry.actor ?? '-', entry.change],
    'no versions\n',
  );
}

/** One page of sessions as a table (see `sessionTablePrinter`). */
export function formatSessionTable(sessions: Session[]): string {
  const printer = sessionTablePrinter();
  return printer.page(sessions) + printer.end();
}

/** One page of a session's history as a table (see `historyTablePrinter`). */
export function formatHistoryTable(versions: HistoryEntry[]): string {
  const printer = historyTablePrinter();
  return printer.page(versions) + printer.end();
}

/**
 * Prints every page as it arrives: a table that grows page by page, or with
 * `--json` the same one document a single page gives (`{"<key>": [...], "next_cursor": null}`),
 * written element by element.
 */
export async function streamPages<Page, Item>(
  stdout: { write(text: string): unknown },
  json: boolean,
  key: string,
  pages: AsyncIterable<Page>,
  itemsOf: (page: Page) => readonly Item[],
  table: TablePrinter<Item>,
): Promise<void> {
  let written = 0;
  if (json) stdout.write(`{${JSON.stringify(key)}:[`);
  for await (const page of pages) {
    const items = itemsOf(page);
    if (json) {
      if (items.length > 0) stdout.write(`${written === 0 ? '' : ','}${items.map((item) => JSON.stringify(item)).join(',')}`);
    } else {
      stdout.write(table.page(items));
    }
    written += items.length;
  }
  stdout.write(json ? '],"next_cursor":null}\n' : table.end());
}
