import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { TimeSource } from '../../common/clock.ts';
import { ConditionNotMet, sameEtag, type WriteCondition } from '../port.ts';
import { BodyCache, type CachedBody, md5After } from './bodies.ts';
import { fsyncDirectory } from './filesystem.ts';
import { type KeyEntry, KeyIndex } from './key-index.ts';
import { KeyLocks, ownerIsGone, processRuns } from './locks.ts';
import { StoreLog } from './log.ts';
import { encodeRecord, type LogRecord, type RecordMeta } from './records.ts';
import { BodyBuilder, type Delta, deltaOf, entryOf, type VersionEntry, writesDelta } from './versions.ts';

/** The log file in the data directory. */
export const LOG_NAME = 'log';
/** The name whose `~lock` file is the store's write lock, shared by every process on the directory. */
export const LOCK_NAME = 'store';
/**
 * A store that keeps no versions compacts its log once the bytes of records
 * no longer needed exceed this and twice the live bytes: a heartbeat
 * rewriting one small record leaves a log of a few KiB, and a compaction
 * (which copies the live records) costs at most half a byte per byte freed.
 */
export const COMPACT_MIN_DEAD_BYTES = 32 * 1024;
/** Live records are copied into a compacted log in writes of about this size. */
const COMPACT_CHUNK = 1024 * 1024;
/** How often, at most, a writer that sees another process's writes sweeps the data directory for what a crash left. */
const FOREIGN_SWEEP_MS = 1_000;

export interface EngineOptions {
  root: string;
  /** Keep every version (else only the current body of each key). */
  versions: boolean;
  clock: TimeSource;
  lockTimeoutMs: number;
  lockStaleMs: number;
  /** Bytes of current bodies kept in memory. */
  cacheBytes: number;
}

/** What a write made. */
export interface Written {
  etag: string;
  version: VersionEntry;
}

/**
 * The storage engine behind the file stores: one append-only log of records
 * (see `records.ts`, `versions.ts`) for every key, an index of keys and
 * versions in memory rebuilt from the log on open and caught up by offset
 * before each operation (so several processes share one directory), one write
 * lock for the directory, and group commit of fsyncs.
 */
export class LogEngine {
  readonly #options: EngineOptions;
  readonly #log: StoreLog;
  readonly #locks: KeyLocks;
  readonly #index = new KeyIndex();
  readonly #cache: BodyCache;
  readonly #lockFile: string;
  /** Serialises catching up and appending, the two changes of `#index` and of the log's `end`. */
  #serial: Promise<unknown> = Promise.resolve();
  readonly opened: Promise<void>;
  /** A lock of a dead process was broken: sweep what it left at the next write. */
  #sweepDue = false;
  /** Another process wrote since the last sweep. */
  #foreignWrites = false;
  /** When the last sweep ran (the clock's milliseconds). */
  #sweptAt = Number.NEGATIVE_INFINITY;
  /** Bytes of the log's records that a compaction would keep (every record, in a store that keeps versions). */
  #liveBytes = 0;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#log = new StoreLog(path.join(options.root, LOG_NAME));
    this.#lockFile = path.join(options.root, LOCK_NAME);
    this.#locks = new KeyLocks({
      timeoutMs: options.lockTimeoutMs,
      staleMs: options.lockStaleMs,
      clock: options.clock,
      onBroken: () => {
        this.#sweepDue = true;
      },
    });
    this.#cache = new BodyCache(options.cacheBytes);
    this.opened = this.#open();
    this.opened.catch(() => {});
  }

  /** The lock file writers take (for tests and tools). */
  get lockPath(): string {
    return `${this.#lockFile}~lock`;
  }

  async #open(): Promise<void> {
    this.#index.beginBulk();
    try {
      await this.#catchUp();
    } finally {
      this.#index.endBulk();
    }
    await fsyncDirectory(this.#options.root);
    await this.sweep();
    if (this.#log.tail > 0) await this.#locks.withKeyLock(this.#lockFile, () => this.#catchUpForWrite());
  }

  /**
   * Removes what crashed processes left in the data directory: lock drafts
   * and the lock of a process that no longer runs, moved-aside locks and
   * temporary files older than the stale age.
   */
  async sweep(): Promise<void> {
    await this.#locks.breakIfAbandoned(this.#lockFile);
    const now = this.#options.clock.now();
    for (const name of await readdir(this.#options.root)) {
      const file = path.join(this.#options.root, name);
      if (name.startsWith('~lock~new-')) {
        const text = await readFile(file, 'utf-8').catch(() => undefined);
        const info = await stat(file).catch(() => undefined);
        // A draft cut short by a crash has no owner inside: its name carries the pid.
        const pid = Number(/^~lock~new-(\d+)-/.exec(name)?.[1] ?? Number.NaN);
        const gone =
          text !== undefined && (ownerIsGone(text) || (text === '' && Number.isInteger(pid) && pid !== process.pid && !processRuns(pid)));
        if (info !== undefined && (gone || now - info.mtimeMs > this.#options.lockStaleMs)) await unlink(file).catch(() => {});
      } else if (name.includes('~stale-') || name.includes('~tmp-')) {
        const info = await stat(file).catch(() => undefined);
        if (info !== undefined && now - info.mtimeMs > this.#options.lockStaleMs) await unlink(file).catch(() => {});
      }
    }
  }

  /** Reads what other writers appended. Readers call it before each operation. */
  catchUp(): Promise<void> {
    return this.#inSerial(() => this.#catchUp());
  }

  /** Applies what other writers appended. */
  async #catchUp(): Promise<void> {
    const records = await this.#log.catchUp(() => {
      this.#index.clear();
      this.#cache.clear();
      this.#liveBytes = 0;
    });
    for (const record of records) this.#apply(record);
    if (records.length > 0) this.#foreignWrites = true;
  }

  /**
   * Under the write lock: catch up, and cut a torn record left by a writer that died (no live writer is midway now).
   * When another process wrote since, what it may have left if it died between its writes (a lock draft) is swept too,
   * at most once every {@link FOREIGN_SWEEP_MS}.
   */
  async #catchUpForWrite(): Promise<void> {
    await this.#inSerial(async () => {
      await this.#catchUp();
      if (this.#log.tail > 0) {
        await this.#log.truncateTail();
        this.#sweepDue = true;
      }
      const now = this.#options.clock.now();
      if (this.#foreignWrites && now - this.#sweptAt >= FOREIGN_SWEEP_MS) this.#sweepDue = true;
      if (this.#sweepDue) {
        this.#sweepDue = false;
        this.#foreignWrites = false;
        this.#sweptAt = now;
        await this.sweep();
      }
    });
  }

  #inSerial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(task, task);
    this.#serial = run.catch(() => {});
    return run;
  }

  #apply(record: LogRecord): void {
    const { meta } = record;
    const entry = this.#index.entry(meta.k);
    entry.nextSeq = Math.max(entry.nextSeq, meta.s + 1);
    entry.lastMs = Math.max(entry.lastMs, meta.t);
    const generation = this.#log.generation;
    if (this.#options.versions) {
      this.#liveBytes += record.length;
    } else {
      // Only the current record of a live key is kept: the one it replaces and every delete are dead.
      const replaced = entry.versions[0];
      if (replaced !== undefined) this.#liveBytes -= replaced.length;
    }
    if (meta.op === 'x') {
      this.#index.setLive(entry, false);
      if (!this.#options.versions) entry.versions = [];
      this.#cache.drop(entry);
      return;
    }
    if (this.#options.versions) {
      entry.versions.push(entryOf(record, entry.versions, generation));
    } else {
      entry.versions = [entryOf(record, [], generation)];
      this.#liveBytes += record.length;
    }
    this.#index.setLive(entry, true);
  }

  /** The index entry of `key` as last caught up. */
  entry(key: string): KeyEntry | undefined {
    return this.#index.get(key);
  }

  /** A page of live keys. */
  page(prefix: string, limit: number, startAfter: string | undefined): { entries: KeyEntry[]; truncated: boolean } {
    return this.#index.page(prefix, limit, startAfter);
  }

  /**
   * Runs `read` (which looks at the index and reads bodies) after catching
   * up, and again when the log was replaced meanwhile by a compaction: the
   * offsets it used would then point into another file.
   */
  async reading<T>(read: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.catchUp();
      const generation = this.#log.generation;
      try {
        const result = await read();
        if (this.#log.generation === generation) return result;
      } catch (error) {
        if (this.#log.generation === generation) throw error;
      }
    }
  }

  /** The body of version `at` (an index in `entry.versions`), rebuilt from its checkpoint and the deltas after it. */
  async body(entry: KeyEntry, at: number): Promise<CachedBody> {
    const version = entry.versions[at]!;
    const cached = this.#cache.get(entry, version.seq);
    if (cached !== undefined) return cached;
    if (version.generation !== this.#log.generation) throw new Error('the log was replaced since the version was read');
    const chain = entry.versions.slice(version.base, at + 1);
    const records = await Promise.all(chain.map((link) => this.#readRecord(link)));
    const builder = new BodyBuilder(records[0]!.data);
    for (const record of records.slice(1)) builder.apply(record);
    const body: CachedBody = { seq: version.seq, bytes: builder.body() };
    if (at === entry.versions.length - 1 && version.generation === this.#log.generation) this.#cache.set(entry, body);
    return body;
  }

  /** Waits until the record of `version` is durable (it may be a write of this process not yet fsynced). */
  async durable(version: VersionEntry): Promise<void> {
    const end = version.offset + version.length;
    if (!this.#log.isDurable(end, version.generation)) await this.#log.sync(end, version.generation);
  }

  async #readRecord(version: VersionEntry): Promise<{ data: Buffer; meta: RecordMeta; offset: number; length: number }> {
    const bytes = await this.#log.read(version.offset, version.length);
    const metaLength = bytes.readUInt32BE(12);
    const meta = JSON.parse(bytes.toString('utf-8', 16, 16 + metaLength)) as RecordMeta;
    return { meta, data: bytes.subarray(16 + metaLength), offset: version.offset, length: version.length };
  }

  /**
   * Writes `bytes` at `key` if `condition` holds, durably (the promise
   * resolves after the fsync that covers the record).
   * @throws ConditionNotMet
   */
  /** Writes `bytes` (the UTF-8 of `text`, when the caller has it: the cache keeps it, so reads of this version decode nothing). */
  async write(key: string, bytes: Buffer, condition: WriteCondition, text?: string): Promise<Written> {
    await this.opened;
    // Refuse early, without the lock, when the condition already fails: the check under the lock decides.
    await this.catchUp();
    checkCondition(key, this.#index.get(key), condition);
    const written = await this.#locks.withKeyLock(this.#lockFile, async () => {
      await this.#catchUpForWrite();
      const entry = this.#index.get(key);
      checkCondition(key, entry, condition);
      const last = entry?.live === true ? entry.versions.at(-1) : undefined;
      const previous = last === undefined ? undefined : await this.body(entry!, entry!.versions.length - 1);
      const delta = previous === undefined ? undefined : deltaOf(previous.bytes, bytes);
      const { md5, hash } = md5After(previous, delta, bytes);
      const asDelta = this.#options.versions && delta !== undefined && writesDelta(last, delta, bytes.length);
      const seq = entry?.nextSeq ?? 1;
      const ms = Math.max(this.#options.clock.now(), entry?.lastMs ?? 0);
      const meta: RecordMeta = asDelta
        ? { k: key, s: seq, t: ms, m: md5, op: 'd', p: delta!.keepPrefix, q: delta!.keepSuffix }
        : { k: key, s: seq, t: ms, m: md5, op: 'c' };
      const record = encodeRecord(meta, asDelta ? delta!.insert : bytes);
      const version = await this.#inSerial(async () => {
        const offset = await this.#log.append(record);
        this.#apply({ meta, data: asDelta ? delta!.insert : bytes, offset, length: record.length });
        const made = this.#index.get(key)!;
        this.#cache.set(made, { seq, bytes, hash, ...(text === undefined ? {} : { text }) });
        return made.versions.at(-1)!;
      });
      await this.#compactIfDue();
      return { etag: `"${md5}"`, version };
    });
    await this.durable(written.version);
    return written;
  }

  /** Deletes `key` durably; a missing key is no error. */
  async delete(key: string): Promise<void> {
    await this.opened;
    await this.catchUp();
    if (this.#index.get(key)?.live !== true) return;
    const end = await this.#locks.withKeyLock(this.#lockFile, async () => {
      await this.#catchUpForWrite();
      const entry = this.#index.get(key);
      if (entry?.live !== true) return undefined;
      const meta: RecordMeta = { k: key, s: entry.nextSeq, t: Math.max(this.#options.clock.now(), entry.lastMs), m: '', op: 'x' };
      const record = encodeRecord(meta, Buffer.alloc(0));
      const appended = await this.#inSerial(async () => {
        const offset = await this.#log.append(record);
        this.#apply({ meta, data: Buffer.alloc(0), offset, length: record.length });
        return { end: offset + record.length, generation: this.#log.generation };
      });
      await this.#compactIfDue();
      return appended;
    });
    if (end !== undefined) await this.#log.sync(end.end, end.generation);
  }

  /** Bytes of the log that a compaction would free. */
  get deadBytes(): number {
    return this.#log.end - this.#liveBytes;
  }

  /** Under the write lock, after an append: compacts a log that keeps no versions once mostly dead (see COMPACT_MIN_DEAD_BYTES). */
  async #compactIfDue(): Promise<void> {
    if (this.#options.versions || this.deadBytes <= Math.max(COMPACT_MIN_DEAD_BYTES, 2 * this.#liveBytes)) return;
    // The write is made already: a compaction that fails (a full disk) leaves the old log, and the next write tries again.
    await this.#inSerial(() => this.#compact()).catch(() => {});
  }

  /**
   * Writes the live records to a new file, fsyncs it and renames it over the
   * log, then reads it back as a new generation: other processes see another
   * inode at the path and reload it the same way. A crash before the rename
   * leaves the old log (and a temporary file the next compaction or sweep
   * removes), after it the new one: never a mix. Only under the write lock.
   */
  async #compact(): Promise<void> {
    const logPath = this.#log.path;
    for (const name of await readdir(this.#options.root)) {
      if (name.startsWith(`${LOG_NAME}~tmp-`)) await unlink(path.join(this.#options.root, name)).catch(() => {});
    }
    const temp = temporaryName(logPath);
    const handle = await open(temp, 'wx', 0o644);
    try {
      let position = 0;
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      const flush = async () => {
        const bytes = Buffer.concat(chunk, chunkBytes);
        for (let written = 0; written < bytes.length; ) {
          written += (await handle.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
        }
        position += bytes.length;
        chunk = [];
        chunkBytes = 0;
      };
      for (const entry of this.#index.liveEntries()) {
        const version = entry.versions.at(-1)!;
        chunk.push(await this.#log.read(version.offset, version.length));
        chunkBytes += version.length;
        if (chunkBytes >= COMPACT_CHUNK) await flush();
      }
      await flush();
      await handle.datasync();
    } catch (error) {
      await handle.close();
      await unlink(temp).catch(() => {});
      throw error;
    }
    await handle.close();
    await rename(temp, logPath);
    await fsyncDirectory(this.#options.root);
    await this.#catchUp();
  }

  /** Closes the log file. */
  async close(): Promise<void> {
    await this.opened.catch(() => {});
    await this.#inSerial(() => this.#log.close());
  }
}

function checkCondition(key: string, entry: KeyEntry | undefined, condition: WriteCondition): void {
  const current = entry?.live === true ? entry.versions.at(-1) : undefined;
  if ('ifNoneMatch' in condition) {
    if (current !== undefined) throw new ConditionNotMet(key);
  } else if (current === undefined || !sameEtag(`"${current.md5}"`, condition.ifMatch)) {
    throw new ConditionNotMet(key);
  }
}

/** A name for a temporary file beside `file` that a sweep removes once it is old. */
export function temporaryName(file: string): string {
  return `${file}~tmp-${randomBytes(8).toString('hex')}`;
}

export type { Delta };
