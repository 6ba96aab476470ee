/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the browser.
import { appendFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { API_ROUTES } from '#lib/http/route-table.ts';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { HAVE_CHROMIUM, useConsoleInBrowser } from './browser.ts';

const HAVE_LEASE_ROUTES = API_ROUTES.some((route) => (route.routeKey as string) === 'POST /sessions/{id}/lease');

const SUITE = HAVE_CHROMIUM
  ? 'the console in headless Chromium'
  : 'the console in headless Chromium (skipped: /usr/bin/chromium is not installed)';

describe.skipIf(!HAVE_CHROMIUM)(SUITE, () => {
  const ids: Record<string, string> = {};
  const ui = useConsoleInBrowser({
    server: { withEvents: true },
    seed: async () => {
      for (let index = 0; index < 52; index++) await create(`bulk-${String(index).padStart(2, '0')}`);
      ids.big = await create(
        'big',
        Array.from({ length: 1000 }, (_, index) => `job-${String(index).padStart(4, '0')}`),
      );
      ids.gamma = await create('gamma', ['g-1'], 'completed');
      ids.beta = await create('beta', ['b-1', 'b-2'], 'paused');
      ids.alpha = await create('alpha', ['a-1']);
      ids.hostile = await create('<img src=x onerror="window.__pwned=1">', ['<b>job</b>']);
    },
    allowedErrors: /404|Failed to load resource/,
    setupTimeout: 120_000,
  });

  const create = async (name: string | null, jobs: string[] = [], status?: string) => {
    const created = await ui.server.call('POST', '/sessions', name === null ? {} : { name });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    for (const job of jobs) expect((await ui.server.call('POST', `/sessions/${id}/jobs`, { job_id: job })).status).toBe(200);
    if (status !== undefined) expect((await ui.server.call('PATCH', `/sessions/${id}`, { status })).status).toBe(200);
    return id;
  };
  /** Writes a lease straight into the stored session, as the lease routes will. */
  const giveLease = async (id: string, lease: { holder: string; epoch: number; seconds: number; expires_at: number }) => {
    const store = new SqliteObjectStore(ui.server.dataDir);
    const stored = await store.get(`sessions/${id}.json`);
    const session = JSON.parse(stored!.body);
    await store.putVersion(`sessions/${id}.json`, JSON.stringify({ ...session, lease }), { ifMatch: stored!.etag });
  };
  const rowNames = () => ui.page.locator('table.sessions tbody tr td:first-child a').allTextContents();

  it('lists sessions newest first, with status, job count and updated time, and loads more by cursor', async () => {
    await ui.open('#/');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();

    const names = await rowNames();
    expect(names.slice(0, 5)).toEqual(['<img src=x onerror="window.__pwned=1">', 'alpha', 'beta', 'gamma', 'big']);
    expect(names).toHaveLength(50);
    const beta = ui.page.locator(`tr[data-session-id="${ids.beta}"]`);
    expect(await beta.locator('.status').textContent()).toBe('paused');
    expect(await beta.locator('td').nth(2).textContent()).toBe('2');
    const updated = beta.locator('td[data-label="Updated"] time');
    expect(await updated.getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await updated.getAttribute('title')).toBe(await updated.getAttribute('datetime'));
    expect(await updated.textContent()).toMatch(/just now|\d+ s ago|\d+ min ago/);

    await ui.page.getByRole('button', { name: 'Load more' }).click();
    await ui.page.locator('table.sessions tbody tr').nth(56).waitFor();
    expect(await rowNames()).toHaveLength(57);
    expect((await rowNames()).at(-1)).toBe('bulk-00');
    expect(await ui.page.getByRole('button', { name: 'Load more' }).isHidden()).toBe(true);
  });

  it('shows hostile names and job IDs as text, never as markup', async () => {
    await ui.open(`#/sessions/${ids.hostile}`);
    await ui.page.locator('.job-list li').first().waitFor();

    expect(await ui.page.locator('h1').textContent()).toBe('<img src=x onerror="window.__pwned=1">');
    expect(await ui.page.locator('.job-list code').first().textContent()).toBe('<b>job</b>');
    expect(await ui.page.locator('main img, main b').count()).toBe(0);
    expect(await ui.page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('works from the keyboard: skip link, visible focus, Enter opens a session and focus lands on its heading', async () => {
    await ui.open('#/?name=alpha');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();

    await ui.page.keyboard.press('Tab');
    expect(await ui.page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await ui.page.keyboard.press('Enter');
    expect(await ui.page.evaluate(() => document.activeElement?.id)).toBe('main');
    expect(ui.page.url()).toMatch(/#\/\?name=alpha$/);
    const tabsToLink = async () => {
      for (let step = 0; step < 10; step++) {
        await ui.page.keyboard.press('Tab');
        if (await ui.page.evaluate(() => document.activeElement?.textContent === 'alpha')) return true;
      }
      return false;
    };
    expect(await tabsToLink()).toBe(true);
    const outline = await ui.page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).toBe('solid');
    await ui.page.keyboard.press('Enter');

    await ui.page.waitForURL(new RegExp(`#/sessions/${ids.alpha}$`));
    await ui.page.getByRole('heading', { name: 'Jobs (1)' }).waitFor();
    expect(await ui.page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    expect(await ui.page.getByRole('group', { name: 'Session actions' }).getByRole('button').count()).toBe(5);
  });

  it('filters by status', async () => {
    await ui.open('#/');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();

    await ui.page.getByLabel('Status').selectOption('paused');
    await ui.page.waitForURL(/#\/\?status=paused$/);
    await ui.page.waitForFunction(() => document.querySelectorAll('table.sessions tbody tr').length === 1);

    expect(await rowNames()).toEqual(['beta']);
  });

  it('filters by exact name, and says when nothing matches', async () => {
    await ui.open('#/');
    await ui.page.getByLabel('Exact name').fill('alpha');
    await ui.page.getByLabel('Exact name').press('Enter');
    await ui.page.waitForURL(/name=alpha/);
    await ui.page.waitForFunction(() => document.querySelectorAll('table.sessions tbody tr').length === 1);
    expect(await rowNames()).toEqual(['alpha']);

    await ui.page.getByLabel('Exact name').fill('alph');
    await ui.page.getByRole('button', { name: 'Apply' }).click();
    await ui.page.getByText('No session matches these filters.').waitFor();
    expect(await ui.page.locator('table.sessions').isHidden()).toBe(true);
  });

  it('opens a session of 1,000 jobs quickly and keeps at most one page of job rows in the DOM', async () => {
    await ui.open('#/');
    await ui.page.getByRole('link', { name: 'big', exact: true }).click();
    const started = Date.now();
    await ui.page.getByRole('heading', { name: 'Jobs (1000)' }).waitFor();
    const rendered = Date.now() - started;

    expect(await ui.page.locator('h1').textContent()).toBe('big');
    expect(await ui.page.locator('.job-list li').count()).toBe(100);
    expect(await ui.page.locator('#jobs-position').textContent()).toBe('Jobs 1–100 of 1000');
    expect(rendered).toBeLessThan(5000);

    await ui.page.getByRole('button', { name: 'Next' }).click();
    expect(await ui.page.locator('#jobs-position').textContent()).toBe('Jobs 101–200 of 1000');
    expect(await ui.page.evaluate(() => document.activeElement?.textContent)).toBe('Next');
    await ui.page.getByRole('button', { name: 'Last' }).click();
    expect(await ui.page.locator('#jobs-position').textContent()).toBe('Jobs 901–1000 of 1000');
    expect(await ui.page.locator('.job-list li').last().textContent()).toBe('job-0999');
    expect(await ui.page.evaluate(() => document.activeElement?.id)).toBe('jobs-position');

    const typed = Date.now();
    await ui.page.getByLabel('Find a job').fill('job-0512');
    await ui.page.waitForFunction(() => document.querySelectorAll('.job-list li').length === 1);
    expect(Date.now() - typed).toBeLessThan(2000);
    expect(await ui.page.locator('.job-list li').textContent()).toBe('job-0512');
    expect(await ui.page.locator('.job-list li').getAttribute('value')).toBe('513');
    expect(await ui.page.locator('main *').count()).toBeLessThan(600);

    // The 1,000 appends are one entry: the first step reads up to 520 versions (pages of 20, then 5 × 100, each ui.page
    // also bounded by bytes), the next steps the rest.
    const entries = ui.page.locator('.timeline .entry');
    await ui.page.locator('.timeline .entry-group').waitFor();
    expect(await entries.count()).toBe(1);
    const first = /^(\d+) jobs added: job-(\d{4}), /.exec((await entries.first().locator('.change').textContent()) ?? '');
    const read = Number(first?.[1]);
    expect(read).toBeGreaterThanOrEqual(400);
    expect(read).toBeLessThanOrEqual(520);
    expect(Number(first?.[2])).toBe(1000 - read);
    expect(await entries.first().locator('.group-size').textContent()).toBe(`${read} consecutive appends; older ones are not read yet.`);
    const older = ui.page.getByRole('button', { name: 'Load older versions' });
    for (let step = 0; step < 5 && (await older.isVisible()); step++) {
      const before = await ui.page.locator('.history-position').textContent();
      await older.click();
      await ui.page.waitForFunction((text) => document.querySelector('.history-position')?.textContent !== text, before);
    }
    await entries.nth(1).waitFor();
    expect(await entries.first().locator('.change').textContent()).toBe('1000 jobs added: job-0000, job-0001, job-0002, …');
    expect(await entries.nth(1).locator('.diff-none').textContent()).toBe('The oldest version kept.');
    expect(await ui.page.locator('.history-position').textContent()).toBe('1001 versions read, all there are.');
    expect(await ui.page.getByRole('button', { name: 'Load older versions' }).isHidden()).toBe(true);
    expect(await ui.page.locator('main *').count()).toBeLessThan(600);
  });

  it('reads the history as a timeline: who changed what, with a diff against the version before', async () => {
    await ui.open(`#/sessions/${ids.beta}`);
    await ui.page.locator('.timeline .entry').nth(2).waitFor();

    const entries = ui.page.locator('.timeline .entry');
    // The two appends are one entry, with one restore for the newest of them.
    expect(await entries.locator('.change').allTextContents()).toEqual(['status active→paused', '2 jobs added: b-1, b-2', 'created']);
    expect(await entries.locator('.actor').allTextContents()).toEqual(['local', 'local', 'local']);
    expect(await entries.nth(0).locator('.diff').textContent()).toBe('status: "active" → "paused"');
    expect(await entries.nth(1).locator('.group-size').textContent()).toBe('2 consecutive appends.');
    expect(await entries.nth(2).locator('.diff-none').textContent()).toBe('The oldest version kept.');
    expect(await entries.nth(0).getByText('Current version').isVisible()).toBe(true);
    expect(await entries.nth(1).getByRole('button', { name: 'Restore to after these jobs' }).isVisible()).toBe(true);
    expect(await entries.nth(2).locator('time').getAttribute('datetime')).toMatch(/Z$/);
  });

  it('refuses a restore onto a version it did not show (412: someone changed it meanwhile), then restores on a fresh one', async () => {
    const id = await create('restore-me', ['r-1', 'r-2']);
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();
    const shownEtag = await ui.page.locator('.overview .etag').textContent();

    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    await dialog.waitFor();
    expect(await dialog.locator('.diff').textContent()).toBe('2 jobs removed: r-1, r-2');
    expect(await dialog.locator('.restore-lease').textContent()).toBe(
      'No runner has held this session: there is no lease to keep or take.',
    );
    expect(await dialog.locator('.etag').textContent()).toBe(shownEtag);
    expect((await ui.server.call('POST', `/sessions/${id}/jobs`, { job_id: 'r-3' })).status).toBe(200);
    await dialog.getByRole('button', { name: 'Restore' }).click();

    await dialog.getByRole('alert').getByText('Someone changed it meanwhile — reload').waitFor();
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual(['r-1', 'r-2', 'r-3']);

    await dialog.getByRole('button', { name: 'Reload' }).click();
    await ui.page.getByRole('heading', { name: 'Jobs (3)' }).waitFor();
    expect(await ui.page.locator('.overview .etag').textContent()).not.toBe(shownEtag);
    await ui.page.locator('.timeline .entry').nth(0).getByText('3 jobs added: r-1, r-2, r-3').waitFor();
    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const fresh = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    expect(await fresh.locator('.diff').textContent()).toBe('3 jobs removed: r-1, r-2, r-3');
    await fresh.getByRole('button', { name: 'Restore' }).click();

    await ui.page.getByRole('heading', { name: 'Jobs (0)' }).waitFor();
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual([]);
    // The page may show the new version (pushed by the event stream) before it announces the outcome.
    await expect.poll(() => ui.page.locator('.timeline .entry .change').first().textContent()).toMatch(/^restored /);
    await expect.poll(() => ui.page.getByRole('status').textContent()).toContain('Restored');
  });

  it('changes a status only after a confirmation that says what it does', async () => {
    const id = await create('to-pause', ['p-1']);
    await ui.open(`#/sessions/${id}`);
    await ui.page.getByRole('heading', { name: 'Jobs (1)' }).waitFor();

    await ui.page.getByRole('button', { name: 'Pause' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Pause “to-pause”?' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('stops accepting jobs until it is resumed');
    expect(await ui.page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await ui.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.status).toBe('active');

    await ui.page.getByRole('button', { name: 'Pause' }).click();
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await ui.page.locator('.overview .status-paused').waitFor();

    expect((await ui.server.call('GET', `/sessions/${id}`)).json.status).toBe('paused');
    expect(await ui.page.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
    expect(await ui.page.getByRole('button', { name: 'Resume' }).isEnabled()).toBe(true);
    expect(await ui.page.locator('.timeline .entry .change').first().textContent()).toBe('status active→paused');
  });

  it('shows a held session’s holder, epoch and a live countdown, in the list and on its page', async () => {
    const id = await create('held', ['h-1']);
    const expiresAt = Math.floor(Date.now() / 1000) + 120;
    await giveLease(id, { holder: 'build-7:4711', epoch: 4, seconds: 120, expires_at: expiresAt });
    await ui.open('#/?name=held');
    const lease = ui.page.locator(`tr[data-session-id="${id}"] .lease`);
    await lease.locator('.holder').waitFor();

    expect(await lease.locator('.holder').textContent()).toBe('build-7:4711');
    expect(await lease.locator('.epoch').textContent()).toBe('epoch 4');
    const first = await lease.locator('.countdown').textContent();
    expect(first).toMatch(/^expires in (\d min \d\d|\d+) s$/);
    await ui.page.waitForFunction((before) => document.querySelector('.lease .countdown')?.textContent !== before, first);

    await ui.page.getByRole('link', { name: 'held' }).click();
    await ui.page.locator('.lease-panel .holder').waitFor();
    expect(await ui.page.locator('.lease-panel .lease-state').textContent()).toBe('live');
    expect(await ui.page.getByRole('button', { name: 'Take over' }).isEnabled()).toBe(true);
  });

  it('names the live holder in the take-over and status dialogs', async () => {
    const id = await create('held-2');
    const expiresAt = Math.floor(Date.now() / 1000) + 300;
    await giveLease(id, { holder: 'build-7:4711', epoch: 2, seconds: 300, expires_at: expiresAt });
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.lease-panel .holder').waitFor();
    const until = await ui.page.evaluate(
      (at) =>
        new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(
          new Date(at * 1000),
        ),
      expiresAt,
    );

    await ui.page.getByRole('button', { name: 'Take over' }).click();
    const dialog = ui.page.getByRole('dialog');
    expect(await dialog.locator('.holder-effect').textContent()).toBe(
      `build-7:4711 holds this session until ${until}; forcing will fence it out.`,
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await ui.page.getByRole('button', { name: 'Terminate' }).click();
    expect(await ui.page.getByRole('dialog').locator('.holder-effect').textContent()).toContain(
      `build-7:4711 holds this session until ${until}`,
    );
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  });

  it('refreshes on a Server-Sent Event instead of polling when the server streams events', async () => {
    await ui.open('#/');
    await ui.page.getByText('Live: events').waitFor();
    const listings: string[] = [];
    ui.page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sessions') listings.push(request.url());
    });

    const id = await create('announced');
    const event = {
      id: 'ev-1',
      time: new Date().toISOString(),
      source: 'runner-sessions',
      'detail-type': 'Session Created',
      detail: { session_id: id },
    };
    await appendFile(ui.server.eventsFile, `${JSON.stringify(event)}\n`);

    await ui.page.getByRole('link', { name: 'announced' }).waitFor({ timeout: 3000 });
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(listings).toHaveLength(1);
  });

  it('polls every 5 s when the server has no event stream, and picks up a new session', async () => {
    await ui.page.route('**/console/events', (route) => route.fulfill({ status: 404, body: 'no events stream on this server' }));
    await ui.open('#/');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();
    await ui.page.getByText('Live: every 5 s').waitFor();
    const listings: number[] = [];
    ui.page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sessions') listings.push(Date.now());
    });

    const id = await create('polled');
    await ui.page.locator(`tr[data-session-id="${id}"]`).waitFor({ timeout: 8000 });

    expect(listings.length).toBeGreaterThanOrEqual(1);
    expect(listings.length).toBeLessThanOrEqual(2);
  });

  it('backs off while the API fails, and stops polling while the tab is hidden', async () => {
    await ui.page.clock.install();
    await ui.page.route('**/console/events', (route) => route.fulfill({ status: 404, body: 'no events stream on this server' }));
    await ui.open('#/');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();
    let listings = 0;
    await ui.page.route('**/sessions?*', (route) => {
      listings++;
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'storage_unavailable', message: 'down' } }),
      });
    });
    const settle = async (count: number) => expect.poll(() => listings, { timeout: 3000 }).toBe(count);

    await ui.page.clock.runFor(5_100);
    await settle(1);
    await ui.page.getByText('Live: server unreachable, retrying in 10 s').waitFor();
    await ui.page.clock.runFor(9_000);
    await settle(1);
    await ui.page.clock.runFor(1_200);
    await settle(2);
    await ui.page.getByText('retrying in 20 s').waitFor();
    expect(await ui.page.getByRole('alert').textContent()).toContain('down (storage_unavailable, HTTP 503)');

    await ui.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await ui.page.getByText('Live: paused while the tab is hidden').waitFor();
    await ui.page.clock.runFor(120_000);
    await settle(2);
    await ui.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await settle(3);
  });

  it('refreshes an open session when it changes, without taking the focus from the job search', async () => {
    const id = await create('busy', ['busy-1', 'busy-2']);
    await ui.page.clock.install();
    await ui.page.route('**/console/events', (route) => route.fulfill({ status: 404, body: 'no events stream on this server' }));
    await ui.open(`#/sessions/${id}`);
    await ui.page.getByRole('heading', { name: 'Jobs (2)' }).waitFor();
    await ui.page.getByLabel('Find a job').fill('busy');

    expect((await ui.server.call('POST', `/sessions/${id}/jobs`, { job_id: 'busy-3' })).status).toBe(200);
    await ui.page.clock.runFor(5_100);
    await ui.page.getByRole('heading', { name: 'Jobs (3)' }).waitFor();

    expect(await ui.page.evaluate(() => document.activeElement?.id)).toBe('job-filter');
    expect(await ui.page.getByLabel('Find a job').inputValue()).toBe('busy');
    expect(await ui.page.locator('.job-list li').allTextContents()).toEqual(['busy-1', 'busy-2', 'busy-3']);
  });

  it.skipIf(HAVE_LEASE_ROUTES)('reports that resume is not offered while the server has no lease route', async () => {
    await ui.open(`#/sessions/${ids.beta}`);
    await ui.page.getByRole('heading', { name: 'Jobs (2)' }).waitFor();

    await ui.page.getByRole('button', { name: 'Resume' }).click();
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();

    await ui.page
      .getByRole('dialog')
      .getByRole('alert')
      .getByText(/does not offer this yet: this server has no route POST \/sessions\/[0-9a-f]{32}\/lease/)
      .waitFor();
    expect((await ui.server.call('GET', `/sessions/${ids.beta}`)).json.status).toBe('paused');
  });

  it.skipIf(!HAVE_LEASE_ROUTES)('resumes a paused session by acquiring its lease (needs the lease routes)', async () => {
    const id = await create('to-resume', [], 'paused');
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.overview .status-paused').waitFor();

    await ui.page.getByRole('button', { name: 'Resume' }).click();
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
    await ui.page.locator('.overview .status-active').waitFor();

    const session = (await ui.server.call('GET', `/sessions/${id}`)).json;
    expect(session.status).toBe('active');
    expect(await ui.page.locator('.lease-panel .holder').textContent()).toBe(session.lease.holder);
    expect(await ui.page.locator('.lease-panel .lease-state').textContent()).toBe('live');
  });

  it.skipIf(!HAVE_LEASE_ROUTES)('forces a take-over from a live holder, which is then fenced out (needs the lease routes)', async () => {
    const created = await ui.server.call('POST', '/sessions', { name: 'contested', lease_seconds: 300, holder: 'build-7:4711' });
    const id = created.json.id as string;
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.lease-panel .holder').waitFor();

    await ui.page.getByRole('button', { name: 'Take over' }).click();
    const dialog = ui.page.getByRole('dialog');
    expect(await dialog.locator('.holder-effect').textContent()).toMatch(
      /^build-7:4711 holds this session until \d\d:\d\d:\d\d; forcing will fence it out\.$/,
    );
    await dialog.getByRole('button', { name: 'Force take-over' }).click();
    await dialog.waitFor({ state: 'detached' });
    await ui.page.locator('.lease-panel .holder').filter({ hasNotText: 'build-7:4711' }).waitFor();

    const session = (await ui.server.call('GET', `/sessions/${id}`)).json;
    expect(session.lease.epoch).toBe(2);
    expect(session.lease.holder).not.toBe('build-7:4711');
    const fenced = await ui.server.call('POST', `/sessions/${id}/heartbeat`, {}, { 'lease-epoch': '1' });
    expect(fenced.json.error.code).toBe('lease_lost');
  });

  it.skipIf(!HAVE_LEASE_ROUTES)(
    'pauses a live-held session by taking its lease first, as its dialog says (needs the lease routes)',
    async () => {
      const created = await ui.server.call('POST', '/sessions', { name: 'held-pause', lease_seconds: 300, holder: 'build-7:4711' });
      const id = created.json.id as string;
      await ui.open(`#/sessions/${id}`);
      await ui.page.locator('.lease-panel .holder').waitFor();

      await ui.page.getByRole('button', { name: 'Pause' }).click();
      const dialog = ui.page.getByRole('dialog');
      expect(await dialog.locator('.holder-effect').textContent()).toContain('build-7:4711 holds this session until');
      await dialog.getByRole('button', { name: 'Pause' }).click();
      await ui.page.locator('.overview .status-paused').waitFor();

      const session = (await ui.server.call('GET', `/sessions/${id}`)).json;
      expect(session.status).toBe('paused');
      expect(session.lease.epoch).toBe(2);
      expect(session.lease.expires_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    },
  );
});
