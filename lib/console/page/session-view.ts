/**
 * The Session page: its summary and lease, the status actions (each behind a
 * confirmation that names the effect on a live holder), its jobs a page at a
 * time, its history (`history-view.ts`) and the restore of a version
 * (`restore.ts`), which only applies to the version the page showed.
 * @module
 */

import { acquireLease, getHistory, getSession, type HistoryPage, type Session, type Status, setStatus } from './api.ts';
import { confirmAction, dialogOpen } from './dialog.ts';
import { announce, el, replaceChildren } from './dom.ts';
import { explain } from './errors.ts';
import { historyPanel, NEWEST_PAGE } from './history-view.ts';
import { effectOnHolder, holdsUntil, liveLease, STATUS_EFFECTS } from './lease.ts';
import { leaseFacts } from './lease-view.ts';
import { confirmRestore } from './restore.ts';
import { idTail, statusBadge } from './sessions-view.ts';
import { timeAgo } from './ticker.ts';
import { dateTime } from './time.ts';

/** Job rows on the page at once, whatever the session holds: 10,000 jobs stay as light as 100. */
export const JOBS_PER_PAGE = 100;

interface Loaded {
  session: Session;
  etag: string | null;
}

/** Renders session `id` into `main`; returns its refresh for live updates. */
export function showSession(main: HTMLElement, id: string): (sessionId?: string) => Promise<void> {
  let current: Loaded | undefined;
  let jobsPage = 0;
  let jobFilter = '';

  const heading = el('h1', { text: 'Session', attrs: { tabindex: -1 } });
  const back = el('a', { class: 'back', text: '← All sessions', attrs: { href: '#/' } });
  const problem = el('div', { class: 'problem', attrs: { role: 'alert' } });
  const overview = el('section', { class: 'panel overview', attrs: { 'aria-labelledby': 'overview-title' } });
  const actions = el('div', { class: 'actions', attrs: { role: 'group', 'aria-label': 'Session actions' } });
  const leasePanel = el('section', { class: 'panel lease-panel', attrs: { 'aria-labelledby': 'lease-title' } });
  const jobsPanel = el('section', { class: 'panel jobs', attrs: { 'aria-labelledby': 'jobs-title' } });
  const historyElement = el('section', { class: 'panel history', attrs: { 'aria-labelledby': 'history-title' } });
  const columns = el('div', { class: 'columns' }, el('div', { class: 'column' }, overview, leasePanel, jobsPanel), historyElement);
  replaceChildren(main, back, heading, problem, actions, columns);
  const history = historyPanel(historyElement, id, (entry) => {
    if (current !== undefined) void confirmRestore({ id, shown: current, entry, act, describeError });
  });

  const fail = (error: unknown) => replaceChildren(problem, el('p', { text: explain(error).message }));

  const renderOverview = ({ session, etag }: Loaded) => {
    heading.textContent = session.name ?? '(unnamed session)';
    replaceChildren(
      overview,
      el('h2', { text: 'Overview', attrs: { id: 'overview-title' } }),
      el(
        'dl',
        { class: 'facts' },
        ...fact('ID', el('code', { text: session.id })),
        ...fact('Status', statusBadge(session.status)),
        ...fact('Jobs', String(session.job_ids.length)),
        ...fact('Created', el('span', {}, timeAgo(session.created_at), ` (${dateTime(session.created_at)})`)),
        ...fact('Updated', timeAgo(session.updated_at)),
        ...fact('Updated by', session.updated_by ?? '—'),
        ...fact('Version (ETag)', el('code', { class: 'etag', text: etag ?? '—' })),
      ),
    );
  };

  const renderActions = (session: Session) => {
    const terminal = session.status === 'completed' || session.status === 'terminated';
    const live = liveLease(session);
    const buttons: HTMLButtonElement[] = [];
    const add = (label: string, run: () => void, options: { danger?: boolean; disabled?: boolean } = {}) => {
      const button = el('button', { class: options.danger ? 'button danger' : 'button', text: label, attrs: { type: 'button' } });
      button.disabled = options.disabled ?? false;
      button.addEventListener('click', run);
      buttons.push(button);
    };
    add('Pause', () => void changeStatus('paused'), { disabled: session.status !== 'active' });
    add('Resume', () => void resume(), { disabled: session.status !== 'paused' });
    add('Complete', () => void changeStatus('completed'), { disabled: terminal });
    add('Terminate', () => void changeStatus('terminated'), { danger: true, disabled: terminal });
    add('Take over', () => void takeOver(), { danger: true, disabled: terminal || live === undefined });
    replaceChildren(actions, ...buttons);
  };

  const renderJobs = (session: Session) => {
    const matching =
      jobFilter === ''
        ? session.job_ids.map((job, index) => ({ job, index }))
        : session.job_ids.flatMap((job, index) => (job.includes(jobFilter) ? [{ job, index }] : []));
    const pages = Math.max(1, Math.ceil(matching.length / JOBS_PER_PAGE));
    jobsPage = Math.min(jobsPage, pages - 1);
    const first = jobsPage * JOBS_PER_PAGE;
    const shown = matching.slice(first, first + JOBS_PER_PAGE);

    const filterInput = el('input', {
      attrs: { id: 'job-filter', type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 256 },
    });
    filterInput.value = jobFilter;
    filterInput.addEventListener('input', () => {
      jobFilter = filterInput.value;
      jobsPage = 0;
      renderJobs(session);
      document.getElementById('job-filter')?.focus();
    });
    const pager = (label: string, target: number, disabled: boolean) => {
      const button = el('button', { class: 'button', text: label, attrs: { type: 'button' } });
      button.disabled = disabled;
      button.addEventListener('click', () => {
        jobsPage = target;
        renderJobs(session);
        // The pressed button may now be disabled (Last on the last page): the position it changed then takes the focus.
        const again = document.querySelector<HTMLButtonElement>(`.jobs [data-page-button="${label}"]`);
        if (again !== null && !again.disabled) again.focus();
        else document.getElementById('jobs-position')?.focus();
      });
      button.dataset.pageButton = label;
      return button;
    };
    const position =
      matching.length === 0
        ? jobFilter === ''
          ? 'No jobs yet.'
          : 'No job matches.'
        : `Jobs ${first + 1}–${first + shown.length} of ${matching.length}${jobFilter === '' ? '' : ` matching (${session.job_ids.length} in all)`}`;
    replaceChildren(
      jobsPanel,
      el('h2', { text: `Jobs (${session.job_ids.length})`, attrs: { id: 'jobs-title' } }),
      el('div', { class: 'field' }, el('label', { text: 'Find a job', attrs: { for: 'job-filter' } }), filterInput),
      el('p', { class: 'summary', text: position, attrs: { 'aria-live': 'polite', id: 'jobs-position', tabindex: -1 } }),
      shown.length === 0
        ? null
        : el(
            'ol',
            { class: 'job-list', attrs: { start: first + 1, 'aria-describedby': 'jobs-position' } },
            ...shown.map(({ job, index }) => el('li', { attrs: { value: index + 1 } }, el('code', { text: job }))),
          ),
      pages > 1
        ? el(
            'div',
            { class: 'pager', attrs: { role: 'group', 'aria-label': 'Job pages' } },
            pager('First', 0, jobsPage === 0),
            pager('Previous', jobsPage - 1, jobsPage === 0),
            el('span', { class: 'page-of', text: `Page ${jobsPage + 1} of ${pages}` }),
            pager('Next', jobsPage + 1, jobsPage >= pages - 1),
            pager('Last', pages - 1, jobsPage >= pages - 1),
          )
        : null,
    );
  };

  const load = async () => {
    const [loaded, page] = await Promise.all([
      getSession(id),
      getHistory(id, null, NEWEST_PAGE).then(
        ({ body }): HistoryPage | Error => body,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      ),
    ]);
    current = { session: loaded.body, etag: loaded.etag };
    replaceChildren(problem);
    renderOverview(current);
    renderActions(current.session);
    renderJobs(current.session);
    replaceChildren(leasePanel, ...leaseFacts(current.session, []));
    await history.show(page);
    replaceChildren(leasePanel, ...leaseFacts(current.session, history.versions));
  };

  const reload = async () => {
    try {
      await keepingFocus(load);
    } catch (error) {
      fail(error);
      throw error;
    }
  };

  /** A live refresh: only when nothing is open over the page and the session changed (its ETag). */
  const refresh = async (sessionId?: string) => {
    if (sessionId !== undefined && sessionId !== id) return;
    if (dialogOpen()) return;
    const latest = await getSession(id);
    if (current !== undefined && latest.etag !== null && latest.etag === current.etag) return;
    await reload();
  };

  const act = async (work: () => Promise<unknown>, done: string) => {
    await work();
    announce(done);
    await reload().catch(() => {});
  };
  const describeError = (error: unknown) => {
    const told = explain(error);
    return told.stale ? { message: told.message, reload: () => void reload().catch(() => {}) } : { message: told.message };
  };

  const changeStatus = async (target: Exclude<Status, 'active'>) => {
    const session = current?.session;
    if (session === undefined) return;
    const { verb, effect } = STATUS_EFFECTS[target];
    const holder = effectOnHolder(session, 'status');
    await confirmAction({
      title: `${verb} ${label(session)}?`,
      body: [effect, ...(holder === '' ? [] : [el('p', { class: 'holder-effect', text: holder })])],
      confirmLabel: verb,
      danger: target !== 'paused',
      describeError,
      action: () =>
        act(async () => {
          // A live holder fences every change: take its lease, then act with the new epoch.
          const epoch = liveLease(session) === undefined ? undefined : (await acquireLease(id, { force: true })).body.lease?.epoch;
          await setStatus(id, target, epoch);
        }, `${verb}d: the session is now ${target}.`),
    });
  };

  const resume = async () => {
    const session = current?.session;
    if (session === undefined) return;
    const holder = effectOnHolder(session, 'resume');
    await confirmAction({
      title: `Resume ${label(session)}?`,
      body: [
        'Resuming acquires the lease for the console and makes the session active again, so runners can add jobs.',
        ...(holder === '' ? [] : [holder]),
      ],
      confirmLabel: 'Resume',
      describeError,
      action: () => act(() => acquireLease(id), 'Resumed: the session is active again.'),
    });
  };

  const takeOver = async () => {
    const session = current?.session;
    const lease = session === undefined ? undefined : liveLease(session);
    if (session === undefined) return;
    await confirmAction({
      title: `Take over ${label(session)}?`,
      body: [
        el('p', {
          class: 'holder-effect',
          text: lease ? `${holdsUntil(lease)}; forcing will fence it out.` : 'Nobody holds a live lease now.',
        }),
        'The console becomes the holder with a new epoch; the old holder’s next write is refused with lease_lost.',
      ],
      confirmLabel: 'Force take-over',
      danger: true,
      describeError,
      action: () => act(() => acquireLease(id, { force: true }), 'Taken over: the console holds the lease now.'),
    });
  };

  void reload().catch(() => {});
  return refresh;
}

/** Runs `render` and puts the focus (and a text field's caret) back where it was, so a live refresh never takes it away. */
async function keepingFocus(render: () => Promise<void>): Promise<void> {
  const active = document.activeElement;
  const id = active?.id;
  const caret = active instanceof HTMLInputElement ? active.selectionStart : null;
  await render();
  if (!id || document.activeElement === active) return;
  const again = document.getElementById(id);
  again?.focus();
  if (again instanceof HTMLInputElement && caret !== null) again.setSelectionRange(caret, caret);
}

function fact(term: string, value: Node | string): HTMLElement[] {
  return [el('dt', { text: term }), el('dd', {}, value)];
}

function label(session: Session): string {
  return session.name === null ? `session ${idTail(session.id)}` : `“${session.name}”`;
}
