/**
 * Keeping the open view current without hammering the API: Server-Sent
 * Events from `/console/events` when the server offers them, else a poll
 * every few seconds that stops while the tab is hidden and backs off on errors.
 * @module
 */

/** Refreshes the open view; `sessionId` is the session an event named, when one did. */
export type Refresher = (sessionId?: string) => Promise<void>;

export interface LiveOptions {
  /** Poll interval while all is well. Default 5 s. */
  pollMillis?: number;
  /** Longest wait after repeated errors. Default 60 s. */
  maxBackoffMillis?: number;
  /** Where to say how the page keeps current. */
  stateElement?: HTMLElement | null;
}

/** The events stream's message, as the local server writes `events.jsonl` lines. */
interface SessionEvent {
  detail?: { session_id?: unknown };
}

/** Keeps the page current; `refresh` is swapped by each view as it opens. */
export class LiveUpdates {
  #refresh: Refresher = async () => {};
  #timer: number | undefined;
  #delay: number;
  #mode: 'events' | 'polling' = 'polling';
  readonly #poll: number;
  readonly #maxBackoff: number;
  readonly #state: HTMLElement | null;
  #pending = new Set<string | undefined>();
  #debounce: number | undefined;

  constructor({ pollMillis = 5000, maxBackoffMillis = 60_000, stateElement = null }: LiveOptions = {}) {
    this.#poll = pollMillis;
    this.#delay = pollMillis;
    this.#maxBackoff = maxBackoffMillis;
    this.#state = stateElement;
  }

  /** How the page keeps current now. */
  get mode(): 'events' | 'polling' {
    return this.#mode;
  }

  /** The open view's refresh. */
  set refresher(refresh: Refresher) {
    this.#refresh = refresh;
  }

  /** Probes the events stream; falls back to polling when the server has none or it fails before it opens. */
  start(): void {
    document.addEventListener('visibilitychange', () => {
      if (this.#mode === 'polling') this.#schedule(document.hidden ? undefined : 0);
    });
    if (typeof EventSource === 'undefined') {
      this.#startPolling();
      return;
    }
    const source = new EventSource('/console/events');
    let opened = false;
    source.addEventListener('open', () => {
      // Events sent while the stream was down are gone: one refresh catches up.
      if (opened) void this.#refresh().catch(() => {});
      opened = true;
      this.#mode = 'events';
      this.#stopPolling();
      this.#say('Live: events');
    });
    source.addEventListener('message', (message: MessageEvent<string>) => this.#onEvent(message.data));
    source.addEventListener('error', () => {
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close();
        this.#startPolling();
      } else {
        this.#say('Live: events (reconnecting)');
      }
    });
  }

  #onEvent(data: string): void {
    let sessionId: string | undefined;
    try {
      const event = JSON.parse(data) as SessionEvent;
      sessionId = typeof event.detail?.session_id === 'string' ? event.detail.session_id : undefined;
    } catch {
      sessionId = undefined;
    }
    this.#pending.add(sessionId);
    // A burst of events (a forced take-over, a sweep) becomes one refresh.
    this.#debounce ??= window.setTimeout(() => {
      this.#debounce = undefined;
      const ids = [...this.#pending];
      this.#pending.clear();
      for (const id of ids) void this.#refresh(id).catch(() => {});
    }, 300);
  }

  #startPolling(): void {
    this.#mode = 'polling';
    this.#schedule(this.#delay);
  }

  #stopPolling(): void {
    if (this.#timer !== undefined) window.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delay: number | undefined): void {
    this.#stopPolling();
    if (document.hidden || delay === undefined) {
      this.#say('Live: paused while the tab is hidden');
      return;
    }
    this.#say(
      this.#delay > this.#poll
        ? `Live: server unreachable, retrying in ${Math.round(this.#delay / 1000)} s`
        : `Live: every ${this.#poll / 1000} s`,
    );
    this.#timer = window.setTimeout(() => void this.#pollOnce(), delay);
  }

  async #pollOnce(): Promise<void> {
    try {
      await this.#refresh();
      this.#delay = this.#poll;
    } catch {
      this.#delay = Math.min(this.#delay * 2, this.#maxBackoff);
    }
    this.#schedule(this.#delay);
  }

  #say(text: string): void {
    if (this.#state) this.#state.textContent = text;
  }
}
