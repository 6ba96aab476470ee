import {
  type KeyListOptions,
  keepsVersions,
  type ListPage,
  type ObjectStore,
  type StoredObject,
  StoreFault,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from './port.ts';

/** A port operation, as faults are aimed at them. */
export type StoreOperation = 'get' | 'put' | 'list' | 'putVersion' | 'listVersions' | 'getVersion';

/** The operations that write. */
const WRITES: ReadonlySet<StoreOperation> = new Set(['put', 'putVersion']);

/** One call made to the store, as a fault policy sees it. */
export interface StoreCall {
  operation: StoreOperation;
  /** The key, or for `list` the prefix. */
  key: string;
  /** 1 for the first call of this operation on this store, 2 for the next, and so on. */
  nth: number;
}

/**
 * What goes wrong with a call:
 * - `unavailable`: the call fails with StoreFault before it reaches the store (nothing is written);
 * - `lost-answer`: the call reaches the store (a write lands) and then fails with StoreFault,
 *   as when the answer is lost on the way back.
 */
export type FaultKind = 'unavailable' | 'lost-answer';

/** A fault for one call: a failure, a delay before the call reaches the store, or both. */
export interface Fault {
  kind?: FaultKind;
  delayMs?: number;
}

/** Decides the fault, if any, of each call, in the order the calls are made. */
export type FaultPolicy = (call: StoreCall) => Fault | undefined;

/** A fault injected, with the call it was injected into. */
export interface InjectedFault extends StoreCall, Fault {}

/** A fault aimed at the `nth` call of an operation (`write`: put or putVersion), counted among calls on `key` when given. */
export interface ScheduledFault extends Fault {
  operation: StoreOperation | 'write';
  nth: number;
  key?: string;
}

/** The policy that injects exactly the `scheduled` faults, each once. */
export function faultSchedule(scheduled: readonly ScheduledFault[]): FaultPolicy {
  const seen = new Map<ScheduledFault, number>();
  return (call) => {
    let fault: Fault | undefined;
    for (const entry of scheduled) {
      const aimed = entry.operation === 'write' ? WRITES.has(call.operation) : entry.operation === call.operation;
      if (!aimed || (entry.key !== undefined && entry.key !== call.key)) continue;
      const count = (seen.get(entry) ?? 0) + 1;
      seen.set(entry, count);
      if (count === entry.nth) fault ??= faultOf(entry.kind, entry.delayMs);
    }
    return fault;
  };
}

export interface SeededFaultOptions {
  seed: number;
  /** Chance that a call fails before it reaches the store. Default 0. */
  unavailable?: number;
  /** Chance that a write lands and its answer is lost. Default 0. */
  lostAnswer?: number;
  /** Each call is delayed by a whole number of ms from 0 to this. Default 0: no delay. */
  maxDelayMs?: number;
}

/**
 * A policy drawing faults from a pseudo-random sequence seeded by `seed`: the
 * same seed and the same order of calls give the same faults.
 */
export function seededFaults({ seed, unavailable = 0, lostAnswer = 0, maxDelayMs = 0 }: SeededFaultOptions): FaultPolicy {
  const next = mulberry32(seed);
  return (call) => {
    // Three draws a call whatever the outcome, so that a fault never shifts the faults of later calls.
    const [failure, loss, delay] = [next(), next(), next()];
    const delayMs = Math.floor(delay * (maxDelayMs + 1));
    const lost = WRITES.has(call.operation) && loss < lostAnswer;
    const kind: FaultKind | undefined = failure < unavailable ? 'unavailable' : lost ? 'lost-answer' : undefined;
    return kind === undefined && delayMs === 0 ? undefined : faultOf(kind, delayMs || undefined);
  };
}

/** A fault with only the fields that are set. */
function faultOf(kind: FaultKind | undefined, delayMs: number | undefined): Fault {
  return { ...(kind === undefined ? {} : { kind }), ...(delayMs === undefined ? {} : { delayMs }) };
}

/** A fast 32-bit generator of numbers in [0, 1), enough to draw faults from. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface FaultInjectionOptions {
  /** Which calls fail or wait. Default none: change it at any time through `policy`. */
  policy?: FaultPolicy;
  /** How a delay is waited out. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

const timerSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A store in front of another that makes calls fail or wait as its policy
 * says: a call that fails before reaching the store, a write that lands and
 * then fails (a lost answer, which a caller cannot tell from a failure), and
 * latency. Failures are the port's StoreFault. Deterministic for a
 * deterministic policy and order of calls; records every fault it injected.
 */
export class FaultInjectingStore implements ObjectStore {
  /** The policy for the calls to come. */
  policy: FaultPolicy;
  /** Every fault injected so far, in order. */
  readonly injected: InjectedFault[] = [];
  readonly #inner: ObjectStore;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #calls = new Map<StoreOperation, number>();

  constructor(inner: ObjectStore, options: FaultInjectionOptions = {}) {
    this.#inner = inner;
    this.policy = options.policy ?? (() => undefined);
    this.#sleep = options.sleep ?? timerSleep;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.intercept('get', key, () => this.#inner.get(key));
  }

  put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return this.intercept('put', key, () => this.#inner.put(key, body, condition));
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return this.intercept('list', prefix, () => this.#inner.list(prefix, options));
  }

  /** Runs `call` on the inner store with the fault the policy gives it. */
  protected async intercept<T>(operation: StoreOperation, key: string, call: () => Promise<T>): Promise<T> {
    const nth = (this.#calls.get(operation) ?? 0) + 1;
    this.#calls.set(operation, nth);
    const fault = this.policy({ operation, key, nth });
    if (fault === undefined || (fault.kind === undefined && !fault.delayMs)) return call();
    this.injected.push({ operation, key, nth, ...fault });
    if (fault.delayMs) await this.#sleep(fault.delayMs);
    if (fault.kind === 'unavailable') throw new StoreFault(`injected fault: ${operation} ${key} failed before reaching the store`);
    const result = await call();
    if (fault.kind === 'lost-answer') throw new StoreFault(`injected fault: the answer to ${operation} ${key} was lost`);
    return result;
  }
}

/** A {@link FaultInjectingStore} in front of a store that keeps versions, with its version operations faulted too. */
export class FaultInjectingVersionedStore extends FaultInjectingStore implements VersionedObjectStore {
  readonly #inner: VersionedObjectStore;

  constructor(inner: VersionedObjectStore, options: FaultInjectionOptions = {}) {
    super(inner, options);
    this.#inner = inner;
  }

  putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    return this.intercept('putVersion', key, () => this.#inner.putVersion(key, body, condition));
  }

  listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    return this.intercept('listVersions', key, () => this.#inner.listVersions(key, options));
  }

  getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    return this.intercept('getVersion', key, () => this.#inner.getVersion(key, versionId));
  }
}

/** `store` behind fault injection, keeping versions when `store` does. */
export function injectFaults(store: VersionedObjectStore, options?: FaultInjectionOptions): FaultInjectingVersionedStore;
export function injectFaults(store: ObjectStore, options?: FaultInjectionOptions): FaultInjectingStore;
export function injectFaults(store: ObjectStore, options: FaultInjectionOptions = {}): FaultInjectingStore {
  return keepsVersions(store) ? new FaultInjectingVersionedStore(store, options) : new FaultInjectingStore(store, options);
}
