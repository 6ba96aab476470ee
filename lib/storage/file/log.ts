import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDirectory, isMissing } from './filesystem.ts';
import { decodeRecords, type LogRecord } from './records.ts';

/** How much of the log one read takes while catching up. */
const READ_CHUNK = 4 * 1024 * 1024;

/**
 * The store's one append-only log file, shared by every process on the data
 * directory. This process has read it up to `end`; `catchUp` reads what other
 * writers appended since (by offset), `append` writes at `end` (only under the
 * store's write lock), and `sync` is the group commit: writes that come while
 * an fsync runs share the next one, whichever keys they touch.
 */
export class StoreLog {
  readonly path: string;
  #handle: FileHandle | undefined;
  #ino = -1n;
  /** Counts the files read at the path: offsets are only meaningful within one generation. */
  #generation = 0;
  #end = 0;
  /** Bytes present in the file past `end` at the last look: a record being written, or a torn one. */
  #tail = 0;
  #synced = 0;
  #syncing: Promise<void> | undefined;
  #nextSync: Promise<void> | undefined;

  constructor(file: string) {
    this.path = file;
  }

  /** Where this process has read (and written) the log up to. */
  get end(): number {
    return this.#end;
  }

  /** Which file at the path the offsets of `end`, `append` and `read` refer to; it changes when the log is replaced. */
  get generation(): number {
    return this.#generation;
  }

  /** Bytes after `end` that hold no whole record (seen at the last `catchUp`). */
  get tail(): number {
    return this.#tail;
  }

  /**
   * Reads the records appended since `end`. When the file at the path is
   * another file than the one open (the log was rewritten by a compaction),
   * starts over in a new generation: `onReset` is called before its records
   * come. Everything written to the replaced file is then durable: the
   * compaction fsynced the live records into the new one, and the rename is
   * made durable here before anyone is told. Returns the records read.
   */
  async catchUp(onReset: () => void): Promise<LogRecord[]> {
    const info = await stat(this.path, { bigint: true }).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (info === undefined) {
      // Not O_APPEND: writes go at `end`, past which a torn record may lie until it is cut.
      await (await open(this.path, constants.O_RDWR | constants.O_CREAT, 0o644)).close();
      return this.catchUp(onReset);
    }
    let size = Number(info.size);
    if (this.#handle === undefined || info.ino !== this.#ino) {
      const replaced = this.#handle;
      if (replaced !== undefined) {
        await fsyncDirectory(path.dirname(this.path));
        // An fsync of the replaced file may still run: close it once that ends.
        void (this.#syncing ?? Promise.resolve()).catch(() => {}).then(() => replaced.close().catch(() => {}));
      }
      this.#handle = await open(this.path, 'r+');
      const opened = await this.#handle.stat({ bigint: true });
      this.#ino = opened.ino;
      size = Number(opened.size);
      this.#generation++;
      this.#end = 0;
      this.#synced = 0;
      this.#syncing = undefined;
      this.#nextSync = undefined;
      onReset();
    }
    const records: LogRecord[] = [];
    let position = this.#end;
    let want = READ_CHUNK;
    while (position < size) {
      const bytes = await this.read(position, Math.min(size - position, want));
      const decoded = decodeRecords(bytes, position);
      records.push(...decoded.records);
      if (
        decoded.records.length === 0 &&
        (decoded.needed === undefined || decoded.needed > size - position || decoded.needed <= bytes.length)
      )
        break;
      want = Math.max(READ_CHUNK, decoded.needed ?? 0);
      position = decoded.end;
    }
    this.#end = position;
    this.#tail = size - position;
    return records;
  }

  /** Cuts what follows `end`: a record whose writer died midway. Only under the store's write lock. */
  async truncateTail(): Promise<void> {
    if (this.#tail === 0) return;
    await this.#handle!.truncate(this.#end);
    await this.#handle!.datasync();
    this.#tail = 0;
  }

  /** Writes `record` at `end`; returns where it starts. Only under the store's write lock, after `catchUp`. */
  async append(record: Buffer): Promise<number> {
    const offset = this.#end;
    let written = 0;
    while (written < record.length) {
      const { bytesWritten } = await this.#handle!.write(record, written, record.length - written, offset + written);
      written += bytesWritten;
    }
    this.#end = offset + record.length;
    return offset;
  }

  /** `length` bytes of the log from `offset`. */
  async read(offset: number, length: number): Promise<Buffer> {
    const bytes = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.#handle!.read(bytes, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === length ? bytes : bytes.subarray(0, got);
  }

  /**
   * Resolves once everything written to the log before the call is durable:
   * up to `until` in the file of `generation` (a replaced file counts as
   * durable as a whole, see `catchUp`). A caller that comes while an fsync
   * runs shares the one started after it: one that began before its write
   * might not cover it.
   */
  async sync(until: number = this.#end, generation: number = this.#generation): Promise<void> {
    while (this.#generation === generation && this.#synced < until) {
      if (this.#syncing === undefined) {
        const target = this.#end;
        const run: Promise<void> = this.#handle!.datasync()
          .then(() => {
            if (this.#generation === generation) this.#synced = Math.max(this.#synced, target);
          })
          .finally(() => {
            if (this.#syncing === run) this.#syncing = undefined;
          });
        this.#syncing = run;
        await run;
      } else {
        const next: Promise<void> =
          this.#nextSync ??
          this.#syncing
            .catch(() => {})
            .finally(() => {
              if (this.#nextSync === next) this.#nextSync = undefined;
            });
        this.#nextSync = next;
        await next;
      }
    }
  }

  /** True when the bytes up to `offset` of the file of `generation` are known durable. */
  isDurable(offset: number, generation: number): boolean {
    return generation !== this.#generation || this.#synced >= offset;
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
    this.#ino = -1n;
  }
}
