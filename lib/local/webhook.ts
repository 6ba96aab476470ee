/**
 * Delivers the lines of `events.jsonl` to a webhook, one POST per line, in
 * file order, off the request path: a webhook that is down delays its own
 * deliveries, never a request. Where it got to is a byte offset in a cursor
 * file written atomically after each delivered line, so a restart resumes
 * there (a line delivered just before a crash may be delivered again). The
 * file is read in bounded chunks: nothing waits in memory but one chunk.
 *
 * Faults do not stop it: a cursor that cannot be written (a full disk) is
 * written again after the next line, a failed read is retried with backoff,
 * and a line the webhook refuses (4xx) after a bounded number of attempts is
 * appended to a dead-letter file (`events.dead.jsonl`, as the deployed queue
 * keeps what EventBridge could not deliver) and delivery moves on. A webhook
 * that is unreachable or failing (5xx) is retried without end.
 *
 * @module
 */

import { appendFile, type FileHandle, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { equalJitterDelay } from '../common/backoff.ts';
import { type Clock, systemClock } from '../common/clock.ts';

/** The dead-letter file beside the events file: lines the webhook refused. */
export const DEAD_LETTER_FILE = 'events.dead.jsonl';

/** Attempts at a line the webhook refuses (4xx but 408 and 429) before it goes to the dead-letter file. */
export const MAX_REFUSED_ATTEMPTS = 5;

/** Bytes read from the events file at a time. */
const CHUNK_BYTES = 64 * 1024;
/** The most of a webhook's answer read before the connection is let go: its status is what counts. */
export const MAX_ANSWER_BYTES = 4 * 1024;
/** Longest line delivered; an event is a few hundred bytes. */
const MAX_LINE_BYTES = 1024 * 1024;

export interface WebhookDeliveryOptions {
  /** The events file (one event a line). */
  file: string;
  /** The byte offset of the first line not yet delivered. */
  cursorFile: string;
  /** Where refused lines go. Default `events.dead.jsonl` beside `file`. */
  deadLetterFile?: string;
  url: string;
  clock?: Clock;
  /** First and largest backoff ceiling between attempts at one line. Default 500 ms and 30 s. */
  retry?: { baseMs: number; maxMs: number };
  /** How long one POST may take. Default 10 s. */
  timeoutMs?: number;
  /** How often to look for new lines when not told of any. Default 1 s. */
  pollMs?: number;
  /** A failed attempt (it is retried). */
  onError?: (message: string, error: unknown, context?: Record<string, unknown>) => void;
  /** A line the webhook accepted. */
  onDelivered?: (line: string) => void;
}

/** Delivers `events.jsonl` to a webhook; see the module documentation. */
export class WebhookDelivery {
  readonly #options: Required<Omit<WebhookDeliveryOptions, 'onDelivered'>> & Pick<WebhookDeliveryOptions, 'onDelivered'>;
  #failures = 0;
  #offset = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #pending = false;
  readonly #abort = new AbortController();
  /** POSTs sent, accepted or not. */
  attempts = 0;
  /** Lines accepted. */
  delivered = 0;
  /** Lines refused for good, now in the dead-letter file. */
  deadLettered = 0;

  constructor(options: WebhookDeliveryOptions) {
    this.#options = {
      clock: systemClock,
      retry: { baseMs: 500, maxMs: 30_000 },
      timeoutMs: 10_000,
      pollMs: 1000,
      onError: () => {},
      deadLetterFile: path.join(path.dirname(options.file), DEAD_LETTER_FILE),
      ...options,
    };
  }

  /** The byte offset of the first line not yet delivered. */
  get offset(): number {
    return this.#offset;
  }

  /** Starts delivering from the stored cursor. */
  start(): void {
    this.#loop ??= this.#run().catch((error: unknown) => this.#options.onError('webhook delivery stopped', error));
  }

  /** New lines may have been appended. */
  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Stops after the attempt under way (which is abandoned: its line is delivered again at the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    this.#offset = await this.#readCursor();
    while (!this.#stopped) {
      try {
        if (!(await this.#deliverNew())) return;
        this.#failures = 0;
      } catch (error) {
        // A read or a dead letter that failed (a full disk, EIO): the same lines again after a while.
        this.#failures++;
        this.#options.onError('webhook delivery failed; retrying', error, { attempt: this.#failures });
        const { baseMs, maxMs } = this.#options.retry;
        await this.#pause(equalJitterDelay(this.#failures, baseMs, maxMs, this.#options.clock.random), false);
      }
    }
  }

  /** Delivers the lines there are, or waits for some; false when stopped. */
  async #deliverNew(): Promise<boolean> {
    this.#pending = false;
    const lines = await this.#readLines();
    if (lines.length === 0) {
      if (!this.#pending) await this.#pause(this.#options.pollMs, true);
      return true;
    }
    for (const line of lines) {
      if (line.text.trim() !== '') {
        const outcome = await this.#deliver(line.text);
        if (outcome === 'stopped') return false;
        if (outcome === 'refused') await this.#deadLetter(line.text);
      }
      this.#offset += line.bytes;
      await this.#writeCursor().catch((error: unknown) =>
        // Delivery goes on; the cursor is written again after the next line (a restart may repeat a few lines).
        this.#options.onError('webhook cursor not written; delivery goes on', error, { offset: this.#offset }),
      );
    }
    return true;
  }

  /** Appends a refused line to the dead-letter file, durably, before delivery moves past it. */
  async #deadLetter(line: string): Promise<void> {
    await appendFile(this.#options.deadLetterFile, `${line}\n`, { encoding: 'utf-8', flush: true });
    this.deadLettered++;
    this.#options.onError('webhook refused an event for good; it is in the dead-letter file', undefined, {
      file: this.#options.deadLetterFile,
    });
  }

  /** Complete lines from the offset on, at most a chunk of them (more only when one line is longer). */
  async #readLines(): Promise<{ text: string; bytes: number }[]> {
    let handle: FileHandle;
    try {
      handle = await open(this.#options.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size < this.#offset) {
        // The file was replaced by a shorter one: deliver it from its start.
        this.#options.onError('events file is shorter than the webhook cursor; delivering it from the start', undefined, {
          offset: this.#offset,
          size,
        });
        this.#offset = 0;
      }
      for (let length = CHUNK_BYTES; length <= MAX_LINE_BYTES; length *= 2) {
        const buffer = Buffer.alloc(Math.min(length, size - this.#offset));
        if (buffer.length === 0) return [];
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset);
        const end = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (end >= 0) return splitLines(buffer.subarray(0, end + 1));
        if (bytesRead < length) return [];
      }
      throw new Error(`a line of ${this.#options.file} at byte ${this.#offset} is longer than ${MAX_LINE_BYTES} bytes`);
    } finally {
      await handle.close();
    }
  }

  /**
   * POSTs one line until the webhook accepts it (`delivered`), refuses it
   * {@link MAX_REFUSED_ATTEMPTS} times (`refused`), or delivery stops.
   */
  async #deliver(line: string): Promise<'delivered' | 'refused' | 'stopped'> {
    const { url, retry, clock, timeoutMs } = this.#options;
    let refusals = 0;
    for (let attempt = 1; !this.#stopped; attempt++) {
      this.attempts++;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: line,
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await discardAnswer(response);
        if (response.ok) {
          this.delivered++;
          this.#options.onDelivered?.(line);
          return 'delivered';
        }
        const refused = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
        if (refused && ++refusals >= MAX_REFUSED_ATTEMPTS) return 'refused';
        this.#options.onError('webhook refused an event; retrying', undefined, { status: response.status, attempt });
      } catch (error) {
        if (this.#stopped) return 'stopped';
        this.#options.onError('webhook unreachable; retrying', error, { attempt });
      }
      await this.#pause(equalJitterDelay(attempt, retry.baseMs, retry.maxMs, clock.random), false);
    }
    return 'stopped';
  }

  /** Waits `ms`, or less when stopped (or, if `wakeOnNotify`, told of new lines). */
  #pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = wakeOnNotify ? done : this.#stoppedOnly(done);
    }).finally(() => {
      this.#wake = undefined;
    });
  }

  #stoppedOnly(done: () => void): () => void {
    return () => {
      if (this.#stopped) done();
    };
  }

  async #readCursor(): Promise<number> {
    try {
      const offset = (JSON.parse(await readFile(this.#options.cursorFile, 'utf-8')) as { offset?: unknown }).offset;
      if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return offset;
      this.#options.onError('webhook cursor is malformed; delivering from the start', undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#options.onError('webhook cursor unreadable; delivering from the start', error);
    }
    return 0;
  }

  /** Replaces the cursor file whole (write, fsync, rename): a crash leaves the old offset or the new one. */
  async #writeCursor(): Promise<void> {
    const draft = `${this.#options.cursorFile}.new`;
    await writeFile(draft, JSON.stringify({ offset: this.#offset }), { flush: true });
    await rename(draft, this.#options.cursorFile);
  }
}

/** Reads at most {@link MAX_ANSWER_BYTES} of an answer's body, then lets the rest go unread (a 3 GB answer costs nothing). */
async function discardAnswer(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (reader === undefined) return;
  try {
    for (let read = 0; read < MAX_ANSWER_BYTES; ) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
    }
  } catch {
    // An answer cut short says no more than its status did.
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The newline-terminated lines of `bytes`, each with its length in bytes (newline included). */
function splitLines(bytes: Buffer): { text: string; bytes: number }[] {
  const lines: { text: string; bytes: number }[] = [];
  let start = 0;
  for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
    lines.push({ text: bytes.subarray(start, end).toString('utf-8'), bytes: end + 1 - start });
    start = end + 1;
  }
  return lines;
}
