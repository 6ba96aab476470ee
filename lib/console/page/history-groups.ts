/**
 * The history as a timeline a person reads: runs of consecutive job appends
 * become one item ("12 jobs added"), and a view of status and lease changes
 * only. Pure: the history view renders what these return.
 * @module
 */

import type { HistoryEntry } from './api.ts';
import { changeKind } from './versions.ts';

/** One item of the timeline: a version of its own, or a run of two or more appends. */
export type TimelineItem =
  | { kind: 'version'; entry: HistoryEntry; older: HistoryEntry | undefined }
  | { kind: 'appends'; entries: HistoryEntry[]; jobs: string[]; older: HistoryEntry | undefined };

/** Which items the timeline shows. */
export type TimelineView = 'all' | 'status-and-lease';

/**
 * The timeline of `history` (newest first, as loaded): consecutive appends
 * grouped, each item with the loaded version just older than it (undefined
 * for the oldest one loaded).
 */
export function timeline(history: HistoryEntry[]): TimelineItem[] {
  const items: TimelineItem[] = [];
  let index = 0;
  while (index < history.length) {
    let end = index;
    while (end < history.length && isAppend(history[end]!, history[end + 1])) end++;
    if (end - index >= 2) {
      const entries = history.slice(index, end);
      items.push({ kind: 'appends', entries, jobs: appendedJobs(entries, history[end]), older: history[end] });
      index = end;
    } else {
      items.push({ kind: 'version', entry: history[index]!, older: history[index + 1] });
      index++;
    }
  }
  return items;
}

/** The items `view` shows: all of them, or only the versions that changed the status or the lease (and the creation). */
export function visibleItems(items: TimelineItem[], view: TimelineView): TimelineItem[] {
  if (view === 'all') return items;
  return items.filter((item) => item.kind === 'version' && aboutStatusOrLease(item.entry, item.older));
}

/** Whether a version changed the session's status or lease, was its creation, or a restore (which may do both). */
export function aboutStatusOrLease(entry: HistoryEntry, older: HistoryEntry | undefined): boolean {
  if (entry.change === 'created' || entry.change.startsWith('restored ')) return true;
  if (entry.change.split('; ').some((part) => /^(status|lease) /.test(part))) return true;
  if (older === undefined) return false;
  const [before, after] = [older.session.lease, entry.session.lease];
  return before?.epoch !== after?.epoch || before?.ended !== after?.ended;
}

/**
 * Whether `entry` did nothing but append jobs to `older`'s or record how jobs went (none of them failed): same status, name
 * and lease epoch, no restore, and its jobs are the older ones and more. With
 * no older version loaded, its `change` says (`job_added J` / `jobs_added N: …`).
 */
function isAppend(entry: HistoryEntry, older: HistoryEntry | undefined): boolean {
  // A failure stands on its own in the timeline, never folded into a run of appends.
  if (changeKind(entry.change) === 'failed') return false;
  if (older === undefined) return /^jobs?_added /.test(entry.change) && !entry.change.includes('; ');
  const [before, after] = [older.session, entry.session];
  // An outcome recorded without an append (a job's end after its start) is part of the run too: its counts moved.
  const counted = JSON.stringify(after.job_counts ?? null) !== JSON.stringify(before.job_counts ?? null);
  return (
    after.status === before.status &&
    after.name === before.name &&
    (after.lease?.epoch ?? 0) === (before.lease?.epoch ?? 0) &&
    after.restored_from === before.restored_from &&
    (after.job_ids.length > before.job_ids.length || (counted && after.job_ids.length === before.job_ids.length)) &&
    before.job_ids.every((job, position) => after.job_ids[position] === job)
  );
}

/** The jobs a run of appends added, oldest first: appends add at the end of the list. */
function appendedJobs(entries: HistoryEntry[], older: HistoryEntry | undefined): string[] {
  const newest = entries[0]!.session;
  const oldest = entries.at(-1)!;
  const base = older === undefined ? oldest.session.job_ids.length - addedBy(oldest) : older.session.job_ids.length;
  return newest.job_ids.slice(Math.max(0, base));
}

/** How many jobs an append's `change` says it added. */
function addedBy(entry: HistoryEntry): number {
  const many = /^jobs_added (\d+):/.exec(entry.change);
  return many === null ? 1 : Number(many[1]);
}
