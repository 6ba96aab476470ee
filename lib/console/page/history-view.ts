/**
 * The History panel: a timeline of versions, newest first, where runs of
 * consecutive appends are one collapsed entry with one restore action (for
 * the newest version of the run), and a "status and lease changes only" view.
 *
 * It pages by items, not by versions: each step reads pages of versions
 * (up to `PAGES_PER_STEP` of them) until it has `ITEMS_PER_STEP` more items
 * to show or the history ends, so a pause among hundreds of appends shows
 * without paging through them. A refresh reads the newest page only, and
 * keeps the older versions already read when that page reaches them.
 * @module
 */

import { getHistory, type HistoryEntry, type HistoryPage } from './api.ts';
import { el, replaceChildren } from './dom.ts';
import { explain } from './errors.ts';
import { type TimelineItem, type TimelineView, timeline, visibleItems } from './history-groups.ts';
import { timeAgo } from './ticker.ts';
import { changeKind, type DiffLine, diffSessions } from './versions.ts';

/** Versions of the newest page, read with the session at each load and refresh: most refreshes need no more. */
export const NEWEST_PAGE = 20;
/** Versions per request when reading on (the API's largest page). */
const HISTORY_PAGE = 100;
/** Items each step aims to add to the timeline. */
const ITEMS_PER_STEP = 20;
/** History requests one step makes at most, however few items they yield. */
const PAGES_PER_STEP = 5;
/** Job IDs a run of appends lists when opened; the Jobs panel has them all. */
const GROUP_JOBS_LISTED = 100;

export interface HistoryPanel {
  /** Shows `first` (the newest page, or why it could not be read) and reads on until a step's worth of items shows. */
  show(first: HistoryPage | Error): Promise<void>;
  /** The versions loaded so far, newest first. */
  readonly versions: HistoryEntry[];
  /** Draws the timeline again from what was read (after a refusal disabled the restores). */
  redraw(): void;
}

/**
 * The History panel of session `id`, rendered into `panel`; `onRestore` opens the restore of a version, offered
 * (not disabled) while `mayRestore()`.
 */
export function historyPanel(
  panel: HTMLElement,
  id: string,
  onRestore: (entry: HistoryEntry) => void,
  mayRestore: () => boolean = () => true,
): HistoryPanel {
  let versions: HistoryEntry[] = [];
  let cursor: string | null = null;
  let view: TimelineView = 'all';
  let wanted = ITEMS_PER_STEP;
  let problem: string | undefined;
  /** Bumped by each `show`: a fill still reading for an older one stops instead of mixing its pages in. */
  let generation = 0;

  const shownItems = () => visibleItems(timeline(versions), view);

  /** Reads pages until `wanted` items show, the history ends, or a step's pages are spent. */
  const fill = async () => {
    const started = generation;
    for (let page = 0; page < PAGES_PER_STEP && cursor !== null && shownItems().length < wanted; page++) {
      const { body } = await getHistory(id, cursor, HISTORY_PAGE);
      if (started !== generation) return false;
      versions = [...versions, ...body.versions];
      cursor = body.next_cursor;
    }
    return true;
  };
  /** Reads on until `target` items show (within one step's pages), then renders; `focus` is a selector to focus after. */
  const load = async (target: number, focus?: string) => {
    wanted = target;
    const started = generation;
    try {
      if (!(await fill())) return;
      problem = undefined;
    } catch (error) {
      if (started !== generation) return;
      problem = explain(error).message;
    }
    render();
    if (focus !== undefined) panel.querySelector<HTMLElement>(focus)?.focus();
  };

  const render = () => {
    const items = shownItems();
    const toggle = el('input', { attrs: { id: 'history-status-only', type: 'checkbox' } });
    toggle.checked = view === 'status-and-lease';
    toggle.addEventListener('change', () => {
      view = toggle.checked ? 'status-and-lease' : 'all';
      void load(wanted, '#history-status-only');
    });
    const more = el('button', { class: 'button history-more', text: 'Load older versions', attrs: { type: 'button' } });
    more.hidden = cursor === null;
    more.addEventListener('click', () => {
      more.disabled = true;
      void load(shownItems().length + ITEMS_PER_STEP, '.history-more');
    });
    const loaded = `${versions.length} version${versions.length === 1 ? '' : 's'} read${cursor === null ? ', all there are' : ''}.`;
    replaceChildren(
      panel,
      el('h2', { text: 'History', attrs: { id: 'history-title' } }),
      el(
        'div',
        { class: 'field check' },
        toggle,
        el('label', { text: 'Status and lease changes only', attrs: { for: 'history-status-only' } }),
      ),
      el('p', { class: 'summary history-position', text: loaded, attrs: { 'aria-live': 'polite' } }),
      problem === undefined ? null : el('p', { class: 'muted', attrs: { role: 'alert' }, text: problem }),
      items.length === 0
        ? el('p', {
            class: 'muted',
            text: versions.length === 0 ? 'No versions to show.' : 'No status or lease change among the versions read.',
          })
        : el('ol', { class: 'timeline' }, ...items.map(itemElement)),
      more,
    );
  };

  const itemElement = (item: TimelineItem): HTMLLIElement => {
    const newest = item.kind === 'version' ? item.entry : item.entries[0]!;
    const isCurrent = newest === versions[0];
    const restore = el('button', {
      class: 'button small',
      text: item.kind === 'version' ? 'Restore this version' : 'Restore to after these jobs',
      attrs: { type: 'button' },
    });
    restore.disabled = !mayRestore();
    restore.addEventListener('click', () => onRestore(newest));
    const last = isCurrent ? el('p', { class: 'current-tag', text: 'Current version' }) : restore;
    if (item.kind === 'appends') return groupElement(item, last);
    const { entry, older } = item;
    return el(
      'li',
      { class: `entry entry-${changeKind(entry.change)}`, attrs: { 'data-version-id': entry.version_id } },
      entryHead(entry.change, timeAgo(entry.at), entry.actor),
      older === undefined
        ? el('p', { class: 'muted diff-none', text: cursor === null ? 'The oldest version kept.' : 'Load older versions to compare.' })
        : diffList(diffSessions(older.session, entry.session)),
      last,
    );
  };

  const groupElement = (item: Extract<TimelineItem, { kind: 'appends' }>, last: HTMLElement): HTMLLIElement => {
    const { entries, jobs } = item;
    const oldest = entries.at(-1)!;
    const partial = item.older === undefined && cursor !== null;
    // Versions whose change names a job's outcome ("job b-1 succeeded"): an append with one, or an outcome alone.
    const outcomes = entries.filter((entry) => entry.change.split('; ').some((part) => part.startsWith('job '))).length;
    const added = `${jobs.length} job${jobs.length === 1 ? '' : 's'} added: ${jobs.slice(0, 3).join(', ')}${jobs.length > 3 ? ', …' : ''}`;
    const recorded = `${outcomes} outcome${outcomes === 1 ? '' : 's'} recorded`;
    const title = [jobs.length > 0 ? added : '', outcomes > 0 ? recorded : ''].filter((part) => part !== '').join('; ');
    const list = el('ol', { class: 'group-jobs' });
    const details = el('details', { class: 'group' }, el('summary', { text: `Show the ${jobs.length} job IDs` }), list);
    details.addEventListener('toggle', () => {
      if (!details.open || list.childElementCount > 0) return;
      const listed = jobs.slice(0, GROUP_JOBS_LISTED).map((job) => el('li', {}, el('code', { text: job })));
      const rest = jobs.length - GROUP_JOBS_LISTED;
      replaceChildren(list, ...listed, rest > 0 ? el('li', { class: 'muted', text: `… and ${rest} more (see Jobs)` }) : null);
    });
    const actors = [...new Set(entries.map((entry) => entry.actor ?? 'unknown'))].join(', ');
    return el(
      'li',
      { class: 'entry entry-jobs entry-group', attrs: { 'data-version-id': entries[0]!.version_id } },
      entryHead(
        title,
        oldest.at === entries[0]!.at ? timeAgo(oldest.at) : el('span', {}, timeAgo(oldest.at), ' – ', timeAgo(entries[0]!.at)),
        actors,
      ),
      el('p', {
        class: 'muted group-size',
        text: `${entries.length} consecutive ${outcomes > 0 ? 'appends and outcomes' : 'appends'}${partial ? '; older ones are not read yet' : ''}.`,
      }),
      jobs.length > 0 ? details : null,
      last,
    );
  };

  return {
    async show(first) {
      generation++;
      if (first instanceof Error) {
        versions = [];
        cursor = null;
        problem = explain(first).message;
      } else {
        // Versions never change: a refresh whose newest page reaches what was read keeps the rest.
        const known = new Map(versions.map((entry, index) => [entry.version_id, index]));
        const overlap = first.versions.findIndex((entry) => known.has(entry.version_id));
        if (overlap >= 0)
          versions = [...first.versions.slice(0, overlap), ...versions.slice(known.get(first.versions[overlap]!.version_id))];
        else [versions, cursor] = [first.versions, first.next_cursor];
        await load(wanted);
        return;
      }
      render();
    },
    get versions() {
      return versions;
    },
    redraw: () => render(),
  };
}

function entryHead(change: string, when: Node, actor: string | null): HTMLElement {
  return el(
    'div',
    { class: 'entry-head' },
    el('span', { class: 'change', text: change }),
    el('span', { class: 'when' }, when, ' by ', el('span', { class: 'actor', text: actor ?? 'unknown' })),
  );
}

/** A diff as a list, or a line saying that nothing but the time and the writer changed. */
export function diffList(lines: DiffLine[]): HTMLElement {
  if (lines.length === 0) return el('p', { class: 'muted', text: 'Nothing but the time and the writer changed.' });
  return el('ul', { class: 'diff' }, ...lines.map((line) => el('li', { class: `diff-${line.kind}`, text: line.text })));
}
