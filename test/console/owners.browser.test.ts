import { describe, expect, it } from 'vitest';
import { type AccessToken, parseTokenFile } from '#lib/local/access.ts';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { HAVE_CHROMIUM, useConsoleInBrowser } from './browser.ts';

/** Whether this server's token lines take a tenant (DESIGN "Owners and operators (v1.2)"): `LABEL:TOKEN:TENANT`. */
const HAVE_OWNERS = (() => {
  try {
    return (parseTokenFile('runner:0123456789abcdef:tenant-a')[0] as AccessToken & { tenant?: string }).tenant === 'tenant-a';
  } catch {
    return false;
  }
})();

const SUITE = HAVE_CHROMIUM
  ? 'the console run with a runner’s token, in headless Chromium'
  : 'the console run with a runner’s token, in headless Chromium (skipped: /usr/bin/chromium is not installed)';

const TOKENS = { a: 'runner-a-token-0123456789', b: 'runner-b-token-0123456789', ops: 'operator-token-0123456789' };

describe.skipIf(!HAVE_CHROMIUM || !HAVE_OWNERS)(SUITE, () => {
  const ui = useConsoleInBrowser({
    server: () => ({ tokens: parseTokenFile(`runner-a:${TOKENS.a}:tenant-a\nrunner-b:${TOKENS.b}:tenant-b\nops:${TOKENS.ops}\n`) }),
    allowedErrors: /403|404|Failed to load resource/,
  });

  const as = (who: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[who]}` });
  const call = async (who: keyof typeof TOKENS, method: string, route: string, body?: unknown) => {
    const answer = await ui.server.call(method, route, body, as(who));
    expect(answer.status, JSON.stringify(answer.json)).toBeLessThan(300);
    return answer.json;
  };
  /** The page as the holder of `who`'s token sees it (a proxy in front adds the header, as the browser cannot). */
  const open = async (who: keyof typeof TOKENS, hash: string) => {
    await ui.page.setExtraHTTPHeaders(as(who));
    // A new document each time: what a page learnt under one token must not carry over to another.
    await ui.page.goto('about:blank');
    await ui.page.goto(`${ui.server.url}/console${hash}`);
    await ui.page.locator('h1').waitFor();
  };

  it('shows each session’s owner; a runner of another tenant is refused (403 forbidden) and the page says so', async () => {
    const theirs = (await call('a', 'POST', '/sessions', { name: 'tenant-a-build' })).id as string;
    await call('a', 'POST', `/sessions/${theirs}/jobs`, { job_id: 'a-1' });
    const own = (await call('b', 'POST', '/sessions', { name: 'tenant-b-build' })).id as string;
    const before = await ui.server.call('GET', `/sessions/${theirs}`, undefined, as('ops'));

    await open('b', '#/');
    await ui.page.locator(`tr[data-session-id="${theirs}"]`).waitFor();
    expect(await ui.page.locator(`tr[data-session-id="${theirs}"] td[data-label="Owner"]`).textContent()).toBe('tenant-a');
    expect(await ui.page.locator(`tr[data-session-id="${own}"] td[data-label="Owner"]`).textContent()).toBe('tenant-b');

    await open('b', `#/sessions/${theirs}`);
    await ui.page.locator('.timeline .entry').nth(1).waitFor();
    expect(await ui.page.locator('.facts dt:text-is("Owner") + dd').textContent()).toBe('tenant-a');
    await ui.page.getByRole('button', { name: 'Terminate' }).click();
    const dialog = ui.page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Terminate' }).click();
    await dialog
      .getByRole('alert')
      .getByText('You do not own this session: only its owner and operators may change it. Ask an operator.')
      .waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    expect(await ui.page.locator('.denied').textContent()).toMatch(
      /^This console’s token may not change this session: it belongs to tenant-a/,
    );
    for (const name of ['Pause', 'Complete', 'Terminate']) expect(await ui.page.getByRole('button', { name }).isDisabled()).toBe(true);
    expect(await ui.page.locator('.timeline').getByRole('button', { name: 'Restore this version' }).isDisabled()).toBe(true);
    const after = await ui.server.call('GET', `/sessions/${theirs}`, undefined, as('ops'));
    expect(after.etag).toBe(before.etag);

    // Its own session it may change.
    await open('b', `#/sessions/${own}`);
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await ui.page.getByRole('dialog').waitFor({ state: 'detached' });
    expect((await ui.server.call('GET', `/sessions/${own}`, undefined, as('b'))).json.status).toBe('paused');
    expect(await ui.page.locator('.denied').count()).toBe(0);
  });

  it('run by an operator, changes any tenant’s session as before', async () => {
    const theirs = (await call('a', 'POST', '/sessions', { name: 'tenant-a-other' })).id as string;

    await open('ops', `#/sessions/${theirs}`);
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await ui.page.getByRole('dialog').waitFor({ state: 'detached' });

    expect((await ui.server.call('GET', `/sessions/${theirs}`, undefined, as('a'))).json.status).toBe('paused');
    expect(await ui.page.locator('.denied').count()).toBe(0);
    expect(await ui.page.locator('.facts dt:text-is("Owner") + dd').textContent()).toBe('tenant-a');
  });

  it('offers adoption of a session stored before owners: refused to a runner, which is then not offered it, done by an operator', async () => {
    const id = (await call('ops', 'POST', '/sessions', { name: 'stored-before-owners' })).id as string;
    const store = new SqliteObjectStore(ui.server.dataDir);
    const stored = await store.get(`sessions/${id}.json`);
    const { owner: _owner, ...withoutOwner } = JSON.parse(stored!.body);
    await store.putVersion(`sessions/${id}.json`, JSON.stringify(withoutOwner), { ifMatch: stored!.etag });

    await open('b', `#/sessions/${id}`);
    const adopt = ui.page.getByRole('button', { name: 'Adopt…' });
    await adopt.click();
    const dialog = ui.page.getByRole('dialog', { name: 'Adopt this session?' });
    await dialog.getByLabel('Owner').fill('tenant-b');
    await dialog.getByRole('button', { name: 'Adopt' }).click();
    await dialog.getByRole('alert').getByText('Adopting a session is for operators only: ask an operator.').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    expect(await adopt.isDisabled()).toBe(true);
    expect(await ui.page.locator('.denied').textContent()).toBe('Adopting a session is for operators only.');
    expect((await ui.server.call('GET', `/sessions/${id}`, undefined, as('ops'))).json.owner).toBeUndefined();

    await open('ops', `#/sessions/${id}`);
    await ui.page.getByRole('button', { name: 'Adopt…' }).click();
    await ui.page.getByRole('dialog').getByLabel('Owner').fill('tenant-a');
    await ui.page.getByRole('dialog').getByRole('button', { name: 'Adopt' }).click();
    await ui.page.getByRole('dialog').waitFor({ state: 'detached' });
    await ui.page.locator('.facts dt:text-is("Owner") + dd').getByText('tenant-a').waitFor();
    expect(await ui.page.getByRole('button', { name: 'Adopt…' }).count()).toBe(0);
    expect((await ui.server.call('GET', `/sessions/${id}`, undefined, as('ops'))).json.owner).toBe('tenant-a');
  });
});
