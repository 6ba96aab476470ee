/**
 * Events on the local server: the announcer of `lib/workers/announcer.ts` run in
 * process after each session write, publishing to `DATA_DIR/events.jsonl`
 * (one event a line, as EventBridge delivers it) and, when a webhook URL is
 * given, from there to the webhook (`webhook.ts`).
 *
 * The store the server writes through is wrapped so that each session write
 * hints its session to the announcer; nothing in the repository knows. What
 * a hint would have announced but a crash cut short is found at the next
 * start: every session whose newest version is not its announced cursor is
 * announced again, so a SIGKILL between a write and its line loses nothing.
 *
 * @module
 */

import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { fullJitterDelay } from '../common/backoff.ts';
import { type Clock, systemClock } from '../common/clock.ts';
import { deliveredEvent, type SessionEvent } from '../domain/events.ts';
import { idFromKey, SESSIONS_PREFIX } from '../domain/ids.ts';
import {
  ConditionNotMet,
  isPrunable,
  type KeyListOptions,
  keepsVersions,
  type ListPage,
  MAX_LIST_KEYS,
  type ObjectPage,
  type ObjectStore,
  type PrunableObjectStore,
  type StoredObject,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '../storage/port.ts';
import { UnversionedSqliteObjectStore } from '../storage/sqlite/index.ts';
import {
  Announcer,
  announcedKey,
  eventsUnavailable,
  type Publisher,
  parseAnnouncedCursor,
  UNVERSIONED_EVENTS,
} from '../workers/announcer.ts';
import { DEAD_LETTER_FILE, WebhookDelivery } from './webhook.ts';

/** The file of announced events in the data directory. */
export const EVENTS_FILE = 'events.jsonl';

/** The account and region written into local events (EventBridge's envelope has both). */
export const LOCAL_ENVELOPE = { account: '000000000000', region: 'local' } as const;

export interface FilePublisherOptions {
  /** Envelope fields. Default {@link LOCAL_ENVELOPE}. */
  envelope?: { account: string; region: string };
  /** Called after each batch is durable on disk. */
  onAppended?: (events: SessionEvent[]) => void;
  /** Opens the file for appending. Default `fs.open(file, 'a+')`; tests give one whose writes fail part-way. */
  openFile?: (file: string) => Promise<FileHandle>;
}

/**
 * Appends each event as one JSON line to a file, and fsyncs before the
 * publish resolves (so the announcer moves its cursor only past durable
 * lines). Publishes are appended one after another, never interleaved. An
 * append that fails part-way (a full disk) is cut back off, then or before
 * the next append, so no torn line ever stays between whole ones.
 */
export class FilePublisher implements Publisher {
  readonly file: string;
  readonly #handle: FileHandle;
  readonly #envelope: { account: string; region: string };
  readonly #onAppended: (events: SessionEvent[]) => void;
  #tail: Promise<void> = Promise.resolve();
  /** The length of the whole lines appended so far: what a failed append is cut back to. */
  #size: number;

  private constructor(file: string, handle: FileHandle, size: number, options: FilePublisherOptions) {
    this.file = file;
    this.#handle = handle;
    this.#size = size;
    this.#envelope = options.envelope ?? LOCAL_ENVELOPE;
    this.#onAppended = options.onAppended ?? (() => {});
  }

  /** Opens (creates) `file` for appending, first cutting off a last line a crash left half-written (its events were never announced as done). */
  static async open(file: string, options: FilePublisherOptions = {}): Promise<FilePublisher> {
    const handle = await (options.openFile ?? ((path) => open(path, 'a+')))(file);
    try {
      await dropTornTail(handle);
      return new FilePublisher(file, handle, (await handle.stat()).size, options);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  publish(events: SessionEvent[]): Promise<void> {
    const append = this.#tail.then(async () => {
      if (events.length === 0) return;
      const lines = events.map((event) => `${JSON.stringify(deliveredEvent(event, this.#envelope))}\n`).join('');
      // What an earlier failed append left behind (its cut back failed too) goes first.
      if ((await this.#handle.stat()).size > this.#size) await this.#handle.truncate(this.#size);
      try {
        await this.#handle.appendFile(lines, 'utf-8');
        await this.#handle.datasync();
      } catch (error) {
        await this.#handle.truncate(this.#size).catch(() => {});
        throw error;
      }
      this.#size += Buffer.byteLength(lines, 'utf-8');
      this.#onAppended(events);
    });
    this.#tail = append.catch(() => {});
    return append;
  }

  /** Waits for the appends under way, then closes the file. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#handle.close();
  }
}

/** Truncates the file after its last newline: a line without one was cut short by a crash. */
async function dropTornTail(handle: FileHandle): Promise<void> {
  const { size } = await handle.stat();
  let end = size;
  const chunk = Buffer.alloc(64 * 1024);
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline >= 0) {
      if (start + newline + 1 < size) await handle.truncate(start + newline + 1);
      return;
    }
    end = start;
  }
  if (size > 0) await handle.truncate(0);
}

/**
 * `inner`, reporting the session ID of every session write that may have
 * landed (it succeeded, or failed in a way that leaves it unknown) to
 * `onSessionWrite`. It keeps the capabilities of `inner` (versions, pruning).
 */
export function hintingStore(inner: VersionedObjectStore, onSessionWrite: (sessionId: string) => void): VersionedObjectStore {
  return isPrunable(inner) ? new PrunableHintingStore(inner, onSessionWrite) : new HintingStore(inner, onSessionWrite);
}

class HintingStore implements VersionedObjectStore {
  protected readonly inner: VersionedObjectStore;
  readonly #onSessionWrite: (sessionId: string) => void;

  constructor(inner: VersionedObjectStore, onSessionWrite: (sessionId: string) => void) {
    this.inner = inner;
    this.#onSessionWrite = onSessionWrite;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.inner.get(key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  async putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    const id = idFromKey(key);
    try {
      const written = await this.inner.putVersion(key, body, condition);
      if (id !== undefined) this.#onSessionWrite(id);
      return written;
    } catch (error) {
      // A refused write stored nothing; any other failure may have stored the version.
      if (id !== undefined && !(error instanceof ConditionNotMet)) this.#onSessionWrite(id);
      throw error;
    }
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return this.inner.list(prefix, options);
  }

  listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    return this.inner.listVersions(key, options);
  }

  getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    return this.inner.getVersion(key, versionId);
  }
}

class PrunableHintingStore extends HintingStore implements PrunableObjectStore {
  readonly #prunable: PrunableObjectStore;

  constructor(inner: VersionedObjectStore & PrunableObjectStore, onSessionWrite: (sessionId: string) => void) {
    super(inner, onSessionWrite);
    this.#prunable = inner;
  }

  listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    return this.#prunable.listObjects(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.#prunable.delete(key);
  }
}

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

export interface LocalEventsOptions {
  /** The data directory: `events.jsonl`, `webhook.cursor` and the cursor records (`announced/`) live there. */
  dataDir: string;
  /** The sessions store the server writes to (it must keep versions). */
  store: ObjectStore;
  /** POST every event there, in order. */
  webhookUrl?: string | undefined;
  /** Where the announced cursors live. Default: a store in `dataDir/announced`. */
  cursors?: PrunableObjectStore;
  /** Awaited before each publish. */
  beforePublish?: (events: SessionEvent[]) => Promise<void>;
  /** Called once events are durable in `events.jsonl`. */
  onPublished?: (events: SessionEvent[]) => void;
  /** Where failures are reported. Default: a JSON log line on stderr. */
  onError?: (message: string, error: unknown, context?: Record<string, unknown>) => void;
  clock?: Clock;
}

/** The running local events. */
export interface LocalEvents {
  /** The store to serve from: `store`, hinting the announcer after each session write. */
  hintStore: ObjectStore;
  /** Resolves with the start-up catch-up's report. */
  caughtUp: Promise<CatchUpReport>;
  /** Undefined when events are off (a store without versions). */
  announcer: LocalAnnouncer | undefined;
  /** The webhook delivery, when a URL was given. */
  webhook: WebhookDelivery | undefined;
  /** `DATA_DIR/events.jsonl`. */
  eventsFile: string;
  /** Finishes the announcements under way, stops the webhook delivery and closes the files. */
  stop(): Promise<void>;
}

/**
 * Starts the local events over `store`: serve from the returned `hintStore`.
 * A store that keeps no versions, or an S3 bucket without versioning, announces nothing (events are derived from
 * versions; see `eventsUnavailable`): a warning at start says why and what to use, and `hintStore` is then `store`.
 */
export async function startLocalEvents(options: LocalEventsOptions): Promise<LocalEvents> {
  const { dataDir, store, clock = systemClock } = options;
  const onError = options.onError ?? logError;
  const eventsFile = path.join(dataDir, EVENTS_FILE);
  const unavailable = await eventsUnavailable(store);
  if (unavailable !== undefined || !keepsVersions(store)) {
    onError(`events are off: ${unavailable}`, undefined);
    return {
      hintStore: store,
      caughtUp: Promise.resolve({ sessions: 0, behind: 0, ms: 0 }),
      announcer: undefined,
      webhook: undefined,
      eventsFile,
      stop: async () => {},
    };
  }
  const webhook = options.webhookUrl
    ? new WebhookDelivery({
        file: eventsFile,
        cursorFile: path.join(dataDir, 'webhook.cursor'),
        deadLetterFile: path.join(dataDir, DEAD_LETTER_FILE),
        url: options.webhookUrl,
        clock,
        onError,
      })
    : undefined;
  const file = await FilePublisher.open(eventsFile, {
    onAppended: (events) => {
      options.onPublished?.(events);
      webhook?.notify();
    },
  });
  const cursors = options.cursors ?? new UnversionedSqliteObjectStore(path.join(dataDir, 'announced'));
  const publisher: Publisher = {
    publish: async (events) => {
      await options.beforePublish?.(events);
      await file.publish(events);
    },
  };
  const announcer = new LocalAnnouncer({
    announcer: new Announcer({ sessions: store, cursors, publisher }),
    sessions: store,
    cursors,
    clock,
    onError: (sessionId, error) => onError('announcing failed; retrying', error, { session_id: sessionId }),
  });
  const hintStore = hintingStore(store, (id) => void announcer.hint(id));
  const caughtUp = announcer.catchUp();
  caughtUp.catch((error: unknown) => onError('catching up on events failed', error));
  webhook?.start();
  return {
    hintStore,
    caughtUp,
    announcer,
    webhook,
    eventsFile,
    async stop() {
      await caughtUp.catch(() => {});
      await announcer.stop();
      await webhook?.stop();
      await file.close();
      if (options.cursors === undefined && cursors instanceof UnversionedSqliteObjectStore) await cursors.close();
    },
  };
}

function logError(message: string, error: unknown, context: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ level: 'ERROR', message, ...context, ...(error === undefined ? {} : { error: String(error) }) }));
}
