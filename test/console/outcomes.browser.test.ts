/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the browser.
import type { Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { AddJobBodySchema } from '#lib/http/schemas.ts';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { HAVE_CHROMIUM, useConsoleInBrowser } from './browser.ts';

const SUITE = HAVE_CHROMIUM
  ? 'the console’s job outcomes and owners in headless Chromium'
  : 'the console’s job outcomes and owners in headless Chromium (skipped: /usr/bin/chromium is not installed)';

const now = () => Math.floor(Date.now() / 1000);

/** Whether this server records outcomes (DESIGN "Job outcomes (v1.2)"): an append then takes a `state`. */
const HAVE_OUTCOMES = AddJobBodySchema.safeParse({ job_id: 'j', state: 'failed', exit_code: 2 }).success;

describe.skipIf(!HAVE_CHROMIUM)(SUITE, () => {
  const ui = useConsoleInBrowser({
    allowedErrors: /403|404|Failed to load resource/,
  });

  const call = async (method: string, route: string, body?: unknown) => {
    const answer = await ui.server.call(method, route, body);
    expect(answer.status, JSON.stringify(answer.json)).toBeLessThan(300);
    return answer.json;
  };
  const create = async (name: string, jobs: string[]) => {
    const id = (await call('POST', '/sessions', { name })).id as string;
    for (const job of jobs) await call('POST', `/sessions/${id}/jobs`, { job_id: job });
    return id;
  };
  /** Writes fields straight into the stored session as a new version, as a server with outcomes and owners stores them. */
  const store = async (id: string, fields: Record<string, unknown>) => {
    const sqlite = new SqliteObjectStore(ui.server.dataDir);
    const stored = await sqlite.get(`sessions/${id}.json`);
    await sqlite.putVersion(`sessions/${id}.json`, JSON.stringify({ ...JSON.parse(stored!.body), ...fields }), { ifMatch: stored!.etag });
  };
  const rows = () => ui.page.locator('table.job-table tbody tr');
  const cells = async (column: string) => rows().locator(`td[data-label="${column}"]`).allTextContents();

  it('shows each job’s state, exit code or signal and duration, marks failures in words, and filters by state', async () => {
    const jobs = ['b-1', 'b-2', 'b-3', 'b-4', 'b-5', 'b-6'];
    const id = await create('outcomes', jobs);
    const at = now() - 3600;
    await store(id, { jobs: { 'b-1': { state: 'running', exit_code: null, signal: null, started_at: at, finished_at: null } } });
    await store(id, {
      jobs: {
        'b-1': { state: 'succeeded', exit_code: 0, signal: null, started_at: at, finished_at: at + 60 },
        'b-2': { state: 'failed', exit_code: 2, signal: null, started_at: at, finished_at: at + 125 },
        'b-3': { state: 'running', exit_code: null, signal: null, started_at: now() - 90, finished_at: null },
        'b-4': { state: 'cancelled', exit_code: null, signal: null, started_at: at, finished_at: at + 7200 },
        'b-6': { state: 'failed', exit_code: null, signal: 'SIGKILL', started_at: at, finished_at: at + 3 },
      },
      job_counts: { total: 6, running: 1, succeeded: 1, failed: 2, cancelled: 1 },
    });

    await ui.open(`#/sessions/${id}`);
    await rows().nth(5).waitFor();

    expect(await ui.page.locator('.facts dt').allTextContents()).toContain('Jobs');
    const counts = ui.page.locator('.facts .job-counts');
    expect(await counts.textContent()).toBe('✕ 6 jobs: 1 running, 1 succeeded, 2 failed, 1 cancelled');
    expect(await counts.getAttribute('class')).toContain('has-failed');
    expect(await cells('Job')).toEqual(jobs);
    expect(await cells('State')).toEqual(['succeeded', '✕ failed', 'running', 'cancelled', '—', '✕ failed']);
    expect(await cells('Exit')).toEqual(['0', '2', '', '', '', 'SIGKILL']);
    const durations = await cells('Duration');
    expect([durations[0], durations[1], durations[3], durations[4], durations[5]]).toEqual([
      '1 min 0 s',
      '2 min 5 s',
      '2 h 0 min',
      '',
      '3 s',
    ]);
    expect(durations[2]).toMatch(/^1 min 3\d s$/);
    // A running job's duration runs on.
    await ui.page.waitForFunction(
      (shown) => document.querySelectorAll('.job-table td[data-label="Duration"]')[2]?.textContent !== shown,
      durations[2],
    );
    // Failures stand out by more than colour: the word, a glyph, and the row's weight and edge.
    const failed = rows().filter({ has: ui.page.locator('.job-state-failed') });
    expect(await failed.evaluateAll((found) => found.map((row) => row.className))).toEqual(['job-failed', 'job-failed']);
    expect(await failed.first().evaluate((row) => getComputedStyle(row.querySelector('td')!).fontWeight)).toBe('600');

    const state = ui.page.getByLabel('State');
    expect(await state.locator('option').allTextContents()).toEqual([
      'Any state',
      'running (1)',
      'succeeded (1)',
      'failed (2)',
      'cancelled (1)',
      'no state recorded (1)',
    ]);
    await state.selectOption('failed');
    await ui.page.waitForFunction(() => document.querySelectorAll('.job-table tbody tr').length === 2);
    expect(await cells('Job')).toEqual(['b-2', 'b-6']);
    expect(await cells('#')).toEqual(['2', '6']);
    expect(await ui.page.locator('#jobs-position').textContent()).toBe('Jobs 1–2 of 2 matching (6 in all)');
    expect(await ui.page.evaluate(() => document.activeElement?.id)).toBe('job-state-filter');
    await ui.page.getByLabel('Find a job').fill('b-6');
    await ui.page.waitForFunction(() => document.querySelectorAll('.job-table tbody tr').length === 1);
    await ui.page.getByLabel('Find a job').fill('');
    await state.selectOption('none');
    await ui.page.waitForFunction(() => document.querySelectorAll('.job-table tbody tr').length === 1);
    expect(await cells('Job')).toEqual(['b-5']);

    // The history names what each version recorded.
    const diffs = await ui.page.locator('.timeline .diff-outcomes').allTextContents();
    expect(diffs).toContain('job b-1 succeeded, job b-2 failed (exit 2), job b-3 started, job b-4 cancelled, job b-6 failed (SIGKILL)');
    expect(diffs).toContain('job b-1 started');

    await ui.open('#/?name=outcomes');
    const row = ui.page.locator(`tr[data-session-id="${id}"]`);
    expect(await row.locator('td[data-label="Jobs"]').textContent()).toBe('6✕ 2 failed');
    expect(await row.locator('.failed-count').isVisible()).toBe(true);
  });

  it.skipIf(!HAVE_OUTCOMES)('shows the outcomes runners record through the API, with the counts and history the server keeps', async () => {
    const id = (await call('POST', '/sessions', { name: 'exec-run' })).id as string;
    const report = (job_id: string, fields: Record<string, unknown> = {}) => call('POST', `/sessions/${id}/jobs`, { job_id, ...fields });
    await report('e-1', { state: 'running' });
    await report('e-2', { state: 'failed', exit_code: 3 });
    await report('e-3');
    await report('e-4', { state: 'running' });
    await report('e-1', { state: 'succeeded', exit_code: 0 });
    const last = await report('e-4', { state: 'failed', signal: 'SIGTERM' });
    expect(last.job_counts).toEqual({ total: 4, running: 0, succeeded: 1, failed: 2, cancelled: 0 });

    await ui.open(`#/sessions/${id}`);
    await rows().nth(3).waitFor();
    expect(await ui.page.locator('.facts .job-counts').textContent()).toBe('✕ 4 jobs: 1 succeeded, 2 failed');
    expect(await cells('State')).toEqual(['succeeded', '✕ failed', '—', '✕ failed']);
    expect(await cells('Exit')).toEqual(['0', '3', '', 'SIGTERM']);
    for (const duration of await cells('Duration').then((all) => [all[0], all[1], all[3]])) expect(duration).toMatch(/^\d+ s$/);

    // Each failure is an entry of its own, marked as one; the server's words name it.
    const failures = ui.page.locator('.timeline .entry-failed .change');
    await failures.nth(1).waitFor();
    expect(await failures.allTextContents()).toEqual(['job e-4 failed (SIGTERM)', 'job e-2 failed (exit 3)']);
    expect(await ui.page.locator('.timeline .entry .change').allTextContents()).toEqual([
      'job e-4 failed (SIGTERM)',
      '2 jobs added: e-3, e-4; 2 outcomes recorded',
      'job e-2 failed (exit 3)',
      'job e-1 started',
      'created',
    ]);
    expect(await ui.page.locator('.timeline .group-size').textContent()).toBe('3 consecutive appends and outcomes.');

    await ui.page.getByLabel('State').selectOption('failed');
    await ui.page.waitForFunction(() => document.querySelectorAll('.job-table tbody tr').length === 2);
    expect(await cells('Job')).toEqual(['e-2', 'e-4']);

    await ui.open('#/?name=exec-run');
    expect(await ui.page.locator(`tr[data-session-id="${id}"] .failed-count`).textContent()).toBe('✕ 2 failed');
  });

  it('renders a session without outcomes as before: a numbered list, no state filter, a plain count', async () => {
    const id = await create('no-outcomes', ['p-1', 'p-2']);
    await store(id, { job_counts: { total: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 } });
    const older = await create('older-server', ['q-1']);

    for (const session of [id, older]) {
      await ui.open(`#/sessions/${session}`);
      await ui.page.locator('.job-list li').first().waitFor();
      expect(await ui.page.locator('table.job-table').count()).toBe(0);
      expect(await ui.page.locator('#job-state-filter').count()).toBe(0);
      expect(await ui.page.locator('.facts .job-counts').count()).toBe(0);
    }
    expect(await ui.page.locator('.job-list li').allTextContents()).toEqual(['q-1']);
    await ui.open('#/?name=no-outcomes');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();
    expect(await ui.page.locator('table.sessions td[data-label="Jobs"]').allTextContents()).toEqual(['2']);
    // An Owner column only from a server that records owners.
    const recordsOwners = 'owner' in (await call('GET', `/sessions/${id}`));
    expect((await ui.page.locator('table.sessions th').allTextContents()).includes('Owner')).toBe(recordsOwners);
  });

  it('shows the owner, and after a 403 forbidden says whose the session is and offers no change of it', async () => {
    const id = await create('owned', ['o-1']);
    await store(id, { owner: 'tenant-a' });
    const unowned = await create('unowned', []);
    await ui.page.route('**/sessions/*', async (route: Route) => {
      if (route.request().method() !== 'PATCH') return route.continue();
      await route.fulfill({
        status: 403,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'forbidden', message: `you do not own session ${id}; ask an operator`, details: { id } } }),
      });
    });

    await ui.open('#/?name=owned');
    await ui.page.locator('table.sessions tbody tr').first().waitFor();
    expect(await ui.page.locator('table.sessions th').allTextContents()).toContain('Owner');
    expect(await ui.page.locator('table.sessions td[data-label="Owner"]').allTextContents()).toEqual(['tenant-a']);

    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();
    expect(await ui.page.locator('.facts dt:text-is("Owner") + dd').textContent()).toBe('tenant-a');
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    const dialog = ui.page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Pause' }).click();
    await dialog
      .getByRole('alert')
      .getByText('You do not own this session: only its owner and operators may change it. Ask an operator.')
      .waitFor();
    expect(await dialog.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    await dialog.getByRole('button', { name: 'Close' }).click();

    const actions = ui.page.getByRole('group', { name: 'Session actions' });
    expect(
      await actions.getByRole('button').evaluateAll((buttons) => buttons.map((button) => (button as HTMLButtonElement).disabled)),
    ).toEqual([true, true, true, true, true]);
    expect(await actions.locator('.denied').textContent()).toBe(
      'This console’s token may not change this session: it belongs to tenant-a, and only its owner and operators may change it. Ask an operator.',
    );
    const restores = ui.page.locator('.timeline').getByRole('button', { name: /^Restore/ });
    expect(await restores.evaluateAll((buttons) => buttons.map((button) => (button as HTMLButtonElement).disabled))).toEqual([true, true]);
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.status).toBe('active');

    // Another session is not refused for it.
    await ui.open(`#/sessions/${unowned}`);
    await ui.page.getByRole('button', { name: 'Pause' }).waitFor();
    expect(await ui.page.getByRole('button', { name: 'Pause' }).isEnabled()).toBe(true);
    expect(await ui.page.locator('.denied').count()).toBe(0);
  });

  it('disables restore everywhere once the API answers its own 403 (credentials not granted the route)', async () => {
    const first = await create('not-granted', ['n-1']);
    const second = await create('not-granted-2', ['m-1']);
    await ui.page.route('**/sessions/*/restore', (route: Route) =>
      route.fulfill({ status: 403, contentType: 'application/json', body: '{"message":"Forbidden"}' }),
    );

    await ui.open(`#/sessions/${first}`);
    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await dialog
      .getByRole('alert')
      .getByText(/^Your credentials are not granted this \(operators only\)/)
      .waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    expect(await ui.page.locator('.denied').textContent()).toBe(
      'Restoring is for operators: this console’s credentials are not granted it.',
    );
    expect(await ui.page.getByRole('button', { name: 'Pause' }).isEnabled()).toBe(true);

    await ui.page.evaluate((id) => {
      location.hash = `#/sessions/${id}`;
    }, second);
    await ui.page.locator(`.timeline .entry`).nth(1).waitFor();
    await ui.page.getByRole('heading', { name: 'not-granted-2' }).waitFor();
    expect(await ui.page.locator('.timeline').getByRole('button', { name: 'Restore this version' }).isDisabled()).toBe(true);
    expect((await ui.server.call('GET', `/sessions/${first}`)).json.job_ids).toEqual(['n-1']);
  });
});
