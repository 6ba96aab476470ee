/**
 * The Sessions page: newest first, filtered by status and by exact name,
 * paged with "Load more", kept current by refreshing its first page. Each row
 * shows what tells sessions apart: the name, the ID's random tail (its first
 * characters only encode the creation time) and the creation time to the second.
 * @module
 */

import { listSessions, type Session, STATUSES } from './api.ts';
import { el, replaceChildren } from './dom.ts';
import { explain } from './errors.ts';
import { countsOf } from './job-outcomes.ts';
import { leaseSummary } from './lease-view.ts';
import { timeAgo } from './ticker.ts';
import { dateTime, iso } from './time.ts';

/** The filters of the list, as the URL fragment holds them (`#/?status=paused&name=ssh-import`). */
export interface SessionFilter {
  status: string;
  name: string;
}

/** Sessions per page of the list. */
const PAGE_SIZE = 50;

/** Renders the Sessions page into `main`; returns its refresh for live updates. */
export function showSessions(main: HTMLElement, filter: SessionFilter, navigate: (filter: SessionFilter) => void): () => Promise<void> {
  let sessions: Session[] = [];
  let cursor: string | null = null;

  const heading = el('h1', { text: 'Sessions', attrs: { tabindex: -1 } });
  const statusSelect = el(
    'select',
    { attrs: { id: 'filter-status', name: 'status' } },
    el('option', { text: 'Any status', attrs: { value: '' } }),
    ...STATUSES.map((status) => el('option', { text: status, attrs: { value: status } })),
  );
  statusSelect.value = STATUSES.includes(filter.status as never) ? filter.status : '';
  const nameInput = el('input', {
    attrs: { id: 'filter-name', name: 'name', type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 256 },
  });
  nameInput.value = filter.name;
  const form = el(
    'form',
    { class: 'filters', attrs: { role: 'search', 'aria-label': 'Filter sessions' } },
    el('div', { class: 'field' }, el('label', { text: 'Status', attrs: { for: 'filter-status' } }), statusSelect),
    el('div', { class: 'field' }, el('label', { text: 'Exact name', attrs: { for: 'filter-name' } }), nameInput),
    el('button', { class: 'button primary', text: 'Apply', attrs: { type: 'submit' } }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate({ status: statusSelect.value, name: nameInput.value });
  });
  statusSelect.addEventListener('change', () => navigate({ status: statusSelect.value, name: nameInput.value }));

  const rows = el('tbody');
  const head = el('tr');
  const table = el(
    'table',
    { class: 'sessions' },
    el('caption', { class: 'visually-hidden', text: 'Sessions, newest first' }),
    el('thead', {}, head),
    rows,
  );
  const summary = el('p', { class: 'summary', attrs: { 'aria-live': 'polite' } });
  const problem = el('div', { class: 'problem', attrs: { role: 'alert' } });
  const more = el('button', { class: 'button', text: 'Load more', attrs: { type: 'button' } });
  more.hidden = true;
  replaceChildren(main, heading, form, problem, summary, table, el('div', { class: 'more' }, more));

  const render = () => {
    // A server that records owners gets an Owner column; an older one's list looks as it did.
    const owners = sessions.some((session) => 'owner' in session);
    const columns = ['Name', 'Status', 'Jobs', ...(owners ? ['Owner'] : []), 'Created', 'Updated', 'Lease'];
    replaceChildren(head, ...columns.map((label) => el('th', { text: label, attrs: { scope: 'col' } })));
    replaceChildren(rows, ...sessions.map((session) => sessionRow(session, owners)));
    const filtered = filter.status !== '' || filter.name !== '';
    summary.textContent =
      sessions.length === 0
        ? filtered
          ? 'No session matches these filters.'
          : 'No sessions yet.'
        : `${sessions.length} session${sessions.length === 1 ? '' : 's'} shown${cursor ? ', more to load' : ''}.`;
    table.hidden = sessions.length === 0;
    more.hidden = cursor === null;
  };
  const fail = (error: unknown) => {
    const told = explain(error);
    replaceChildren(problem, el('p', { text: told.message }));
  };
  const query = { status: filter.status, name: filter.name, limit: PAGE_SIZE };

  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const { body } = await listSessions({ ...query, cursor });
      const known = new Set(sessions.map((session) => session.id));
      sessions = [...sessions, ...body.sessions.filter((session) => !known.has(session.id))];
      cursor = body.next_cursor;
      replaceChildren(problem);
      render();
    } catch (error) {
      fail(error);
    } finally {
      more.disabled = false;
    }
  });

  /** The first page again, merged with the older pages already loaded (IDs sort newest first). */
  const refresh = async () => {
    try {
      const { body } = await listSessions(query);
      const fresh = body.sessions;
      const last = fresh.at(-1)?.id;
      const older = body.next_cursor === null || last === undefined ? [] : sessions.filter((session) => session.id > last);
      if (sessions.length <= fresh.length || body.next_cursor === null) cursor = body.next_cursor;
      sessions = [...fresh, ...older];
      replaceChildren(problem);
      render();
    } catch (error) {
      fail(error);
      throw error;
    }
  };
  void refresh().catch(() => {});
  return refresh;
}

function sessionRow(session: Session, owners: boolean): HTMLTableRowElement {
  const link = el('a', { text: session.name ?? '(unnamed)', attrs: { href: `#/sessions/${session.id}` } });
  if (session.name === null) link.classList.add('unnamed');
  return el(
    'tr',
    { attrs: { 'data-session-id': session.id } },
    el(
      'td',
      { attrs: { 'data-label': 'Name' } },
      el('div', {}, link, el('code', { class: 'session-id', text: idTail(session.id), attrs: { title: session.id } })),
    ),
    el('td', { attrs: { 'data-label': 'Status' } }, statusBadge(session.status)),
    el(
      'td',
      { class: 'number', attrs: { 'data-label': 'Jobs' } },
      String(session.job_counts?.total ?? session.job_ids.length),
      failedCount(session),
    ),
    owners ? el('td', { class: 'owner', text: session.owner ?? '—', attrs: { 'data-label': 'Owner' } }) : null,
    el(
      'td',
      { attrs: { 'data-label': 'Created' } },
      el('time', { class: 'created', text: dateTime(session.created_at), attrs: { datetime: iso(session.created_at) } }),
    ),
    el('td', { attrs: { 'data-label': 'Updated' } }, timeAgo(session.updated_at)),
    el('td', { attrs: { 'data-label': 'Lease' } }, leaseSummary(session)),
  );
}

/** "✕ 2 failed" under the job count when some of the session's jobs failed (in words and a glyph, not colour alone). */
function failedCount(session: Session): HTMLElement | null {
  const { failed } = countsOf(session);
  if (failed === 0) return null;
  return el(
    'span',
    { class: 'failed-count' },
    el('span', { class: 'glyph', text: '✕ ', attrs: { 'aria-hidden': 'true' } }),
    `${failed} failed`,
  );
}

/** What tells a session's ID from its neighbours': its last 8 characters (80 random bits end every ID). */
export function idTail(id: string): string {
  return `…${id.slice(-8)}`;
}

/** A status as a badge whose colour is never the only signal: the word is always there. */
export function statusBadge(status: string): HTMLElement {
  return el('span', { class: `status status-${STATUSES.includes(status as never) ? status : 'unknown'}`, text: status });
}
