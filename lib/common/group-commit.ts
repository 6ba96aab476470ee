/**
 * Group commit in one process: work for the same key that arrives while a
 * batch for that key is being written joins the next batch instead of
 * competing with it. A lone item runs at once, so it waits for nothing.
 *
 * @module
 */

interface Waiting<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** What a batch's run answers for each item, in the order given: its result, or the error it alone met. */
export type BatchOutcome<R> = { result: R } | { error: unknown };

/** Batches items by key; at most one batch per key runs at a time. */
export class KeyedBatches<I, R> {
  readonly #queues = new Map<string, Waiting<I, R>[]>();
  readonly #maxBatch: number;
  readonly #run: (key: string, items: I[]) => Promise<BatchOutcome<R>[]>;

  /**
   * @param run - Writes one batch; a thrown error fails every item of the batch.
   * @param maxBatch - Most items one batch takes; the rest wait for the next.
   */
  constructor(run: (key: string, items: I[]) => Promise<BatchOutcome<R>[]>, { maxBatch = 100 }: { maxBatch?: number } = {}) {
    this.#run = run;
    this.#maxBatch = maxBatch;
  }

  /** Runs `item` in the next batch of `key`. */
  submit(key: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queue = this.#queues.get(key);
      if (queue !== undefined) {
        queue.push({ item, resolve, reject });
        return;
      }
      this.#queues.set(key, []);
      void this.#drain(key, [{ item, resolve, reject }]);
    });
  }

  /** Runs `batch`, then whatever queued meanwhile, until the key's queue is empty. */
  async #drain(key: string, first: Waiting<I, R>[]): Promise<void> {
    let batch = first;
    for (;;) {
      try {
        const outcomes = await this.#run(
          key,
          batch.map((waiting) => waiting.item),
        );
        batch.forEach((waiting, index) => {
          const outcome = outcomes[index];
          if (outcome === undefined) waiting.reject(new Error('a batch answered fewer outcomes than it was given items'));
          else if ('error' in outcome) waiting.reject(outcome.error);
          else waiting.resolve(outcome.result);
        });
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
      const queue = this.#queues.get(key)!;
      if (queue.length === 0) {
        this.#queues.delete(key);
        return;
      }
      batch = queue.splice(0, this.#maxBatch);
    }
  }
}
