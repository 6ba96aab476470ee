/**
 * The Jobs panel of a session: its jobs 100 to a page (the DOM holds one page,
 * whatever the session holds), found by a search on the job ID. A session
 * that records outcomes shows them as a table — state, exit code or signal,
 * duration — with failed jobs marked in words and a glyph as well as colour,
 * and a filter by state; one without (an older server or session) shows the
 * plain numbered list.
 * @module
 */

import type { JobOutcome, Session } from './api.ts';
import { el, replaceChildren } from './dom.ts';
import {
  countsOf,
  durationOf,
  durationText,
  exitText,
  hasOutcomes,
  JOB_STATES,
  keeps,
  outcomeOf,
  type StateFilter,
} from './job-outcomes.ts';
import { keepCurrent } from './ticker.ts';
import { iso } from './time.ts';

/** Job rows on the page at once, whatever the session holds: 10,000 jobs stay as light as 100. */
export const JOBS_PER_PAGE = 100;

/** The Jobs panel rendered into `panel`; its search, state filter and page survive each refresh. */
export function jobsPanel(panel: HTMLElement): { render(session: Session): void } {
  let page = 0;
  let search = '';
  let state: StateFilter = '';

  const render = (session: Session) => {
    const outcomes = hasOutcomes(session);
    const filter = outcomes ? state : '';
    const matching = session.job_ids.flatMap((job, index) =>
      (search === '' || job.includes(search)) && keeps(filter, outcomeOf(session, job)) ? [{ job, index }] : [],
    );
    const pages = Math.max(1, Math.ceil(matching.length / JOBS_PER_PAGE));
    page = Math.min(page, pages - 1);
    const first = page * JOBS_PER_PAGE;
    const shown = matching.slice(first, first + JOBS_PER_PAGE);

    const searchInput = el('input', {
      attrs: { id: 'job-filter', type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 256 },
    });
    searchInput.value = search;
    searchInput.addEventListener('input', () => {
      search = searchInput.value;
      page = 0;
      render(session);
      document.getElementById('job-filter')?.focus();
    });
    const pager = (label: string, target: number, disabled: boolean) => {
      const button = el('button', { class: 'button', text: label, attrs: { type: 'button' } });
      button.disabled = disabled;
      button.addEventListener('click', () => {
        page = target;
        render(session);
        // The pressed button may now be disabled (Last on the last page): the position it changed then takes the focus.
        const again = panel.querySelector<HTMLButtonElement>(`[data-page-button="${label}"]`);
        if (again !== null && !again.disabled) again.focus();
        else document.getElementById('jobs-position')?.focus();
      });
      button.dataset.pageButton = label;
      return button;
    };
    const filtered = search !== '' || filter !== '';
    const position =
      matching.length === 0
        ? filtered
          ? 'No job matches.'
          : 'No jobs yet.'
        : `Jobs ${first + 1}–${first + shown.length} of ${matching.length}${filtered ? ` matching (${session.job_ids.length} in all)` : ''}`;
    const stateSelect = outcomes ? stateFilter(session) : null;
    stateSelect?.addEventListener('change', () => {
      state = stateSelect.value as StateFilter;
      page = 0;
      render(session);
      document.getElementById('job-state-filter')?.focus();
    });
    replaceChildren(
      panel,
      el('h2', { text: `Jobs (${session.job_ids.length})`, attrs: { id: 'jobs-title' } }),
      el(
        'div',
        { class: 'job-filters' },
        el('div', { class: 'field' }, el('label', { text: 'Find a job', attrs: { for: 'job-filter' } }), searchInput),
        stateSelect && el('div', { class: 'field' }, el('label', { text: 'State', attrs: { for: 'job-state-filter' } }), stateSelect),
      ),
      el('p', { class: 'summary', text: position, attrs: { 'aria-live': 'polite', id: 'jobs-position', tabindex: -1 } }),
      shown.length === 0
        ? null
        : outcomes
          ? el('div', { class: 'job-table-scroll' }, jobTable(session, shown))
          : el(
              'ol',
              { class: 'job-list', attrs: { start: first + 1, 'aria-describedby': 'jobs-position' } },
              ...shown.map(({ job, index }) => el('li', { attrs: { value: index + 1 } }, el('code', { text: job }))),
            ),
      pages > 1
        ? el(
            'div',
            { class: 'pager', attrs: { role: 'group', 'aria-label': 'Job pages' } },
            pager('First', 0, page === 0),
            pager('Previous', page - 1, page === 0),
            el('span', { class: 'page-of', text: `Page ${page + 1} of ${pages}` }),
            pager('Next', page + 1, page >= pages - 1),
            pager('Last', pages - 1, page >= pages - 1),
          )
        : null,
    );
  };
  return { render };

  /** The state filter, each option with how many jobs it keeps (from the counts the session keeps). */
  function stateFilter(session: Session): HTMLSelectElement {
    const counts = countsOf(session);
    const stateless = Math.max(0, counts.total - JOB_STATES.reduce((sum, each) => sum + counts[each], 0));
    const select = el(
      'select',
      { attrs: { id: 'job-state-filter' } },
      el('option', { text: 'Any state', attrs: { value: '' } }),
      ...JOB_STATES.map((each) => el('option', { text: `${each} (${counts[each]})`, attrs: { value: each } })),
      el('option', { text: `no state recorded (${stateless})`, attrs: { value: 'none' } }),
    );
    select.value = state;
    return select;
  }
}

/** One page of jobs with their outcomes. */
function jobTable(session: Session, shown: { job: string; index: number }[]): HTMLTableElement {
  return el(
    'table',
    { class: 'job-table', attrs: { 'aria-describedby': 'jobs-position' } },
    el('caption', { class: 'visually-hidden', text: 'Jobs in the order they were added, with how each ended' }),
    el(
      'thead',
      {},
      el('tr', {}, ...['#', 'Job', 'State', 'Exit', 'Duration'].map((label) => el('th', { text: label, attrs: { scope: 'col' } }))),
    ),
    el(
      'tbody',
      {},
      ...shown.map(({ job, index }) => {
        const outcome = outcomeOf(session, job);
        return el(
          'tr',
          { class: outcome?.state === 'failed' ? 'job-failed' : '', attrs: { 'data-job-id': job } },
          el('td', { class: 'number', text: String(index + 1), attrs: { 'data-label': '#' } }),
          el('td', { attrs: { 'data-label': 'Job' } }, el('code', { text: job })),
          el('td', { attrs: { 'data-label': 'State' } }, jobState(outcome)),
          el('td', { class: 'exit', text: exitText(outcome), attrs: { 'data-label': 'Exit' } }),
          el('td', { class: 'number', attrs: { 'data-label': 'Duration' } }, duration(outcome)),
        );
      }),
    ),
  );
}

/** The job's state as a badge whose word (and, for a failure, its glyph) says it without colour. */
export function jobState(outcome: JobOutcome | undefined): HTMLElement {
  if (outcome === undefined) return el('span', { class: 'job-state job-state-none', text: '—', attrs: { title: 'no state recorded' } });
  const known = (JOB_STATES as readonly string[]).includes(outcome.state) ? outcome.state : 'unknown';
  return el(
    'span',
    { class: `job-state job-state-${known}` },
    outcome.state === 'failed' ? el('span', { class: 'glyph', text: '✕ ', attrs: { 'aria-hidden': 'true' } }) : null,
    outcome.state,
  );
}

/** The duration, kept current each second while the job runs; the start (and end) on hover. */
function duration(outcome: JobOutcome | undefined): HTMLElement | string {
  if (durationOf(outcome) === undefined || outcome === undefined) return '';
  const title = `started ${iso(outcome.started_at)}${typeof outcome.finished_at === 'number' ? `, finished ${iso(outcome.finished_at)}` : ''}`;
  const element = el('span', { class: 'duration', attrs: { title } });
  const update = () => {
    const seconds = durationOf(outcome);
    element.textContent = seconds === undefined ? '' : durationText(seconds);
  };
  if (outcome.state === 'running' && outcome.finished_at === null) keepCurrent(element, update);
  else update();
  return element;
}
