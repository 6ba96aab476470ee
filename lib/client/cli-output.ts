import type { Session } from '../session.ts';
import type { VersionedSession } from './client.ts';
import type { HistoryEntry } from './schemas.ts';

/** Jobs listed by name in a session summary; the rest are counted. */
const JOBS_SHOWN = 10;

/** A Unix-seconds timestamp as `2025-11-24 00:01:00 UTC`. */
export function formatTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** A session as aligned `label  value` lines. */
export function formatSession({ session, etag }: VersionedSession): string {
  const jobs = session.job_ids;
  const shown = jobs.slice(-JOBS_SHOWN).join(', ');
  const jobLine = jobs.length === 0 ? '0' : jobs.length <= JOBS_SHOWN ? `${jobs.length}  (${shown})` : `${jobs.length}  (last ${JOBS_SHOWN}: ${shown})`;
  const rows: [string, string][] = [
    ['session', session.id],
    ['name', session.name ?? '-'],
    ['status', session.status],
    ['jobs', jobLine],
    ['created', formatTime(session.created_at)],
    ['updated', formatTime(session.updated_at)],
  ];
  if (session.updated_by !== undefined) rows.push(['by', session.updated_by]);
  if (session.restored_from !== undefined) rows.push(['restored', `from version ${session.restored_from}`]);
  if (etag !== undefined) rows.push(['etag', etag]);
  return rows.map(([label, value]) => `${label.padEnd(8)} ${value}\n`).join('');
}

/** Sessions as a table, newest first: ID, status, job count, last update, name. */
export function formatSessionTable(sessions: Session[]): string {
  if (sessions.length === 0) return 'no sessions\n';
  const rows = [
    ['ID', 'STATUS', 'JOBS', 'UPDATED', 'NAME'],
    ...sessions.map((s) => [s.id, s.status, String(s.job_ids.length), formatTime(s.updated_at), s.name ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === 2 ? cell.padStart(widths[column]!) : column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('  '),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** A session's history as a table, newest first: version ID, when, who, what changed. */
export function formatHistoryTable(versions: HistoryEntry[]): string {
  if (versions.length === 0) return 'no versions\n';
  const rows = [['VERSION', 'AT', 'BY', 'CHANGE'], ...versions.map((entry) => [entry.version_id, formatTime(entry.at), entry.actor ?? '-', entry.change])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => `${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}\n`).join('');
}
