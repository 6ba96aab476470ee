/**
 * A store that tells of each session write: the local server writes through
 * it so that the announcer hears of every session that may have changed,
 * while nothing in the repository knows.
 *
 * @module
 */

import { idFromKey } from '../domain/ids.ts';
import {
  ConditionNotMet,
  isPrunable,
  type KeyListOptions,
  type ListPage,
  type ObjectPage,
  type PrunableObjectStore,
  type StoredObject,
  type VersionedObjectStore,
  type VersionListOptions,
  type VersionPage,
  type WriteCondition,
  type WrittenObject,
} from '../storage/port.ts';

/**
 * `inner`, reporting the session ID of every session write that may have
 * landed (it succeeded, or failed in a way that leaves it unknown) to
 * `onSessionWrite`. It keeps the capabilities of `inner` (versions, pruning).
 */
export function hintingStore(inner: VersionedObjectStore, onSessionWrite: (sessionId: string) => void): VersionedObjectStore {
  return isPrunable(inner) ? new PrunableHintingStore(inner, onSessionWrite) : new HintingStore(inner, onSessionWrite);
}

class HintingStore implements VersionedObjectStore {
  protected readonly inner: VersionedObjectStore;
  readonly #onSessionWrite: (sessionId: string) => void;

  constructor(inner: VersionedObjectStore, onSessionWrite: (sessionId: string) => void) {
    this.inner = inner;
    this.#onSessionWrite = onSessionWrite;
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.inner.get(key);
  }

  async put(key: string, body: string, condition: WriteCondition): Promise<string> {
    return (await this.putVersion(key, body, condition)).etag;
  }

  async putVersion(key: string, body: string, condition: WriteCondition): Promise<WrittenObject> {
    const id = idFromKey(key);
    try {
      const written = await this.inner.putVersion(key, body, condition);
      if (id !== undefined) this.#onSessionWrite(id);
      return written;
    } catch (error) {
      // A refused write stored nothing; any other failure may have stored the version.
      if (id !== undefined && !(error instanceof ConditionNotMet)) this.#onSessionWrite(id);
      throw error;
    }
  }

  list(prefix: string, options: KeyListOptions): Promise<ListPage> {
    return this.inner.list(prefix, options);
  }

  listVersions(key: string, options: VersionListOptions): Promise<VersionPage> {
    return this.inner.listVersions(key, options);
  }

  getVersion(key: string, versionId: string): Promise<StoredObject | undefined> {
    return this.inner.getVersion(key, versionId);
  }
}

class PrunableHintingStore extends HintingStore implements PrunableObjectStore {
  readonly #prunable: PrunableObjectStore;

  constructor(inner: VersionedObjectStore & PrunableObjectStore, onSessionWrite: (sessionId: string) => void) {
    super(inner, onSessionWrite);
    this.#prunable = inner;
  }

  listObjects(prefix: string, options: KeyListOptions): Promise<ObjectPage> {
    return this.#prunable.listObjects(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.#prunable.delete(key);
  }
}
