/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the browser.
import type { Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { RestoreSessionBodySchema } from '#lib/http/schemas.ts';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { HAVE_CHROMIUM, useConsoleInBrowser } from './browser.ts';

/** Whether this server takes `force` on a restore (DESIGN "Acquire, corrected (v1.2)"); before that it refuses the field. */
const HAVE_RESTORE_FORCE = RestoreSessionBodySchema.safeParse({ version_id: 'v', force: true }).success;

const SUITE = HAVE_CHROMIUM
  ? 'the console’s history, restore and list in headless Chromium'
  : 'the console’s history, restore and list in headless Chromium (skipped: /usr/bin/chromium is not installed)';

describe.skipIf(!HAVE_CHROMIUM)(SUITE, () => {
  const ui = useConsoleInBrowser({
    allowedErrors: /404|409|Failed to load resource/,
    pageTimeout: 15_000,
  });

  const call = async (method: string, route: string, body?: unknown, headers?: Record<string, string>) => {
    const answer = await ui.server.call(method, route, body, headers);
    expect(answer.status, JSON.stringify(answer.json)).toBeLessThan(300);
    return answer.json;
  };
  const append = (id: string, jobs: string[], epoch?: number) =>
    jobs.reduce<Promise<unknown>>(
      (previous, job) =>
        previous.then(() =>
          call('POST', `/sessions/${id}/jobs`, { job_id: job }, epoch === undefined ? {} : { 'lease-epoch': String(epoch) }),
        ),
      Promise.resolve(),
    );
  /** The viewer's wall clock for Unix seconds `at`, as the page formats it. */
  const clockOf = (at: number) =>
    ui.page.evaluate(
      (seconds) =>
        new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(
          new Date(seconds * 1000),
        ),
      at,
    );
  /** Lets a restore through to this server: records its body, and drops `force` where the server does not take it yet. */
  const passRestores = async (bodies: Record<string, unknown>[]) => {
    await ui.page.route('**/sessions/*/restore', async (route: Route) => {
      const body = JSON.parse(route.request().postData() ?? '{}');
      bodies.push(body);
      const { force: _force, ...withoutForce } = body;
      await route.continue({ postData: JSON.stringify(HAVE_RESTORE_FORCE ? body : withoutForce) });
    });
  };

  it('shows the one pause of a 300-job session at once: appends grouped, read on by items, not by clicks', async () => {
    const id = (await call('POST', '/sessions', { name: 'long-run' })).id as string;
    const jobs = Array.from({ length: 300 }, (_, index) => `j-${String(index).padStart(3, '0')}`);
    await append(id, jobs.slice(0, 150));
    await call('PATCH', `/sessions/${id}`, { status: 'paused' });
    await call('POST', `/sessions/${id}/lease`, { holder: 'build-7:4711', seconds: 3600 });
    await append(id, jobs.slice(150), 1);
    const historyReads: string[] = [];
    ui.page.on('request', (request) => {
      if (new URL(request.url()).pathname.endsWith('/history')) historyReads.push(request.url());
    });

    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(4).waitFor();

    const entries = ui.page.locator('.timeline .entry');
    expect(await entries.locator('.change').allTextContents()).toEqual([
      '150 jobs added: j-150, j-151, j-152, …',
      'lease acquired by build-7:4711 (epoch 1); status paused→active',
      'status active→paused',
      '150 jobs added: j-000, j-001, j-002, …',
      'created',
    ]);
    expect(historyReads).toHaveLength(4);
    expect(await ui.page.locator('.history-position').textContent()).toBe('303 versions read, all there are.');
    expect(await ui.page.getByRole('button', { name: 'Load older versions' }).isHidden()).toBe(true);
    expect(await entries.nth(3).getByRole('button').allTextContents()).toEqual(['Restore to after these jobs']);
    expect(await entries.nth(0).getByText('Current version').isVisible()).toBe(true);

    const older = entries.nth(3);
    expect(await older.locator('.group-jobs').isVisible()).toBe(false);
    await older.getByText('Show the 150 job IDs').click();
    await older.locator('.group-jobs li').first().waitFor();
    expect(await older.locator('.group-jobs li').count()).toBe(101);
    expect(await older.locator('.group-jobs li').first().textContent()).toBe('j-000');
    expect(await older.locator('.group-jobs li').last().textContent()).toBe('… and 50 more (see Jobs)');

    await ui.page.getByLabel('Status and lease changes only').check();
    await ui.page.waitForFunction(() => document.querySelectorAll('.timeline .entry').length === 3);
    expect(await entries.locator('.change').allTextContents()).toEqual([
      'lease acquired by build-7:4711 (epoch 1); status paused→active',
      'status active→paused',
      'created',
    ]);
    expect(historyReads).toHaveLength(4);

    // A refresh reads the newest page only and keeps the 303 versions already read.
    await append(id, ['j-300'], 1);
    await ui.page.getByLabel('Status and lease changes only').uncheck();
    await entries.first().getByText('151 jobs added: j-150, j-151, j-152, …').waitFor({ timeout: 10_000 });
    expect(await ui.page.locator('.history-position').textContent()).toBe('304 versions read, all there are.');
    expect(historyReads).toHaveLength(5);
  }, 120_000);

  it('previews a restore under a live lease as what it is: a take-over naming the holder, sent with force', async () => {
    const id = (await call('POST', '/sessions', { name: 'contested', lease_seconds: 300, holder: 'build-7:4711' })).id as string;
    await append(id, ['c-1'], 1);
    const taken = await call('POST', `/sessions/${id}/lease`, { holder: 'operator', seconds: 600, force: true });
    const bodies: Record<string, unknown>[] = [];
    await passRestores(bodies);
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(2).waitFor();

    await ui.page.locator('.timeline .entry').nth(2).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    await dialog.waitFor();

    const until = await clockOf(taken.lease.expires_at);
    expect(await dialog.locator('.diff li').allTextContents()).toEqual(['1 job removed: c-1']);
    expect(await dialog.locator('.restore-lease').textContent()).toBe(
      `operator holds this session until ${until} (epoch 2). Restoring anyway takes the session from it: its next change is refused with lease_lost.`,
    );
    expect(await dialog.textContent()).not.toMatch(/kept|taken over by build-7/);
    await dialog.getByRole('button', { name: 'Force restore' }).click();
    await dialog.waitFor({ state: 'detached' });

    expect(bodies).toEqual([{ version_id: expect.any(String), force: true }]);
    const session = (await ui.server.call('GET', `/sessions/${id}`)).json;
    expect(session.job_ids).toEqual([]);
    expect(session.restored_from).toBe(bodies[0]!.version_id);
    if (HAVE_RESTORE_FORCE) {
      const fenced = await ui.server.call('POST', `/sessions/${id}/heartbeat`, {}, { 'lease-epoch': '2' });
      expect(fenced.json.error.code).toBe('lease_lost');
    }
  });

  it('asks again, naming the holder, when the server answers a restore with 409 lease_held, and then forces', async () => {
    const id = (await call('POST', '/sessions', { name: 'raced' })).id as string;
    await append(id, ['x-1']);
    const expiresAt = Math.floor(Date.now() / 1000) + 300;
    const bodies: Record<string, unknown>[] = [];
    // The lease a runner took after the page was shown: this server refuses the first, unforced restore.
    await ui.page.route('**/sessions/*/restore', async (route: Route) => {
      const body = JSON.parse(route.request().postData() ?? '{}');
      bodies.push(body);
      if (body.force !== true) {
        await route.fulfill({
          status: 409,
          contentType: 'application/json',
          body: JSON.stringify({
            error: { code: 'lease_held', message: 'the session is held', details: { holder: 'build-9:77', expires_at: expiresAt } },
          }),
        });
        return;
      }
      const { force: _force, ...withoutForce } = body;
      await route.continue({ postData: JSON.stringify(HAVE_RESTORE_FORCE ? body : withoutForce) });
    });
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();

    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    expect(await dialog.getByRole('button', { name: 'Restore', exact: true }).isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();

    const until = await clockOf(expiresAt);
    await dialog.getByRole('alert').getByText(`build-9:77 holds this session until ${until}. Restoring anyway`).waitFor();
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual(['x-1']);
    await dialog.getByRole('button', { name: 'Force restore' }).click();
    await dialog.waitFor({ state: 'detached' });

    expect(bodies.map((body) => body.force)).toEqual([undefined, true]);
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual([]);
  });

  // Taking the lease writes a version, so the server refuses the version the page showed (412) before it looks at the
  // lease: the page reads the session again and, the lease being all that changed, names the holder and forces.
  it.skipIf(!HAVE_RESTORE_FORCE)('meets the server’s own refusal of a restore under a lease taken after the page was shown', async () => {
    const id = (await call('POST', '/sessions', { name: 'raced-for-real' })).id as string;
    await append(id, ['y-1']);
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();
    const taken = await ui.server.call('POST', `/sessions/${id}/lease`, { holder: 'build-9:78', seconds: 300 });
    const sent: { force: unknown; ifMatch: string | undefined }[] = [];
    ui.page.on('request', (request) => {
      if (request.url().endsWith('/restore'))
        sent.push({ force: JSON.parse(request.postData() ?? '{}').force, ifMatch: request.headers()['if-match'] });
    });

    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await dialog
      .getByRole('alert')
      .getByText(/^build-9:78 holds this session until/)
      .waitFor();
    expect(await dialog.locator('code.etag').textContent()).toBe(taken.etag);
    await dialog.getByRole('button', { name: 'Force restore' }).click();
    await dialog.waitFor({ state: 'detached' });

    expect(sent).toEqual([
      { force: undefined, ifMatch: expect.any(String) },
      { force: true, ifMatch: taken.etag },
    ]);
    expect(sent[0]!.ifMatch).not.toBe(taken.etag);
    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual([]);
  });

  it('asks for a reload, and forces nothing, when more than the lease changed after the page was shown', async () => {
    const id = (await call('POST', '/sessions', { name: 'raced-and-changed' })).id as string;
    await append(id, ['z-1']);
    await ui.open(`#/sessions/${id}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();
    await call('POST', `/sessions/${id}/lease`, { holder: 'build-9:79', seconds: 300 });
    await append(id, ['z-2'], 1);

    await ui.page.locator('.timeline .entry').nth(1).getByRole('button', { name: 'Restore this version' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Restore this version?' });
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await dialog
      .getByRole('alert')
      .getByText('Someone changed it meanwhile — reload to see the current version, then try again.')
      .waitFor();
    expect(await dialog.getByRole('button', { name: 'Force restore' }).count()).toBe(0);
    await dialog.getByRole('button', { name: 'Reload' }).click();
    await dialog.waitFor({ state: 'detached' });

    expect((await ui.server.call('GET', `/sessions/${id}`)).json.job_ids).toEqual(['z-1', 'z-2']);
  });

  it('says when and how an ended lease ended, never a future expiry called expired', async () => {
    const released = (await call('POST', '/sessions', { name: 'released', lease_seconds: 300, holder: 'build-7:4711' })).id as string;
    const paused = await call('PATCH', `/sessions/${released}`, { status: 'paused' }, { 'lease-epoch': '1' });
    await ui.open(`#/sessions/${released}`);
    await ui.page.locator('.lease-panel .holder').waitFor();

    expect(await ui.page.locator('.lease-panel .countdown').textContent()).toBe(`Released at ${await clockOf(paused.lease.expires_at)}`);
    expect(await ui.page.locator('.lease-panel .lease-state').textContent()).toBe('not live');
    expect(await ui.page.locator('.lease-panel dt').allTextContents()).toContain('Ended');
    await ui.page.locator('.timeline .entry').last().getByRole('button', { name: 'Restore this version' }).click();
    expect(await ui.page.getByRole('dialog').locator('.restore-lease').textContent()).toBe(
      `The lease stays as it is: build-7:4711’s, epoch 1, released at ${await clockOf(paused.lease.expires_at)}.`,
    );
    expect(await ui.page.getByRole('dialog').getByRole('button', { name: 'Restore', exact: true }).isVisible()).toBe(true);
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

    // As a restore out of `active` left it: ended, with an expiry still ahead.
    const restored = (await call('POST', '/sessions', { name: 'ended-early' })).id as string;
    const stopped = await call('PATCH', `/sessions/${restored}`, { status: 'paused' });
    const store = new SqliteObjectStore(ui.server.dataDir);
    const stored = await store.get(`sessions/${restored}.json`);
    const lease = { holder: 'build-7:4711', epoch: 3, seconds: 300, expires_at: Math.floor(Date.now() / 1000) + 250, ended: 'expired' };
    await store.putVersion(`sessions/${restored}.json`, JSON.stringify({ ...JSON.parse(stored!.body), lease }), { ifMatch: stored!.etag });
    await ui.open(`#/sessions/${restored}`);
    await ui.page.locator('.lease-panel .holder').waitFor();

    const endedAt = await clockOf(stopped.updated_at);
    expect(await ui.page.locator('.lease-panel .countdown').textContent()).toBe(`Ended at ${endedAt}`);
    expect(await ui.page.locator('.lease-panel').textContent()).not.toMatch(/expires|expired/);
    await ui.open('#/?name=ended-early');
    expect(await ui.page.locator('.sessions .lease .countdown').textContent()).toBe(`ended at ${endedAt}`);
  });

  it('tells apart sessions of one name created together: the ID’s random tail and the creation time', async () => {
    const first = await call('POST', '/sessions', { name: 'twin' });
    const second = await call('POST', '/sessions', { name: 'twin' });
    await ui.open('#/?name=twin');
    await ui.page.locator('table.sessions tbody tr').nth(1).waitFor();

    for (const session of [first, second]) {
      const row = ui.page.locator(`tr[data-session-id="${session.id}"]`);
      expect(await row.locator('.session-id').textContent()).toBe(`…${session.id.slice(-8)}`);
      expect(await row.locator('.session-id').getAttribute('title')).toBe(session.id);
      const created = row.locator('td[data-label="Created"] time');
      expect(await created.getAttribute('datetime')).toBe(new Date(session.created_at * 1000).toISOString().replace('.000Z', 'Z'));
      expect(await created.textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }
    const tails = await ui.page.locator('table.sessions .session-id').allTextContents();
    expect(new Set(tails).size).toBe(2);
  });
});
