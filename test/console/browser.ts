import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { type ConsoleTestServer, startConsoleTestServer } from './console-server.ts';

/** Debian's Chromium; the browser tests skip when it is not installed. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless Chromium with a fresh profile of its own, removed on close. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(path.join(tmpdir(), 'runner-sessions-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    offline: false,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

type ServerOptions = Parameters<typeof startConsoleTestServer>[0];

/** The console served with the local API behind it, and a headless Chromium to look at it. */
export interface ConsoleInBrowser {
  /** Started before the first test, closed after the last. */
  readonly server: ConsoleTestServer;
  /** A new page for each test; the test fails if the page threw or logged an error it was not meant to. */
  readonly page: Page;
  /** Opens the console at `hash` and waits until it shows its heading. */
  open(hash: string): Promise<void>;
}

/**
 * Starts the console server and Chromium once for the surrounding `describe` (with `seed` run in
 * between), and gives each test a page of its own. `allowedErrors` matches the console errors the
 * tests provoke on purpose (a refused request, a missing resource).
 */
export function useConsoleInBrowser({
  server: serverOptions,
  seed,
  allowedErrors,
  setupTimeout = 60_000,
  pageTimeout = 10_000,
}: {
  /** The server's options, or a function giving them when the server starts. */
  server?: ServerOptions | (() => ServerOptions);
  seed?: (server: ConsoleTestServer) => Promise<void>;
  allowedErrors: RegExp;
  setupTimeout?: number;
  pageTimeout?: number;
}): ConsoleInBrowser {
  let server: ConsoleTestServer | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startConsoleTestServer(typeof serverOptions === 'function' ? serverOptions() : serverOptions);
    await seed?.(server);
    browser = await launchChromium();
  }, setupTimeout);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  beforeEach(async () => {
    const opened = await browser!.context.newPage();
    page = opened;
    opened.setDefaultTimeout(pageTimeout);
    opened.on('pageerror', (error) => pageErrors.push(error.message));
    opened.on('console', (message) => {
      if (message.type() === 'error' && !allowedErrors.test(message.text())) pageErrors.push(message.text());
    });
    return async () => {
      await opened.close();
      expect(pageErrors).toEqual([]);
    };
  });

  return {
    get server() {
      return server!;
    },
    get page() {
      return page!;
    },
    async open(hash) {
      await page!.goto(`${server!.url}/console${hash}`);
      await page!.locator('h1').waitFor();
    },
  };
}
