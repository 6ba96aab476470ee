/**
 * Retention of ended sessions (DESIGN.md "Retention (v1.2)"), the part that
 * runs as code: a session ended (`completed`, `terminated`) for
 * `RETENTION_DAYS` is deleted with its versions and everything that points at
 * it. Every step is bounded (a page of keys, a batch of sessions) and yields
 * between batches, so that requests are served meanwhile.
 *
 * - {@link RetentionSweeper} (the local server): finds sessions due through
 *   the status index entries of the ended statuses, purges each with all its
 *   versions (`purge` of the versioned store, `If-Match` the version judged
 *   due, so that a restore that lands first keeps the session), then its name
 *   index entry, renewal records, announcer cursor and status index entries;
 *   and purges idempotency records a day past their window.
 * - `RetentionCleanup` (./retention-cleanup.ts, deployed, beside the lease sweeper): S3
 *   lifecycle deletes ended sessions by their tag; this removes what lifecycle
 *   cannot reach — name index entries and announcer cursors of sessions that
 *   are gone, status index entries made by the backfill whose session is
 *   gone — and tags the ending version of sessions that ended before
 *   retention was deployed.
 *
 * When a session ended: the later of its ended status index entry's write
 * time and its `updated_at`. The entry is made when the session enters the
 * status (a restore out of it deletes the entry, the next ending makes a new
 * one: the clock starts again), so a sweep reads only sessions whose entry is
 * old enough; `updated_at` is the last write, which is what the deployed
 * lifecycle counts from (every ended write carries the tag), so a session
 * written to after it ended is kept as long locally as deployed.
 *
 * @module
 */

import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { systemClock, type TimeSource } from '../common/clock.ts';
import { sessionKey } from '../domain/ids.ts';
import { renewalPrefix } from '../domain/lease.ts';
import { ENDED_STATUSES } from '../domain/retention.ts';
import { SESSION_STATUSES, type Session } from '../domain/session.ts';
import { SESSION_CODEC } from '../sessions/context.ts';
import { IDEMPOTENCY_PREFIX } from '../sessions/idempotency.ts';
import { nameIndexKey } from '../sessions/name-index.ts';
import { ownerIndexKey } from '../sessions/owner-index.ts';
import { idFromStatusIndexKey, statusIndexKey, statusIndexPrefix } from '../sessions/status-index.ts';
import {
  ConditionNotMet,
  canPurge,
  type ListedObject,
  MAX_LIST_KEYS,
  type PrunableObjectStore,
  type PurgingObjectStore,
} from '../storage/port.ts';
import { announcedKey } from './announcer.ts';

/** A day in milliseconds: retention counts in days. */
export const DAY_MS = 86_400_000;

/** What one retention run did. */
export interface RetentionReport {
  /** Sessions deleted with their versions (local). */
  purged: string[];
  /** Index entries, records and cursors deleted. */
  traces: number;
  /** Idempotency records deleted (local). */
  idempotencyRecords: number;
  /** Ending versions given the ended tag (deployed). */
  tagged: number;
  /** Status index entries examined. */
  examined: number;
  /** Store requests made. */
  requests: number;
}

/** A report of a run that has done nothing yet. */
export function emptyReport(): RetentionReport {
  return { purged: [], traces: 0, idempotencyRecords: 0, tagged: 0, examined: 0, requests: 0 };
}

export interface RetentionSweeperOptions {
  /** The sessions, their name index entries and idempotency records: a store that purges (the local SQLite store). */
  sessions: PurgingObjectStore;
  /** The status index entries and renewal records (the local store without versions). */
  state: PrunableObjectStore;
  /** The announcer's cursors. Default `state`. */
  cursors?: PrunableObjectStore | undefined;
  retentionDays: number;
  /** How long an idempotency record answers repeats: it is purged a day after that. */
  idempotencyWindowSeconds: number;
  clock?: TimeSource;
  /** Sessions purged at once before the sweep yields to requests (a status listing page holds 10 times as many). Default 25. */
  batch?: number;
}

/**
 * The local server's retention (see the module documentation): `sweep` walks
 * every ended status index entry and every idempotency record once, in bounded
 * batches with a turn of the event loop between them.
 */
export class RetentionSweeper {
  readonly #sessions: PurgingObjectStore;
  readonly #state: PrunableObjectStore;
  readonly #cursors: PrunableObjectStore;
  readonly #retentionMs: number;
  readonly #idempotencyMs: number;
  readonly #clock: TimeSource;
  readonly #batch: number;

  constructor({
    sessions,
    state,
    cursors = state,
    retentionDays,
    idempotencyWindowSeconds,
    clock = systemClock,
    batch = 25,
  }: RetentionSweeperOptions) {
    if (!canPurge(sessions)) throw new TypeError('retention needs a sessions store that can purge a key with its versions');
    if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`batch must be a whole number from 1, got ${batch}`);
    this.#sessions = sessions;
    this.#state = state;
    this.#cursors = cursors;
    this.#retentionMs = retentionDays * DAY_MS;
    this.#idempotencyMs = idempotencyWindowSeconds * 1000 + DAY_MS;
    this.#clock = clock;
    this.#batch = batch;
  }

  /**
   * One pass: every ended session due is purged with what points at it; so is every idempotency record past its day.
   * `signal` stops it between two batches.
   */
  async sweep(signal?: AbortSignal): Promise<RetentionReport> {
    const report = emptyReport();
    for (const status of ENDED_STATUSES) {
      for await (const batch of batches(this.#state, statusIndexPrefix(status), this.#batch * 10, report)) {
        const due = batch.filter((entry) => entry.lastModified.getTime() + this.#retentionMs <= this.#clock.now());
        report.examined += batch.length;
        for (let start = 0; start < due.length; start += this.#batch) {
          if (signal?.aborted) return report;
          // A batch at once: the local store commits the writes of one turn of the event loop together.
          await Promise.all(due.slice(start, start + this.#batch).map((entry) => this.#examine(entry, status, report)));
          await yieldToRequests();
        }
        await yieldToRequests();
      }
    }
    const records = this.#sessions as PurgingObjectStore & PrunableObjectStore;
    for await (const batch of batches(records, IDEMPOTENCY_PREFIX, this.#batch, report)) {
      if (signal?.aborted) return report;
      const old = batch.filter((record) => record.lastModified.getTime() + this.#idempotencyMs <= this.#clock.now());
      report.requests += old.length;
      const purged = await Promise.all(old.map((record) => purgeIfCurrent(this.#sessions, record.key, record.etag)));
      report.idempotencyRecords += purged.filter(Boolean).length;
      await yieldToRequests();
    }
    return report;
  }

  /** One ended status index entry old enough: its session is purged when it is still in that status and due. */
  async #examine(entry: ListedObject, status: Session['status'], report: RetentionReport): Promise<void> {
    const id = idFromStatusIndexKey(entry.key);
    if (id === undefined) return;
    const key = sessionKey(id);
    const stored = await this.#sessions.get(key);
    report.requests++;
    if (stored === undefined) {
      // Left by a sweep that stopped between the purge and the entries.
      await this.#removeTraces(id, undefined, report);
      return;
    }
    const session = SESSION_CODEC.parse(stored.body, key);
    // Moved on (the change that moved it settles the entry), or written to since it ended.
    if (session.status !== status || session.updated_at * 1000 + this.#retentionMs > this.#clock.now()) return;
    report.requests++;
    if (!(await purgeIfCurrent(this.#sessions, key, stored.etag))) return;
    report.purged.push(id);
    await this.#removeTraces(id, session.name ?? undefined, report, typeof session.owner === 'string' ? session.owner : undefined);
  }

  /** Everything that names session `id` once it is gone; its status index entries last, as they lead the next sweep here. */
  async #removeTraces(id: string, name: string | undefined, report: RetentionReport, owner?: string): Promise<void> {
    const renewals = await this.#state.listObjects(renewalPrefix(id), { limit: MAX_LIST_KEYS });
    await Promise.all([
      ...(name === undefined ? [] : [this.#sessions.purge(nameIndexKey(name, id))]),
      ...(owner === undefined ? [] : [this.#state.delete(ownerIndexKey(owner, id))]),
      ...renewals.objects.map(({ key }) => this.#state.delete(key)),
      this.#cursors.delete(announcedKey(id)),
    ]);
    await Promise.all(SESSION_STATUSES.map((status) => this.#state.delete(statusIndexKey(status, id))));
    const removed = (name === undefined ? 0 : 1) + (owner === undefined ? 0 : 1) + renewals.objects.length + 1 + SESSION_STATUSES.length;
    report.traces += removed;
    report.requests += removed + 1;
  }
}

/**
 * Runs `sweeper` now and then every `intervalMs` (never two passes at once) until stopped; `stop` ends the pass under
 * way at its next batch and resolves once it has.
 */
export function startRetentionSweeps(
  sweeper: RetentionSweeper,
  { intervalMs = 60_000, log = (line: string) => console.log(line) }: { intervalMs?: number; log?: (line: string) => void } = {},
): { stop(): Promise<void> } {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const pass = () => {
    if (running !== undefined || abort.signal.aborted) return;
    running = sweeper
      .sweep(abort.signal)
      .then((report) => {
        if (report.purged.length > 0 || report.idempotencyRecords > 0) {
          log(
            JSON.stringify({
              level: 'INFO',
              message: 'retention',
              purged: report.purged.length,
              idempotency_records: report.idempotencyRecords,
              traces: report.traces,
            }),
          );
        }
      })
      .catch((error: unknown) => log(JSON.stringify({ level: 'ERROR', message: 'retention sweep failed', error: String(error) })))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  pass();
  return {
    stop: async () => {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}

/** Purges `key` when `etag` is still its current version; false when another write came first. */
async function purgeIfCurrent(store: PurgingObjectStore, key: string, etag: string): Promise<boolean> {
  try {
    await store.purge(key, etag);
    return true;
  } catch (error) {
    if (error instanceof ConditionNotMet) return false;
    throw error;
  }
}

/** The objects under `prefix`, a listing page of at most `size` at a time. */
async function* batches(store: PrunableObjectStore, prefix: string, size: number, report: RetentionReport): AsyncGenerator<ListedObject[]> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.listObjects(prefix, {
      limit: Math.min(size, MAX_LIST_KEYS),
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    report.requests++;
    if (page.objects.length > 0) yield page.objects;
    if (!page.truncated || page.objects.length === 0) return;
    startAfter = page.objects.at(-1)!.key;
  }
}
