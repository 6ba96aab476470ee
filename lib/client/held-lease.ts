import { hostname } from 'node:os';
import { LEASE_SECONDS, type Lease } from '../domain/session.ts';
import type { AcquireLeaseOptions, HeartbeatOptions, SessionsClient } from './client.ts';
import { LeaseLoss, LeaseLostError, SessionsApiError, SessionsNetworkError } from './errors.ts';

/**
 * The holder name a lease is taken under unless one is given: `HOST:PID`, unique to this process, so
 * that two processes never pass for one holder (a name is not proof of holding a lease; its epoch is).
 */
export function defaultHolder(): string {
  return `${hostname()}:${process.pid}`.slice(0, 256);
}

/** What `holdLease` needs of the client. */
export type LeaseApi = Pick<SessionsClient, 'acquireLease'> & {
  heartbeat(id: string, epoch: number, options?: HeartbeatOptions): Promise<Lease>;
};

/** Options of `holdLease`. */
export interface HoldLeaseOptions extends AcquireLeaseOptions {
  /** Lease length in seconds, 5–3600 (default 60); each heartbeat extends the lease by this much. */
  seconds?: number | undefined;
  /** A lease already held, as its acquire answered it: kept from now on, with no request first. */
  lease?: Lease | undefined;
  /** The epoch of a lease already held whose expiry is not known: confirmed by a heartbeat at once. */
  epoch?: number | undefined;
  /** How long before the lease's end the holder stops believing it holds it, in ms (default: a tenth of the lease, at least 1 s). */
  safetyMarginMs?: number | undefined;
  /** Wall-clock milliseconds (default `Date.now`). */
  now?: (() => number) | undefined;
  /** In [0, 1), for the jitter (default `Math.random`). */
  random?: (() => number) | undefined;
}

/** A lease kept alive in the background. */
export interface HeldLease {
  readonly sessionId: string;
  /** The epoch held: send it as `leaseEpoch` with every change. */
  readonly epoch: number;
  /** The lease as the last accepted heartbeat (or the acquire) answered it. */
  readonly lease: Lease;
  /** Aborts when the lease is lost, with a `LeaseLoss` as its `reason`; never aborted by `stop()`. */
  readonly signal: AbortSignal;
  /** Why the lease was lost, once it is. */
  readonly lost: LeaseLoss | undefined;
  /** Until when (wall-clock ms) the lease is believed held: its expiry less the safety margin. */
  readonly heldUntil: number;
  /** Stops heartbeating, after the heartbeat in flight has answered; the lease is left to the caller (release it by a status change). */
  stop(): Promise<void>;
}

/**
 * Holds the lease on session `id`: acquires it (unless `lease` or `epoch` says it is held), then
 * heartbeats every third of the lease, a little early by a random jitter. A heartbeat that fails for a
 * transient reason (no answer, 503, 429) is tried again until the lease would run out. The lease is lost —
 * `signal` aborts with a `LeaseLoss` — when a heartbeat answers `lease_lost` (superseded, expired or
 * released), is refused otherwise, or when the lease's expiry less a safety margin passes without an
 * accepted heartbeat: the holder never believes it holds a lease the service may already have let go.
 *
 * @throws LeaseHeldError, LeaseLostError, SessionsApiError, SessionsNetworkError when the first acquire or
 *   confirming heartbeat fails: then nothing runs in the background.
 */
export async function holdLease(api: LeaseApi, id: string, options: HoldLeaseOptions = {}): Promise<HeldLease> {
  const now = options.now ?? Date.now;
  const seconds = options.seconds ?? options.lease?.seconds ?? LEASE_SECONDS.default;
  const sentAt = now();
  let lease: Lease;
  if (options.lease !== undefined) {
    lease = options.lease;
  } else if (options.epoch !== undefined) {
    lease = await api.heartbeat(id, options.epoch, { seconds });
  } else {
    const { session } = await api.acquireLease(id, { holder: options.holder, seconds, force: options.force });
    if (session.lease == null) throw new TypeError(`the acquire of session ${id} answered a session without a lease`);
    lease = session.lease;
  }
  const holder = new LeaseHolder(api, id, seconds, { now, random: options.random ?? Math.random, safetyMarginMs: options.safetyMarginMs });
  // A lease handed in was acquired at some unknown time before now: its own expiry is all there is to go by.
  holder.start(lease, options.lease === undefined ? sentAt : undefined);
  return holder;
}

interface HolderClock {
  now: () => number;
  random: () => number;
  safetyMarginMs: number | undefined;
}

class LeaseHolder implements HeldLease {
  readonly sessionId: string;
  readonly #api: LeaseApi;
  readonly #seconds: number;
  readonly #clock: HolderClock;
  readonly #loss = new AbortController();
  readonly #stopping = new AbortController();
  #lease!: Lease;
  #heldUntil = 0;
  #beatTimer: ReturnType<typeof setTimeout> | undefined;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #lastFailure: unknown;

  constructor(api: LeaseApi, id: string, seconds: number, clock: HolderClock) {
    this.sessionId = id;
    this.#api = api;
    this.#seconds = seconds;
    this.#clock = clock;
  }

  get epoch(): number {
    return this.#lease.epoch;
  }

  get lease(): Lease {
    return this.#lease;
  }

  get signal(): AbortSignal {
    return this.#loss.signal;
  }

  get lost(): LeaseLoss | undefined {
    return this.#loss.signal.aborted ? (this.#loss.signal.reason as LeaseLoss) : undefined;
  }

  get heldUntil(): number {
    return this.#heldUntil;
  }

  start(lease: Lease, sentAt: number | undefined): void {
    this.#accept(lease, sentAt);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#clearTimers();
    await this.#inFlight;
  }

  get #ended(): boolean {
    return this.#loss.signal.aborted || this.#stopping.signal.aborted;
  }

  /** Takes `lease` as held until its expiry less the margin — never later than `sentAt` plus its length, whatever the clocks say. */
  #accept(lease: Lease, sentAt: number | undefined): void {
    this.#lease = lease;
    this.#lastFailure = undefined;
    const margin = this.#clock.safetyMarginMs ?? Math.max(1000, lease.seconds * 100);
    const ends = Math.min(lease.expires_at * 1000, sentAt === undefined ? Infinity : sentAt + lease.seconds * 1000);
    this.#heldUntil = ends - margin;
    this.#clearTimers();
    const left = this.#heldUntil - this.#clock.now();
    this.#expiryTimer = setTimeout(() => this.#lose('expired', undefined, this.#lastFailure), Math.max(0, left));
    // A third of the lease, up to a fifth of that earlier, so that runners started together spread out.
    const interval = ((this.#seconds * 1000) / 3) * (1 - 0.2 * this.#clock.random());
    this.#beatTimer = setTimeout(
      () => {
        this.#inFlight = this.#beat().finally(() => (this.#inFlight = undefined));
      },
      Math.max(0, Math.min(interval, left)),
    );
  }

  async #beat(): Promise<void> {
    while (!this.#ended) {
      const sentAt = this.#clock.now();
      try {
        const lease = await this.#api.heartbeat(this.sessionId, this.epoch, { seconds: this.#seconds, signal: this.#loss.signal });
        if (this.#loss.signal.aborted) return;
        if (this.#stopping.signal.aborted) this.#lease = lease;
        else this.#accept(lease, sentAt);
        return;
      } catch (error) {
        if (this.#ended) return;
        if (error instanceof LeaseLostError) return this.#lose(error.reason ?? 'expired', error.epoch, error);
        if (!isTransient(error)) return this.#lose('refused', undefined, error);
        this.#lastFailure = error;
        await pause(this.#retryPause(), AbortSignal.any([this.#loss.signal, this.#stopping.signal]));
      }
    }
  }

  /** A short wait before another try, well inside what is left of the lease. */
  #retryPause(): number {
    const left = this.#heldUntil - this.#clock.now();
    return Math.max(0, Math.min(2000, left / 4) * (0.5 + 0.5 * this.#clock.random()));
  }

  #lose(reason: LeaseLoss['reason'], epoch: number | undefined, cause: unknown): void {
    if (this.#ended) return;
    this.#clearTimers();
    this.#loss.abort(new LeaseLoss(this.sessionId, reason, this.epoch, epoch, cause === undefined ? undefined : { cause }));
  }

  #clearTimers(): void {
    clearTimeout(this.#beatTimer);
    clearTimeout(this.#expiryTimer);
  }
}

/** No answer, or an answer that says try later: the next heartbeat may well get through. */
function isTransient(error: unknown): boolean {
  return error instanceof SessionsNetworkError || (error instanceof SessionsApiError && error.retryable);
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
