/**
 * The local events file, `DATA_DIR/events.jsonl`: one event a line, as
 * EventBridge delivers it, appended durably and never left with a torn line.
 *
 * @module
 */

import { type FileHandle, open } from 'node:fs/promises';
import { deliveredEvent, type SessionEvent } from '../domain/events.ts';
import type { Publisher } from '../workers/announcer.ts';

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
