/**
 * The lease sweeper: finds sessions whose lease has been expired for longer
 * than the sweep interval and pauses them (`updated_by: lease-expiry`).
 * Deployed it runs every minute; locally every `LEASE_SWEEP_SECONDS`.
 *
 * It never reads every session. It lists the renewal records — one per held
 * session, a thousand per request — whose write time and lease length (in the
 * key) tell which leases may have lapsed, and reads only those. Expiry is an
 * ordinary compare-and-swap of the session, after the record was fenced
 * `If-Match` the version judged lapsed, so a heartbeat that lands first wins
 * and the sweep skips the session.
 *
 * @module
 */

import { systemClock, type TimeSource } from '../common/clock.ts';
import { openLease } from '../domain/lease.ts';
import type { ListedRenewal } from '../sessions/renewals.ts';
import type { SessionRepository } from '../sessions/repository.ts';
import type { RetentionReport } from './retention.ts';

/** What one sweep did, and what it cost in store requests. */
export interface SweepReport {
  /** Listing requests of renewal records (one per 1,000 held sessions). */
  listRequests: number;
  /** Renewal records listed. */
  records: number;
  /** Records whose write time and length said the lease may have lapsed. */
  candidates: number;
  /** Object reads spent on candidates. */
  reads: number;
  /** Sessions paused because their lease expired. */
  expired: string[];
  /** Stale records deleted (older epochs, ended leases). */
  pruned: number;
  /** Sessions given their status index entry by this run's backfill step (0 once the index is complete). */
  backfilled: number;
  /** What this run's retention step did (lib/workers/retention.ts), when retention is on. */
  retention?: RetentionReport;
}

export interface LeaseSweeperOptions {
  repository: SessionRepository;
  /** How long a lease must have been expired before it is swept: the sweep interval, in seconds. */
  graceSeconds: number;
  clock?: TimeSource;
  /** Candidates examined at once. */
  concurrency?: number;
  /** Sessions one run's status index backfill step walks at most, until the index is complete (0: none). Default 2,000. */
  backfillLimit?: number;
  /** Retention's bounded step, run after the leases (deployed: `RetentionCleanup`). */
  retention?: { run(): Promise<RetentionReport> } | undefined;
}

/** Sweeps expired leases; see the module documentation. */
export class LeaseSweeper {
  readonly #repository: SessionRepository;
  readonly #graceSeconds: number;
  readonly #clock: TimeSource;
  readonly #concurrency: number;
  readonly #backfillLimit: number;
  readonly #retention: LeaseSweeperOptions['retention'];

  constructor({ repository, graceSeconds, clock = systemClock, concurrency = 8, backfillLimit = 2_000, retention }: LeaseSweeperOptions) {
    if (!(Number.isInteger(graceSeconds) && graceSeconds >= 0))
      throw new RangeError(`graceSeconds must be a whole number of seconds, got ${graceSeconds}`);
    this.#repository = repository;
    this.#graceSeconds = graceSeconds;
    this.#clock = clock;
    this.#concurrency = concurrency;
    this.#backfillLimit = backfillLimit;
    this.#retention = retention;
  }

  /** One sweep over every held session. */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { listRequests: 0, records: 0, candidates: 0, reads: 0, expired: [], pruned: 0, backfilled: 0 };
    const renewals = this.#repository.renewals;
    const nowMs = this.#clock.now();
    for await (const page of renewals.list()) {
      report.listRequests++;
      report.records += page.length;
      const candidates: ListedRenewal[] = [];
      for (const records of bySession(page)) {
        const newest = records.reduce((a, b) => (b.epoch > a.epoch ? b : a));
        for (const stale of records) {
          if (stale.epoch >= newest.epoch) continue;
          // An older epoch's record extends nothing: it was left by an acquire that stopped short.
          await renewals.delete(stale.key);
          report.pruned++;
        }
        if (newest.lastModified.getTime() + (newest.seconds + this.#graceSeconds) * 1000 <= nowMs) candidates.push(newest);
      }
      report.candidates += candidates.length;
      for (let start = 0; start < candidates.length; start += this.#concurrency) {
        await Promise.all(candidates.slice(start, start + this.#concurrency).map((record) => this.#examine(record, report)));
      }
    }
    if (this.#backfillLimit > 0) report.backfilled = (await this.#repository.backfillStatusIndex({ limit: this.#backfillLimit })).indexed;
    if (this.#retention !== undefined) report.retention = await this.#retention.run();
    return report;
  }

  /** Decides about one candidate from its record and its session, and pauses the session when its lease lapsed. */
  async #examine(record: ListedRenewal, report: SweepReport): Promise<void> {
    const renewals = this.#repository.renewals;
    const now = Math.floor(this.#clock.now() / 1000);
    const stored = await renewals.read(record.id, record.epoch, record.seconds);
    report.reads++;
    // A heartbeat that asked for a longer extension than the lease's length.
    if (stored !== undefined && stored.renewal.expired !== true && stored.renewal.expires_at + this.#graceSeconds > now) return;
    const session = await this.#repository.storedSession(record.id);
    report.reads++;
    const lease = session === undefined ? undefined : openLease(session);
    if (lease === undefined || lease.epoch !== record.epoch) {
      await renewals.delete(record.key);
      report.pruned++;
      return;
    }
    // The holder's own changes keep the lease alive without heartbeats.
    if (lease.expires_at + this.#graceSeconds > now) return;
    if (stored !== undefined && stored.renewal.expired !== true && !(await renewals.fence(stored))) return;
    const result = await this.#repository.expireLapsedLease(record.id, record.epoch, this.#graceSeconds);
    if (result.changed) report.expired.push(record.id);
  }
}

/** The records of one page grouped by session (keys are ordered, so a session's records are adjacent). */
function bySession(page: ListedRenewal[]): ListedRenewal[][] {
  const groups: ListedRenewal[][] = [];
  for (const record of page) {
    const last = groups.at(-1);
    if (last !== undefined && last[0]!.id === record.id) last.push(record);
    else groups.push([record]);
  }
  return groups;
}

/** A scheduled Lambda handler that runs one sweep and logs what it did (the report is also its result). */
export function createSweepHandler(sweeper: LeaseSweeper, log: (message: string, report: SweepReport) => void): () => Promise<SweepReport> {
  return async () => {
    const report = await sweeper.sweep();
    log('lease sweep', report);
    return report;
  };
}
