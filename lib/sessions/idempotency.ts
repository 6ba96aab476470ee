import { createHash } from 'node:crypto';
import { ConflictRetry, InvalidRequest } from '../domain/errors.ts';
import { isSessionId } from '../domain/ids.ts';
import { SessionNameSchema } from '../domain/session.ts';
import { parseStoredObject } from '../domain/stored-object.ts';
import * as z from '../domain/zod.ts';
import { ConditionNotMet, type ObjectStore } from '../storage/port.ts';

/** Longest `Idempotency-Key` a caller may send. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

/** An `Idempotency-Key` as callers may send it: 1–255 printable ASCII characters (it is hashed, never stored or echoed). */
export const IDEMPOTENCY_KEY_PATTERN = new RegExp(`^[\\x20-\\x7e]{1,${IDEMPOTENCY_KEY_MAX_LENGTH}}$`);

/** Every idempotency record lives under this prefix (a bucket lifecycle rule expires it). */
export const IDEMPOTENCY_PREFIX = 'idempotency/';

/** What a repeat must ask for again to get the recorded session: the body of `POST /sessions`. */
export interface CreateRequest {
  name: string | null;
  /** Set when the session is opened held. */
  lease_seconds?: number;
  holder?: string;
}

/**
 * `idempotency/<sha256 hex>.json`: which session a create with a given
 * `Idempotency-Key` opened, for which request, and when.
 */
export const IdempotencyRecordSchema = z.looseObject({
  session_id: z.string().check(z.refine(isSessionId)),
  request: z.looseObject({ name: z.nullable(SessionNameSchema), lease_seconds: z.optional(z.number()), holder: z.optional(z.string()) }),
  /** Unix seconds; the record answers repeats until `created_at + window`. */
  created_at: z.number().check(z.int(), z.nonnegative()),
});
export type IdempotencyRecord = z.infer<typeof IdempotencyRecordSchema>;

/** The outcome of presenting a key. */
export interface Claim {
  record: IdempotencyRecord;
  /**
   * True when this request took the key (its first use, or its first use since
   * the record expired): it creates the session. False for a repeat: the
   * session is the recorded one, whether or not it exists yet.
   */
  claimed: boolean;
}

export interface ClaimRequest {
  /** The caller; keys are scoped to it, so two principals never share a record. */
  actor: string | undefined;
  /** The `Idempotency-Key` as sent. */
  key: string;
  request: CreateRequest;
  /** A fresh session ID and its creation time, for a claim. */
  draw: () => { id: string; createdAt: number };
}

export interface IdempotencyRecordsOptions {
  store: ObjectStore;
  /** How long a record answers repeats of its key. */
  windowSeconds: number;
  /** Milliseconds since the epoch. */
  clock: () => number;
}

/** Attempts at claiming or reading one key before giving up: each lost race means the record changed in between. */
const CLAIM_ATTEMPTS = 4;

/**
 * The storage key of the record for `key` sent by `actor`: a hash of both,
 * so that keys of any content make safe object names and one principal's
 * key can never find another's session.
 */
export function idempotencyRecordKey(actor: string | undefined, key: string): string {
  const scoped = JSON.stringify([actor ?? null, key]);
  return `${IDEMPOTENCY_PREFIX}${createHash('sha256').update(scoped, 'utf-8').digest('hex')}.json`;
}

/**
 * The idempotency records of `POST /sessions`. A key is claimed by a
 * create-only write of its record, so of any number of concurrent first
 * requests exactly one claims it; the others, and every later repeat, read
 * the record and answer its session. A record older than the window is
 * replaced by a compare-and-swap (`If-Match` its ETag), so the key can open a
 * new session.
 */
export class IdempotencyRecords {
  readonly #store: ObjectStore;
  readonly #windowSeconds: number;
  readonly #clock: () => number;

  constructor({ store, windowSeconds, clock }: IdempotencyRecordsOptions) {
    this.#store = store;
    this.#windowSeconds = windowSeconds;
    this.#clock = clock;
  }

  /**
   * Claims `key` for a new session, or finds the session an earlier request
   * with the same key opened. Costs one write on first use; a repeat costs that
   * refused write and one read.
   * @throws InvalidRequest when the key was used for a different request within the window.
   * @throws StoreFault, ConflictRetry (the record kept changing under us).
   */
  async claim({ actor, key, request, draw }: ClaimRequest): Promise<Claim> {
    const recordKey = idempotencyRecordKey(actor, key);
    // Unknown until refused: the first write assumes the key is new, the common case.
    let seen: { record: IdempotencyRecord; etag: string } | undefined;
    let drawn: IdempotencyRecord | undefined;
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      if (seen === undefined || this.#expired(seen.record)) {
        const { id, createdAt } = draw();
        drawn = { session_id: id, request: { ...request }, created_at: createdAt };
        const condition = seen === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: seen.etag };
        if (await this.#write(recordKey, JSON.stringify(drawn), condition)) return { record: drawn, claimed: true };
      }
      seen = await this.#read(recordKey);
      if (seen === undefined || this.#expired(seen.record)) continue;
      // Our own write, whose answer was lost and whose retry was then refused by it.
      if (seen.record.session_id === drawn?.session_id) return { record: seen.record, claimed: true };
      const difference = differenceOf(seen.record.request, request);
      if (difference !== undefined) {
        throw InvalidRequest.field(
          'headers.idempotency-key',
          `was already used for a different request (${difference}); use a new key for a new session`,
        );
      }
      return { record: seen.record, claimed: false };
    }
    throw new ConflictRetry(drawn?.session_id ?? '', CLAIM_ATTEMPTS);
  }

  #expired(record: IdempotencyRecord): boolean {
    return Math.floor(this.#clock() / 1000) >= record.created_at + this.#windowSeconds;
  }

  /** True when written; false when the condition did not hold. */
  async #write(key: string, body: string, condition: { ifNoneMatch: '*' } | { ifMatch: string }): Promise<boolean> {
    try {
      await this.#store.put(key, body, condition);
      return true;
    } catch (error) {
      if (error instanceof ConditionNotMet) return false;
      throw error;
    }
  }

  async #read(key: string): Promise<{ record: IdempotencyRecord; etag: string } | undefined> {
    const stored = await this.#store.get(key);
    if (stored === undefined) return undefined;
    return { record: parseRecord(key, stored.body), etag: stored.etag };
  }
}

function parseRecord(key: string, body: string): IdempotencyRecord {
  const record = parseStoredObject(body, IdempotencyRecordSchema);
  if (record instanceof Error) throw new Error(`stored object ${key} is not an idempotency record`, { cause: record });
  return record;
}

/** How a repeat differs from what the first request asked, if it does (records written before leases have no lease fields). */
function differenceOf(recorded: CreateRequest, request: CreateRequest): string | undefined {
  if (recorded.name !== request.name) return 'another name';
  const sameLease =
    (recorded.lease_seconds ?? null) === (request.lease_seconds ?? null) && (recorded.holder ?? null) === (request.holder ?? null);
  return sameLease ? undefined : 'another lease';
}
