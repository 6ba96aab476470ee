/**
 * Events on the local server: the announcer of `lib/workers/announcer.ts` run in
 * process after each session write (`local-announcer.ts`), publishing to
 * `DATA_DIR/events.jsonl` (one event a line, as EventBridge delivers it:
 * `events-file.ts`) and, when a webhook URL is given, from there to the
 * webhook (`webhook.ts`). This module wires them together.
 *
 * The store the server writes through is wrapped so that each session write
 * hints its session to the announcer (`hinting-store.ts`); nothing in the
 * repository knows. What a hint would have announced but a crash cut short is
 * found at the next start: every session whose newest version is not its
 * announced cursor is announced again, so a SIGKILL between a write and its
 * line loses nothing.
 *
 * @module
 */

import path from 'node:path';
import { type Clock, systemClock } from '../common/clock.ts';
import type { SessionEvent } from '../domain/events.ts';
import { keepsVersions, type ObjectStore, type PrunableObjectStore } from '../storage/port.ts';
import { UnversionedSqliteObjectStore } from '../storage/sqlite/index.ts';
import { Announcer, eventsUnavailable, type Publisher } from '../workers/announcer.ts';
import { FilePublisher } from './events-file.ts';
import { hintingStore } from './hinting-store.ts';
import { type CatchUpReport, LocalAnnouncer } from './local-announcer.ts';
import { DEAD_LETTER_FILE, WebhookDelivery } from './webhook.ts';

/** The file of announced events in the data directory. */
export const EVENTS_FILE = 'events.jsonl';

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
