/**
 * The announcer of `lib/workers/announcer.ts` run in process: one run at a
 * time per hinted session, failures retried with backoff, and a catch-up at
 * start for what a crash cut short.
 *
 * @module
 */

import { fullJitterDelay } from '../common/backoff.ts';
import { type Clock, systemClock } from '../common/clock.ts';
import { idFromKey, SESSIONS_PREFIX } from '../domain/ids.ts';
import { MAX_LIST_KEYS, type ObjectStore, type VersionedObjectStore } from '../storage/port.ts';
import { type Announcer, announcedKey, parseAnnouncedCursor, UNVERSIONED_EVENTS } from '../workers/announcer.ts';

/** What a catch-up found. */
export interface CatchUpReport {
  /** Sessions looked at. */
  sessions: number;
  /** Sessions whose newest version was not yet announced. */
  behind: number;
  /** How long the scan and the announcements took. */
  ms: number;
}

export interface LocalAnnouncerOptions {
  announcer: Announcer;
  sessions: VersionedObjectStore;
  cursors: ObjectStore;
  clock?: Clock;
  /** A failed announcement (it is retried with backoff). */
  onError?: (sessionId: string, error: unknown) => void;
  /** Sessions announced at once during a catch-up. Default 8. */
  concurrency?: number;
}

/** First and largest wait before an announcement that failed is tried again. */
const RETRY = { baseMs: 500, maxMs: 30_000 } as const;

/**
 * Runs the announcer for hinted sessions, one run at a time per session (a
 * hint during a run queues one more run), retrying failures with backoff.
 */
export class LocalAnnouncer {
  readonly #announcer: Announcer;
  readonly #sessions: VersionedObjectStore;
  readonly #cursors: ObjectStore;
  readonly #clock: Clock;
  readonly #onError: (sessionId: string, error: unknown) => void;
  readonly #concurrency: number;
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #retries = new Set<NodeJS.Timeout>();
  #stopped = false;
  #warnedUnversioned = false;

  constructor({ announcer, sessions, cursors, clock = systemClock, onError = () => {}, concurrency = 8 }: LocalAnnouncerOptions) {
    this.#announcer = announcer;
    this.#sessions = sessions;
    this.#cursors = cursors;
    this.#clock = clock;
    this.#onError = onError;
    this.#concurrency = concurrency;
  }

  /** Announces what is new in the session, now or right after the run under way; resolves when that run ends. */
  hint(sessionId: string): Promise<void> {
    const running = this.#running.get(sessionId);
    if (running !== undefined) {
      this.#again.add(sessionId);
      return running;
    }
    const run = this.#run(sessionId);
    this.#running.set(sessionId, run);
    return run;
  }

  async #run(sessionId: string): Promise<void> {
    for (;;) {
      this.#again.delete(sessionId);
      try {
        const reports = await this.#announcer.announceAll(sessionId);
        if (reports.some((report) => report.unversioned) && !this.#warnedUnversioned) {
          this.#warnedUnversioned = true;
          this.#onError(sessionId, new Error(`events are off: ${UNVERSIONED_EVENTS}`));
        }
        this.#failures.delete(sessionId);
      } catch (error) {
        this.#onError(sessionId, error);
        this.#retryLater(sessionId);
      }
      // Checked and cleared in the same turn as a hint would check it, so no hint falls between.
      if (!this.#again.has(sessionId) || this.#stopped) {
        this.#running.delete(sessionId);
        return;
      }
    }
  }

  #retryLater(sessionId: string): void {
    if (this.#stopped) return;
    const attempt = (this.#failures.get(sessionId) ?? 0) + 1;
    this.#failures.set(sessionId, attempt);
    const timer = setTimeout(
      () => {
        this.#retries.delete(timer);
        void this.hint(sessionId);
      },
      RETRY.baseMs + fullJitterDelay(attempt, RETRY.baseMs, RETRY.maxMs, this.#clock.random),
    );
    timer.unref();
    this.#retries.add(timer);
  }

  /** Announces every session whose newest stored version is not the one its cursor names. */
  async catchUp(): Promise<CatchUpReport> {
    const started = this.#clock.now();
    const report: CatchUpReport = { sessions: 0, behind: 0, ms: 0 };
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#sessions.list(SESSIONS_PREFIX, {
        limit: MAX_LIST_KEYS,
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      const ids = page.keys.map(idFromKey).filter((id): id is string => id !== undefined);
      report.sessions += ids.length;
      await eachAtMost(this.#concurrency, ids, async (id) => {
        if (!(await this.#behind(id))) return;
        report.behind++;
        await this.hint(id);
      });
      if (!page.truncated || page.keys.length === 0) break;
      startAfter = page.keys.at(-1);
    }
    report.ms = this.#clock.now() - started;
    return report;
  }

  async #behind(id: string): Promise<boolean> {
    const key = `${SESSIONS_PREFIX}${id}.json`;
    const [newest, cursor] = await Promise.all([this.#sessions.listVersions(key, { limit: 1 }), this.#cursors.get(announcedKey(id))]);
    const newestId = newest.versions[0]?.versionId;
    if (newestId === undefined) return false;
    return cursor === undefined || parseAnnouncedCursor(cursor.body, announcedKey(id)) !== newestId;
  }

  /** Resolves once no announcement is running or queued (retries waiting on a timer excepted). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  /** Stops retrying, and waits for the runs under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
    await this.idle();
  }
}

/** Runs `task` over `items`, at most `limit` at once. */
async function eachAtMost<T>(limit: number, items: T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
