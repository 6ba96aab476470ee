/**
 * The checks of a bucket's conditional writes, one semantic each: what
 * `probeStore` (`probe.ts`) writes and sends, and how it reads the answers.
 */
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ConditionNotMet, type WriteCondition, type WrittenObject } from './port.ts';
import { S3ObjectStore } from './s3.ts';

/** The semantics a probe checks, in the order it reports them. */
export type ProbeCheckName = 'create-only' | 'compare-and-swap' | 'missing-key-if-match' | 'versions' | 'versioned-conditions' | 'cleanup';

/** The checks whose failure makes a store unsafe for the service. */
export const REQUIRED_CHECKS: readonly ProbeCheckName[] = ['create-only', 'compare-and-swap', 'missing-key-if-match'];

/** One semantic, measured. */
export interface ProbeCheck {
  name: ProbeCheckName;
  /** True when the store behaved as Amazon S3 does (or, for `versions`, when the answer was clear). */
  ok: boolean;
  /** What was sent and what the store answered. */
  detail: string;
}

/** The checks that got no answer from the store at all (no region, no credentials, unreachable). */
const UNANSWERED = new WeakSet<ProbeCheck>();

/** True for a check that got no answer from the store at all. */
export function gotNoAnswer(check: ProbeCheck): boolean {
  return UNANSWERED.has(check);
}

/** The outcome of one conditional write. */
type WriteOutcome = { accepted: true; written: WrittenObject } | { accepted: false; answer: string };

/** One run's writes: the keys it uses and the requests it makes. */
export class Probe {
  readonly #bucket: string;
  readonly #client: S3Client;
  readonly #run: string;
  readonly #store: S3ObjectStore;
  /** Every key written to, with how many of its writes were accepted. */
  readonly #writes = new Map<string, number>();

  constructor(bucket: string, client: S3Client, run: string) {
    this.#bucket = bucket;
    this.#client = client;
    this.#run = run;
    this.#store = new S3ObjectStore({ bucket, client });
  }

  /** A create, then a second `If-None-Match: *` create of the same key, which must be refused. */
  async createOnly(): Promise<ProbeCheck> {
    const key = this.#key('create-only');
    return checked('create-only', async () => {
      const first = await this.#write(key, 'first', { ifNoneMatch: '*' });
      if (!first.accepted) return { ok: false, detail: `the first If-None-Match: * PUT of a new key was refused (${first.answer})` };
      const second = await this.#write(key, 'second', { ifNoneMatch: '*' });
      return second.accepted
        ? {
            ok: false,
            detail: `a second If-None-Match: * PUT of an existing key was accepted${versionNote(second.written)}: a create can overwrite`,
          }
        : { ok: true, detail: `a second If-None-Match: * PUT of an existing key was refused (${second.answer})` };
    });
  }

  /** A create, a change naming the current ETag (accepted), then a change naming the replaced one (refused). */
  async compareAndSwap(): Promise<ProbeCheck> {
    const key = this.#key('compare-and-swap');
    return checked('compare-and-swap', async () => {
      const created = await this.#write(key, 'version 1', { ifNoneMatch: '*' });
      if (!created.accepted) return { ok: false, detail: `the If-None-Match: * PUT of a new key was refused (${created.answer})` };
      const original = created.written.etag;
      const current = await this.#write(key, 'version 2', { ifMatch: original });
      const stale = await this.#write(key, 'version 3', { ifMatch: original });
      const onCurrent = current.accepted ? 'accepted' : `refused (${current.answer})`;
      const onStale = stale.accepted ? `accepted${versionNote(stale.written)}` : `refused (${stale.answer})`;
      return {
        ok: current.accepted && !stale.accepted,
        detail: `If-Match with the current ETag was ${onCurrent}; If-Match with a replaced ETag was ${onStale}`,
      };
    });
  }

  /** A change (`If-Match` with a well-formed ETag) of a key that was never written, which must be refused. */
  async missingKeyIfMatch(): Promise<ProbeCheck> {
    const key = this.#key('missing-key-if-match');
    return checked('missing-key-if-match', async () => {
      // The ETag of an empty object: well-formed, and held by no key the probe writes.
      const outcome = await this.#write(key, 'never', { ifMatch: '"d41d8cd98f00b204e9800998ecf8427e"' });
      return outcome.accepted
        ? { ok: false, detail: 'a PUT with If-Match on a key that does not exist was accepted: a change can create' }
        : { ok: true, detail: `a PUT with If-Match on a key that does not exist was refused (${outcome.answer})` };
    });
  }

  /**
   * Whether the bucket keeps versions: its versioning status, and whether the
   * listing shows more than one version of a key that took several writes.
   */
  async versions(): Promise<{ check: ProbeCheck; kept: boolean | undefined }> {
    let status: string | undefined;
    let statusAnswer: string;
    try {
      status = (await this.#client.send(new GetBucketVersioningCommand({ Bucket: this.#bucket }))).Status ?? 'never enabled';
      statusAnswer = `versioning ${status}`;
    } catch (error) {
      statusAnswer = `GetBucketVersioning failed (${describeError(error)})`;
    }
    const [key, writes] = [...this.#writes].reduce((most, entry) => (entry[1] > most[1] ? entry : most), ['', 0]);
    let listed: number | undefined;
    let listAnswer: string;
    try {
      listed = (await this.#listEntries()).filter((entry) => entry.Key === key).length;
      listAnswer = `ListObjectVersions shows ${listed} version${listed === 1 ? '' : 's'} of a key written ${writes} times`;
    } catch (error) {
      listAnswer = `ListObjectVersions failed (${describeError(error)})`;
    }
    // A bucket whose versioning was ever turned on (even suspended now) runs the server's versioned code paths.
    const fromStatus = status === undefined ? undefined : status === 'Enabled' || status === 'Suspended';
    const fromListing = listed === undefined || writes < 2 ? undefined : listed > 1;
    const kept = fromListing ?? fromStatus;
    const consistent = status !== 'Enabled' || fromListing !== false;
    return { check: { name: 'versions', ok: kept !== undefined && consistent, detail: `${statusAnswer}; ${listAnswer}` }, kept };
  }

  /** Deletes every version and delete marker under the run's prefix, then lists it again to show nothing is left. */
  async cleanup(): Promise<ProbeCheck> {
    return checked('cleanup', async () => {
      let entries: { Key: string; VersionId?: string }[];
      try {
        entries = await this.#listEntries();
      } catch (error) {
        // A server without version listings: delete the current object of each key written, and say so.
        for (const key of this.#writes.keys()) await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
        const left = await this.#listKeys();
        const unlisted = `ListObjectVersions failed (${describeError(error)}), so older versions, if any, were not deleted`;
        return left.length === 0
          ? { ok: true, detail: `deleted the current objects of ${this.#writes.size} keys under ${this.#run}; ${unlisted}` }
          : { ok: false, detail: `${left.length} objects left under ${this.#run} (${left.map(describeEntry).join(', ')}); ${unlisted}` };
      }
      for (const entry of entries) await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, ...entry }));
      const left = await this.#listEntries();
      return left.length === 0
        ? { ok: true, detail: `deleted ${entries.length} object version${entries.length === 1 ? '' : 's'} under ${this.#run}` }
        : { ok: false, detail: `${left.length} object versions left under ${this.#run}: ${left.map(describeEntry).join(', ')}` };
    });
  }

  #key(name: ProbeCheckName): string {
    return `${this.#run}${name}.json`;
  }

  async #write(key: string, body: string, condition: WriteCondition): Promise<WriteOutcome> {
    // Known before the write: a write that failed may still have happened, and cleanup must find it.
    const accepted = this.#writes.get(key) ?? 0;
    this.#writes.set(key, accepted);
    try {
      const written = await this.#store.putVersion(key, body, condition);
      this.#writes.set(key, accepted + 1);
      return { accepted: true, written };
    } catch (error) {
      if (!(error instanceof ConditionNotMet)) throw error;
      return { accepted: false, answer: describeError(error.cause) };
    }
  }

  /** Every version and delete marker under the run's prefix. */
  async #listEntries(): Promise<{ Key: string; VersionId?: string }[]> {
    const entries: { Key: string; VersionId?: string }[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectVersionsCommand({ Bucket: this.#bucket, Prefix: this.#run, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
      );
      for (const entry of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (entry.Key === undefined) continue;
        entries.push({ Key: entry.Key, ...(entry.VersionId === undefined ? {} : { VersionId: entry.VersionId }) });
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      versionIdMarker = more ? page.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    return entries;
  }

  async #listKeys(): Promise<{ Key: string }[]> {
    const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#run }));
    return (page.Contents ?? []).flatMap((entry) => (entry.Key === undefined ? [] : [{ Key: entry.Key }]));
  }
}

/** Whether the three conditions held on a bucket that keeps versions, where some servers stop enforcing them. */
export function versionedConditions(kept: boolean | undefined, checks: ProbeCheck[]): ProbeCheck {
  const name = 'versioned-conditions';
  if (kept === false) return { name, ok: true, detail: 'not applicable: the bucket keeps no versions' };
  const failed = checks.filter((check) => REQUIRED_CHECKS.includes(check.name) && !check.ok).map((check) => check.name);
  const bucket = kept ? 'on this versioned bucket' : 'on this bucket (whether it keeps versions is unknown)';
  return failed.length === 0
    ? { name, ok: true, detail: `create-only, compare-and-swap and missing-key If-Match all held ${bucket}` }
    : { name, ok: false, detail: `${failed.join(', ')} did not hold ${bucket}: the server does not enforce conditional writes here` };
}

/** Runs one check, turning an error the store raised into a failed check that names it. */
async function checked(name: ProbeCheckName, measure: () => Promise<{ ok: boolean; detail: string }>): Promise<ProbeCheck> {
  try {
    return { name, ...(await measure()) };
  } catch (error) {
    const check: ProbeCheck = { name, ok: false, detail: `could not run: ${describeError(error)}` };
    if (isUnanswered(error)) UNANSWERED.add(check);
    return check;
  }
}

/** True for an error that is no answer of the store: the request could not be signed or sent, or had no reply. */
function isUnanswered(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if (current instanceof S3ServiceException) return current.$metadata.httpStatusCode === undefined;
  }
  return true;
}

/** An S3 error as "412 PreconditionFailed"; anything else by its name and message. */
function describeError(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    return status === undefined ? error.name : `${status} ${error.name}`;
  }
  if (error instanceof Error) {
    const cause = error.cause === undefined ? '' : ` (${describeError(error.cause)})`;
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}

function versionNote(written: WrittenObject): string {
  return written.versionId === undefined ? '' : ' as a new version';
}

function describeEntry(entry: { Key: string; VersionId?: string }): string {
  return entry.VersionId === undefined ? entry.Key : `${entry.Key}@${entry.VersionId}`;
}
