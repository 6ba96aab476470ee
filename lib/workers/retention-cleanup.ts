/**
 * Deployed retention's cleanup steps, run beside the lease sweeper (DESIGN.md
 * "Retention (v1.2)"; the local sweeper and the shared report are in
 * ./retention.ts): S3 lifecycle deletes ended sessions by their tag; this
 * removes what lifecycle cannot reach — name index entries, owner index
 * entries and announcer cursors of sessions that are gone, status index
 * entries made by the backfill whose session is gone — and tags the ending
 * version of sessions that ended before retention was deployed.
 *
 * @module
 */

import { systemClock, type TimeSource } from '../common/clock.ts';
import { idFromKey, SESSIONS_PREFIX, sessionKey } from '../domain/ids.ts';
import { ENDED_STATUSES, ENDED_TAGGING, isEnded } from '../domain/retention.ts';
import { SESSION_CODEC } from '../sessions/context.ts';
import { idFromNameIndexKey, NAMES_PREFIX } from '../sessions/name-index.ts';
import { idFromOwnerIndexKey, OWNERS_PREFIX } from '../sessions/owner-index.ts';
import { idFromStatusIndexKey, statusIndexPrefix } from '../sessions/status-index.ts';
import { isPrunable, type ObjectStore, type PrunableObjectStore, tagsVersions } from '../storage/port.ts';
import { ANNOUNCED_PREFIX } from './announcer.ts';
import { DAY_MS, emptyReport, type RetentionReport } from './retention.ts';

export interface RetentionCleanupOptions {
  /** The sessions bucket's store (versioned, tags versions): sessions and the name index. */
  sessions: ObjectStore;
  /** The leases bucket's store: status index entries and announcer cursors. */
  state: PrunableObjectStore;
  retentionDays: number;
  clock?: TimeSource;
  /** Keys listed per prefix per run. Default 200. */
  pageSize?: number;
}

/** The prefixes the deployed cleanup walks, one page per run each, where it left off. */
type Walk = 'names' | 'owners' | 'announced' | 'completed' | 'terminated';

/**
 * Deployed retention's sweeper steps (see the module documentation): each run
 * walks one page of each prefix from where the previous run of this instance
 * left off, so a run costs at most four listings and `pageSize` reads per prefix.
 *
 * Only entries at least `RETENTION_DAYS` old can name a session retention deleted (the entry was written before the
 * session ended, or at its ending: a name index entry at the create, a cursor at the last announcement, a status
 * entry at the ending or by the backfill), so younger ones cost no read — and a name index entry, written before its
 * session, is never taken for an orphan while the create is on its way. The ending versions of the sessions that ended
 * before retention was deployed are tagged on the first walk of the ended statuses an instance makes, whatever their age.
 */
export class RetentionCleanup {
  readonly #sessions: ObjectStore;
  readonly #state: PrunableObjectStore;
  readonly #retentionMs: number;
  readonly #clock: TimeSource;
  readonly #pageSize: number;
  readonly #after = new Map<Walk, string>();
  /** The ended statuses whose first walk is done: their sessions' endings are tagged. */
  readonly #tagged = new Set<Walk>();

  constructor({ sessions, state, retentionDays, clock = systemClock, pageSize = 200 }: RetentionCleanupOptions) {
    if (!isPrunable(sessions)) throw new TypeError('retention cleanup needs a sessions store that lists write times and deletes');
    this.#sessions = sessions;
    this.#state = state;
    this.#retentionMs = Math.max(1, retentionDays) * DAY_MS;
    this.#clock = clock;
    this.#pageSize = pageSize;
  }

  /** One bounded step of each walk. */
  async run(): Promise<RetentionReport> {
    const report = emptyReport();
    await this.#walk('names', this.#sessions as PrunableObjectStore, NAMES_PREFIX, idFromNameIndexKey, report);
    await this.#walk('owners', this.#state, OWNERS_PREFIX, idFromOwnerIndexKey, report);
    await this.#walk('announced', this.#state, ANNOUNCED_PREFIX, idFromAnnouncedKey, report);
    for (const status of ENDED_STATUSES) await this.#walk(status, this.#state, statusIndexPrefix(status), idFromStatusIndexKey, report);
    return report;
  }

  /** A page of `prefix`: an old entry of a session that is gone is deleted; on a first walk, ended sessions' endings are tagged. */
  async #walk(walk: Walk, store: PrunableObjectStore, prefix: string, idOf: (key: string) => string | undefined, report: RetentionReport) {
    const after = this.#after.get(walk);
    const page = await store.listObjects(prefix, { limit: this.#pageSize, ...(after === undefined ? {} : { startAfter: after }) });
    report.requests++;
    const tagging = (walk === 'completed' || walk === 'terminated') && !this.#tagged.has(walk);
    if (page.truncated && page.objects.length > 0) this.#after.set(walk, page.objects.at(-1)!.key);
    else {
      this.#after.delete(walk);
      this.#tagged.add(walk);
    }
    for (const entry of page.objects) {
      report.examined++;
      const id = idOf(entry.key);
      const old = entry.lastModified.getTime() + this.#retentionMs <= this.#clock.now();
      if (id === undefined || !(old || tagging)) continue;
      const stored = await this.#sessions.get(sessionKey(id));
      report.requests++;
      if (stored === undefined) {
        if (!old) continue;
        await store.delete(entry.key);
        report.requests++;
        report.traces++;
      } else if (tagging) {
        await this.#tagEnding(sessionKey(id), stored, report);
      }
    }
  }

  /**
   * The ended tag on the version read (by its ID: a version written since is never tagged), for sessions that ended
   * before retention was deployed; if a change replaced it meanwhile and left the session not ended, the tag is removed
   * again, as a restore would have.
   */
  async #tagEnding(key: string, stored: { body: string; etag: string; versionId?: string | undefined }, report: RetentionReport) {
    if (!tagsVersions(this.#sessions) || stored.versionId === undefined) return;
    if (!isEnded(SESSION_CODEC.parse(stored.body, key).status)) return;
    await this.#sessions.tagVersion(key, stored.versionId, ENDED_TAGGING);
    report.requests++;
    report.tagged++;
    const now = await this.#sessions.get(key);
    report.requests++;
    if (now !== undefined && now.versionId !== stored.versionId && !isEnded(SESSION_CODEC.parse(now.body, key).status)) {
      await this.#sessions.untagVersion(key, stored.versionId);
      report.requests++;
    }
  }
}

/** The session ID an announcer cursor belongs to. */
function idFromAnnouncedKey(key: string): string | undefined {
  return key.startsWith(ANNOUNCED_PREFIX) && key.endsWith('.json')
    ? idFromKey(`${SESSIONS_PREFIX}${key.slice(ANNOUNCED_PREFIX.length)}`)
    : undefined;
}
