/**
 * The console's entry: a hash router over two pages (`#/` the sessions,
 * `#/sessions/<id>` one session) and the live updates that refresh whichever
 * page is open.
 * @module
 */

import { LiveUpdates } from './live.ts';
import { showSession } from './session-view.ts';
import { type SessionFilter, showSessions } from './sessions-view.ts';

const main = document.getElementById('main') as HTMLElement;
const live = new LiveUpdates({ stateElement: document.getElementById('live-state') });

let shownPath: string | undefined;

function route(): void {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  const focused = document.activeElement?.id;
  const session = /^\/sessions\/([0-9a-f]{32})$/.exec(path);
  if (session !== null) {
    document.title = 'Session · runner-sessions console';
    live.refresher = showSession(main, session[1]!);
  } else {
    const query = new URLSearchParams(search);
    document.title = 'Sessions · runner-sessions console';
    live.refresher = showSessions(main, { status: query.get('status') ?? '', name: query.get('name') ?? '' }, navigateToList);
  }
  moveFocus(path, focused);
  shownPath = path;
}

/** A new page puts the focus on its heading; a filter change keeps it on the control used; the first load leaves it alone. */
function moveFocus(path: string, focusedId: string | undefined): void {
  if (shownPath === undefined) return;
  const same = path === shownPath && focusedId ? document.getElementById(focusedId) : null;
  (same ?? main.querySelector<HTMLElement>('h1'))?.focus();
}

function navigateToList(filter: SessionFilter): void {
  const query = new URLSearchParams();
  if (filter.status) query.set('status', filter.status);
  if (filter.name) query.set('name', filter.name);
  const text = query.toString();
  location.hash = text === '' ? '#/' : `#/?${text}`;
}

// The fragment holds the route, so the skip link moves the focus itself instead of changing it.
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', route);
route();
live.start();
