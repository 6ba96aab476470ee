import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type TimeSource } from '../../common/clock.ts';
import { StoreFault } from '../port.ts';
import { LOCK_NAME, LOG_NAME } from './engine.ts';
import { fsyncDirectory, statIfPresent } from './filesystem.ts';
import { FileObjectStore } from './index.ts';
import { FORMAT_NAME } from './layout.ts';
import { LEGACY_OBJECTS, legacyBytes, legacyKeys } from './legacy.ts';
import { KeyLocks, ownerIsGone } from './locks.ts';

/** Where the new store is built, inside the data directory so that its files move in by rename (one filesystem). */
export const MIGRATION_WORK = 'migrate~new';
/** The prefix of the name the earlier key tree is moved aside to: `objects~migrated-<unix ms>`. */
export const MIGRATED_PREFIX = `${LEGACY_OBJECTS}~migrated-`;

/** The points between the steps of a migration, in order (tests stop a migration at each). */
export type MigrationStep = 'written' | 'format-in-place' | 'log-in-place' | 'objects-aside' | 'cleaned';

export interface MigrationOptions {
  /** Dates the lock; the versions keep their own times. Default the system clock. */
  clock?: TimeSource;
  /** How long to wait for the store's lock before refusing. Default 2 s. */
  lockTimeoutMs?: number;
  /** Called after each step, durably done. */
  afterStep?: (step: MigrationStep) => void | Promise<void>;
}

/** What a migration did. */
export interface MigrationReport {
  /** `migrated` from the earlier layout; `finished` a migration a crash interrupted after its log was in place; `none` nothing to do. */
  outcome: 'migrated' | 'finished' | 'none';
  keys: number;
  versions: number;
  /** Versions whose ID differs in the new store (the `null` version, and sequence numbers after gaps). */
  renumbered: number;
  /** Keys whose object was gone, only versions left: written, then deleted. */
  deletedKeys: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Where the earlier key tree now is. */
  movedAside?: string;
}

/** Another process holds the data directory's lock: a server (or another migration) is using it. */
export class DataDirectoryInUse extends Error {
  override readonly name = 'DataDirectoryInUse';
  constructor(root: string, options?: ErrorOptions) {
    super(`${root} is in use: another process holds its lock ${path.join(root, `${LOCK_NAME}~lock`)}; stop it first`, options);
  }
}

/**
 * Migrates the data directory `root` from the earlier file-per-object layout
 * (see `legacy.ts`) to the log layout, under the store's lock (refusing a
 * directory another process holds). Every key and every committed version,
 * oldest first, with its body and time, is written through a new
 * {@link FileObjectStore} built in `root/migrate~new/`; version IDs are
 * renumbered (each key's sequence numbers start at 1). Then, each step made
 * durable before the next: `store.json` is moved into `root` (alone it
 * leaves the directory legacy), then `log` (the commit point: from then on
 * the directory opens as the new layout), then `objects/` is moved aside to
 * `objects~migrated-<ms>/`, then the work directory removed. A crash at any
 * point leaves the old layout intact or the new one complete; running again
 * starts over, or finishes the last steps, or does nothing.
 */
export async function migrateDataDirectory(root: string, options: MigrationOptions = {}): Promise<MigrationReport> {
  const clock = options.clock ?? systemClock;
  const locks = new KeyLocks({ timeoutMs: options.lockTimeoutMs ?? 2_000, staleMs: 10_000, clock });
  const lockFile = path.join(root, LOCK_NAME);
  let locked = false;
  try {
    return await locks.withKeyLock(lockFile, async () => {
      locked = true;
      // A lock older than the stale age is broken by others: keep ours fresh while the migration runs.
      const touch = setInterval(() => {
        const now = new Date(clock.now());
        utimes(`${lockFile}~lock`, now, now).catch(() => {});
      }, 2_000);
      try {
        return await migrateLocked(root, options.afterStep ?? (() => {}));
      } finally {
        clearInterval(touch);
      }
    });
  } catch (error) {
    if (error instanceof StoreFault && !locked) throw new DataDirectoryInUse(root, { cause: error });
    throw error;
  }
}

async function migrateLocked(root: string, afterStep: (step: MigrationStep) => void | Promise<void>): Promise<MigrationReport> {
  const objects = path.join(root, LEGACY_OBJECTS);
  const work = path.join(root, MIGRATION_WORK);
  const logPath = path.join(root, LOG_NAME);
  const hasObjects = existsSync(objects) && readdirSync(objects).length > 0;
  const report: MigrationReport = { outcome: 'none', keys: 0, versions: 0, renumbered: 0, deletedKeys: 0, bytesBefore: 0, bytesAfter: 0 };
  if (!existsSync(logPath)) {
    if (!hasObjects) return report;
    await refuseIfWriting(root, objects);
    report.outcome = 'migrated';
    report.bytesBefore = await legacyBytes(objects);
    await rm(work, { recursive: true, force: true });
    await mkdir(work);
    await writeNewStore(objects, work, report);
    await afterStep('written');
    await rename(path.join(work, FORMAT_NAME), path.join(root, FORMAT_NAME));
    await fsyncDirectory(root);
    await afterStep('format-in-place');
    await rename(path.join(work, LOG_NAME), logPath);
    await fsyncDirectory(root);
    await afterStep('log-in-place');
  } else if (hasObjects) {
    report.outcome = 'finished';
    report.bytesBefore = await legacyBytes(objects);
  }
  if (hasObjects) {
    report.movedAside = path.join(root, `${MIGRATED_PREFIX}${Date.now()}`);
    await rename(objects, report.movedAside);
    await fsyncDirectory(root);
    await afterStep('objects-aside');
  }
  if ((await statIfPresent(work)) !== undefined) {
    await rm(work, { recursive: true, force: true });
    await fsyncDirectory(root);
  }
  await afterStep('cleaned');
  if (report.outcome !== 'none') report.bytesAfter = (await stat(logPath)).size + (await stat(path.join(root, FORMAT_NAME))).size;
  return report;
}

/** Refuses when a process of the earlier store holds a key's lock: it is writing into the tree. */
async function refuseIfWriting(root: string, objects: string): Promise<void> {
  for (const entry of await readdir(objects, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('~lock')) continue;
    const text = await readFile(path.join(entry.parentPath, entry.name), 'utf-8').catch(() => undefined);
    if (text !== undefined && !ownerIsGone(text)) throw new DataDirectoryInUse(root);
  }
}

/** Writes every key and version of the key tree `objects` through a new store in `work`, durably, counting them in `report`. */
async function writeNewStore(objects: string, work: string, report: MigrationReport): Promise<void> {
  let now = 0;
  const store = new FileObjectStore(work, { clock: { now: () => now } });
  try {
    for await (const { key, versions, live } of legacyKeys(objects)) {
      if (versions.length === 0) continue;
      report.keys++;
      let etag: string | undefined;
      for (const version of versions) {
        now = version.ms;
        const condition = etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: etag };
        const written = await store.putVersion(key, version.body.toString('utf-8'), condition);
        etag = written.etag;
        report.versions++;
        if (written.versionId !== version.id) report.renumbered++;
      }
      if (!live) {
        await store.delete(key);
        report.deletedKeys++;
      }
    }
  } finally {
    await store.close();
  }
  await fsyncDirectory(work);
  for (const name of await readdir(work)) {
    if (name !== LOG_NAME && name !== FORMAT_NAME) await rm(path.join(work, name), { force: true });
  }
}
