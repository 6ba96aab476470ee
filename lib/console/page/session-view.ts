/**
 * The Session page: its summary and lease, the status actions (each behind a
 * confirmation that names the effect on a live holder), its jobs a page at a
 * time, its history (`history-view.ts`) and the restore of a version
 * (`restore.ts`), which only applies to the version the page showed.
 * @module
 */

import { type Change, noteRefusal, refusalNote, refused } from './access.ts';
import { confirmAdopt } from './adopt.ts';
import { acquireLease, getHistory, getSession, type HistoryPage, offersAdoption, type Session, type Status, setStatus } from './api.ts';
import { confirmAction, dialogOpen } from './dialog.ts';
import { announce, el, replaceChildren } from './dom.ts';
import { explain } from './errors.ts';
import { historyPanel, NEWEST_PAGE } from './history-view.ts';
import { countsOf, countsText, hasOutcomes } from './job-outcomes.ts';
import { jobsPanel } from './jobs-view.ts';
import { effectOnHolder, holdsUntil, liveLease, STATUS_EFFECTS } from './lease.ts';
import { leaseFacts } from './lease-view.ts';
import { confirmRestore } from './restore.ts';
import { idTail, statusBadge } from './sessions-view.ts';
import { timeAgo } from './ticker.ts';
import { dateTime } from './time.ts';

interface Loaded {
  session: Session;
  etag: string | null;
}

/** Renders session `id` into `main`; returns its refresh for live updates. */
export function showSession(main: HTMLElement, id: string): (sessionId?: string) => Promise<void> {
  let current: Loaded | undefined;

  const heading = el('h1', { text: 'Session', attrs: { tabindex: -1 } });
  const back = el('a', { class: 'back', text: '← All sessions', attrs: { href: '#/' } });
  const problem = el('div', { class: 'problem', attrs: { role: 'alert' } });
  const overview = el('section', { class: 'panel overview', attrs: { 'aria-labelledby': 'overview-title' } });
  const actions = el('div', { class: 'actions', attrs: { role: 'group', 'aria-label': 'Session actions' } });
  const leasePanel = el('section', { class: 'panel lease-panel', attrs: { 'aria-labelledby': 'lease-title' } });
  const jobsElement = el('section', { class: 'panel jobs', attrs: { 'aria-labelledby': 'jobs-title' } });
  const historyElement = el('section', { class: 'panel history', attrs: { 'aria-labelledby': 'history-title' } });
  const columns = el('div', { class: 'columns' }, el('div', { class: 'column' }, overview, leasePanel, jobsElement), historyElement);
  replaceChildren(main, back, heading, problem, actions, columns);
  const jobs = jobsPanel(jobsElement);
  const history = historyPanel(
    historyElement,
    id,
    (entry) => {
      if (current !== undefined) void confirmRestore({ id, shown: current, entry, act, describeError: describeError('restore') });
    },
    () => !refused('restore', id),
  );

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
        ...fact('Jobs', jobsFact(session)),
        ...('owner' in session ? fact('Owner', ownerText(session)) : []),
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
      return button;
    };
    add('Pause', () => void changeStatus('paused'), { disabled: session.status !== 'active' });
    add('Resume', () => void resume(), { disabled: session.status !== 'paused' });
    add('Complete', () => void changeStatus('completed'), { disabled: terminal });
    add('Terminate', () => void changeStatus('terminated'), { danger: true, disabled: terminal });
    add('Take over', () => void takeOver(), { danger: true, disabled: terminal || live === undefined });
    if (typeof session.owner !== 'string') {
      // Shown once the server is known to offer adoption (an older one has no owners to give).
      const adoptButton = add('Adopt…', () => void adopt(), { disabled: refused('adopt', id) });
      adoptButton.hidden = true;
      void offersAdoption().then((offered) => {
        adoptButton.hidden = !offered;
      });
    }
    // Once the server refused this caller a change of this session, none is offered: the line says why.
    const denied = refused('change', id);
    if (denied) for (const button of buttons) button.disabled = true;
    const note = refusalNote(session);
    replaceChildren(actions, ...buttons, note === undefined ? null : el('p', { class: 'denied', text: note }));
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
    jobs.render(current.session);
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
  const describeError = (change: Change) => (error: unknown) => {
    const told = explain(error);
    if (noteRefusal(error, change, id) && current !== undefined) {
      renderActions(current.session);
      history.redraw();
      return { message: change === 'adopt' ? 'Adopting a session is for operators only: ask an operator.' : told.message, refused: true };
    }
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
      describeError: describeError('change'),
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
      describeError: describeError('change'),
      action: () => act(() => acquireLease(id), 'Resumed: the session is active again.'),
    });
  };

  const adopt = async () => {
    if (current !== undefined) await confirmAdopt({ shown: current, act, describeError: describeError('adopt') });
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
      describeError: describeError('change'),
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

/** The job count, and with outcomes how many are in each state (a failure marked in words and a glyph, not colour alone). */
function jobsFact(session: Session): Node | string {
  if (!hasOutcomes(session)) return String(session.job_ids.length);
  const counts = countsOf(session);
  return el(
    'span',
    { class: counts.failed > 0 ? 'job-counts has-failed' : 'job-counts' },
    counts.failed > 0 ? el('span', { class: 'glyph', text: '✕ ', attrs: { 'aria-hidden': 'true' } }) : null,
    countsText(counts),
  );
}

/** Who owns the session; a session stored before owners has none until an operator adopts it. */
export function ownerText(session: Session): string {
  return typeof session.owner === 'string' ? session.owner : 'none (stored before owners; an operator may adopt it)';
}

function label(session: Session): string {
  return session.name === null ? `session ${idTail(session.id)}` : `“${session.name}”`;
}
