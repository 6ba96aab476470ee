/**
 * `node test/console/screenshots.ts`: screenshots of the console's two pages
 * at 1280 px and 390 px, in the light and dark schemes, into `docs/console-*.png`.
 */
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

import path from 'node:path';
import { SqliteObjectStore } from '#lib/storage/sqlite/index.ts';
import { launchChromium } from './browser.ts';
import { startConsoleTestServer } from './console-server.ts';

const DOCS = path.resolve(import.meta.dirname, '../../docs');
const server = await startConsoleTestServer();
const browser = await launchChromium();
try {
  /** A session of `jobs` jobs; with `outcomes`, each is recorded as it ended (the last one still running, two failed). */
  const create = async (name: string, jobs: number, status?: string, outcomes = false) => {
    const { json } = await server.call('POST', '/sessions', { name });
    for (let index = 0; index < jobs; index++) {
      const outcome = !outcomes
        ? {}
        : index === jobs - 1
          ? { state: 'running' }
          : index % 97 === 16
            ? { state: 'failed', exit_code: 2 }
            : { state: 'succeeded', exit_code: 0 };
      await server.call('POST', `/sessions/${json.id}/jobs`, { job_id: `${name}-job-${index + 1}`, ...outcome });
    }
    if (status) await server.call('PATCH', `/sessions/${json.id}`, { status });
    return json.id as string;
  };
  await create('nightly-backup', 12, 'completed');
  await create('ssh-import', 3, 'terminated');
  await create('deploy-eu-west', 5, 'paused');
  const held = await create('build-7', 240, undefined, true);
  await create('ci-main-4821', 0);
  const store = new SqliteObjectStore(server.dataDir);
  const key = `sessions/${held}.json`;
  const stored = await store.get(key);
  const lease = { holder: 'build-7:4711', epoch: 3, seconds: 300, expires_at: Math.floor(Date.now() / 1000) + 250 };
  await store.putVersion(key, JSON.stringify({ ...JSON.parse(stored!.body), lease }), { ifMatch: stored!.etag });
  for (const scheme of ['light', 'dark'] as const) {
    for (const width of [1280, 390]) {
      const page = await browser.context.newPage();
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: width > 600 ? 800 : 844 });
      await page.goto(`${server.url}/console#/`);
      await page.locator('table.sessions tbody tr').first().waitFor();
      const suffix = `${width}${scheme === 'dark' ? '-dark' : ''}`;
      await page.screenshot({ path: path.join(DOCS, `console-sessions-${suffix}.png`), fullPage: width < 600 });
      await page.goto(`${server.url}/console#/sessions/${held}`);
      await page.locator('.timeline .entry').first().waitFor();
      await page.screenshot({ path: path.join(DOCS, `console-session-${suffix}.png`), fullPage: width < 600 });
      if (scheme === 'light' && width === 1280) {
        await page.getByRole('button', { name: 'Take over' }).click();
        await page.getByRole('dialog').waitFor();
        await page.screenshot({ path: path.join(DOCS, 'console-take-over-1280.png') });
      }
      await page.close();
    }
  }
} finally {
  await browser.close();
  await server.close();
}
