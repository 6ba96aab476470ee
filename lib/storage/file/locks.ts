import { randomBytes } from 'node:crypto';
import { type FileHandle, link, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { TimeSource } from '../../common/clock.ts';
import { StoreFault } from '../port.ts';
import { errorCode, sameFile, statIfPresent } from './filesystem.ts';
import { SIDE_MARK } from './keys.ts';

/** This host's name, as lock files record it. */
const HOST = hostname();

interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

/** A complete lock file that this store hard-links as the lock of any key in its directory. */
interface LockDraft {
  path: string;
  made: Promise<{ ino: bigint; dev: bigint }>;
  /** Lock holders and waiters of this store using it; the last one out removes it. */
  users: number;
}

/**
 * The write locks of one store's keys: an in-store queue per key, then a
 * lock file `<object>~lock` created exclusively (a complete file hard-linked
 * into place), so writers in other processes, and other stores on the same
 * directory in this process, are kept out too. Each store links its own
 * draft file, so one lock file names exactly one holder: stores need no
 * registry shared between them. A lock left by a process that died is broken
 * when its pid no longer runs on this host, or once older than `staleMs`.
 * Waiting and staleness are measured on `clock`, against lock files' mtimes:
 * it must follow the filesystem's time.
 */
export class KeyLocks {
  readonly #timeoutMs: number;
  readonly #staleMs: number;
  readonly #clock: TimeSource;
  readonly #queues = new Map<string, Promise<void>>();
  readonly #drafts = new Map<string, LockDraft>();

  /** Called after an abandoned lock was broken, so that the caller can clean what its holder left. */
  readonly #onBroken: (() => void) | undefined;

  constructor({ timeoutMs, staleMs, clock, onBroken }: { timeoutMs: number; staleMs: number; clock: TimeSource; onBroken?: () => void }) {
    this.#onBroken = onBroken;
    this.#timeoutMs = timeoutMs;
    this.#staleMs = staleMs;
    this.#clock = clock;
  }

  /** Runs `critical` while holding the lock of the object file `file`: first in this store, then against everyone else. */
  withKeyLock<T>(file: string, critical: () => Promise<T>): Promise<T> {
    return this.#queued(file, async () => {
      const release = await this.#acquireLockFile(`${file}${SIDE_MARK}lock`);
      try {
        return await critical();
      } finally {
        await release();
      }
    });
  }

  /** Removes the lock of `file` when its holder is gone (see `withKeyLock`); a live one stays. */
  async breakIfAbandoned(file: string): Promise<void> {
    if ((await statIfPresent(`${file}${SIDE_MARK}lock`)) !== undefined) await this.#breakStaleLock(`${file}${SIDE_MARK}lock`);
  }

  /** Runs `critical` after every earlier holder of `id` in this store has finished. */
  async #queued<T>(id: string, critical: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.#queues.set(id, tail);
    await previous;
    try {
      return await critical();
    } finally {
      release();
      if (this.#queues.get(id) === tail) this.#queues.delete(id);
    }
  }

  #takeDraft(dir: string): LockDraft {
    let draft = this.#drafts.get(dir);
    if (draft === undefined) {
      const owner: LockOwner = { pid: process.pid, host: HOST, token: randomBytes(8).toString('hex') };
      const file = path.join(dir, `${SIDE_MARK}lock${SIDE_MARK}new-${owner.pid}-${owner.token}`);
      draft = { path: file, made: writeDraft(file, `${JSON.stringify(owner)}\n`), users: 0 };
      this.#drafts.set(dir, draft);
    }
    draft.users++;
    return draft;
  }

  async #dropDraft(dir: string, draft: LockDraft): Promise<void> {
    if (--draft.users > 0) return;
    if (this.#drafts.get(dir) === draft) this.#drafts.delete(dir);
    await unlink(draft.path).catch(() => {});
  }

  /**
   * Takes the lock file `lockPath`, waiting with jittered polling while another
   * holds it; returns the function that releases it. The lock is made whole
   * before it is linked into place, so it is never seen without its owner: it
   * is a link to a complete file this store keeps in the directory while it
   * holds or awaits locks there (`~lock~new-<hex>`), touched before each link
   * so that a lock is never older than its holding.
   * @throws StoreFault when it stays held for the lock timeout.
   */
  async #acquireLockFile(lockPath: string): Promise<() => Promise<void>> {
    const dir = path.dirname(lockPath);
    let draft = this.#takeDraft(dir);
    let held = false;
    try {
      const deadline = this.#clock.now() + this.#timeoutMs;
      for (let attempt = 0; ; attempt++) {
        let ours: { ino: bigint; dev: bigint };
        try {
          ours = await draft.made;
          const now = new Date(this.#clock.now());
          await utimes(draft.path, now, now);
          await link(draft.path, lockPath);
          held = true;
          const taken = draft;
          return async () => {
            // The draft first: a crash between the two leaves a lock of a dead process, which the next writer breaks and sweeps after.
            await this.#dropDraft(dir, taken);
            await releaseLockFile(lockPath, ours);
          };
        } catch (error) {
          if (errorCode(error) === 'ENOENT' && (await statIfPresent(dir)) !== undefined) {
            // The draft is gone (removed by hand, or its making failed): make a new one.
            if (this.#drafts.get(dir) === draft) this.#drafts.delete(dir);
            await this.#dropDraft(dir, draft);
            draft = this.#takeDraft(dir);
            if (this.#clock.now() >= deadline) throw new StoreFault(`timed out waiting for the lock ${lockPath}`, { cause: error });
            continue;
          }
          if (errorCode(error) !== 'EEXIST') throw error;
        }
        if (await this.#breakStaleLock(lockPath)) continue;
        if (this.#clock.now() >= deadline) throw new StoreFault(`timed out waiting for the lock ${lockPath}`);
        await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * Math.min(2 ** attempt, 25)));
      }
    } finally {
      if (!held) await this.#dropDraft(dir, draft);
    }
  }

  /**
   * Removes the lock at `lockPath` when it is abandoned: its owner's pid is gone
   * on this host, or it is older than the stale age. Returns true when the
   * caller should try to take the lock again at once.
   */
  async #breakStaleLock(lockPath: string): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(lockPath, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return true;
      throw error;
    }
    try {
      const info = await handle.stat();
      const text = await handle.readFile('utf-8');
      if (!this.#isAbandoned(text, info.mtimeMs)) return false;
      // Move the lock aside, then check it is the very file judged abandoned: its inode cannot be reused while we hold it open.
      const aside = `${lockPath}${SIDE_MARK}stale-${randomBytes(8).toString('hex')}`;
      try {
        await rename(lockPath, aside);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return true;
        throw error;
      }
      const moved = await stat(aside);
      if (moved.ino !== info.ino || moved.dev !== info.dev) {
        // Another waiter broke it first and a live writer took the name: put that writer's lock back.
        await link(aside, lockPath).catch(() => {});
      }
      await unlink(aside);
      this.#onBroken?.();
      return true;
    } finally {
      await handle.close();
    }
  }

  #isAbandoned(text: string, mtimeMs: number): boolean {
    return this.#clock.now() - mtimeMs > this.#staleMs || ownerIsGone(text);
  }
}

/** True when `text` is a lock or draft of a process on this host that no longer runs. */
export function ownerIsGone(text: string): boolean {
  let owner: Partial<LockOwner>;
  try {
    owner = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    return false; // not a lock this store wrote: only age can tell
  }
  return owner.host === HOST && typeof owner.pid === 'number' && owner.pid !== process.pid && !processRuns(owner.pid);
}

async function writeDraft(file: string, content: string): Promise<{ ino: bigint; dev: bigint }> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(content);
    const { ino, dev } = await handle.stat({ bigint: true });
    return { ino, dev };
  } finally {
    await handle.close();
  }
}

async function releaseLockFile(lockPath: string, ours: { ino: bigint; dev: bigint }): Promise<void> {
  // Only our own lock: a stale-lock breaker may have removed ours and another writer taken the name.
  // Ours is a link to this store's draft, which no one else links, and only this key's holder links it to this name.
  const present = await stat(lockPath, { bigint: true }).catch(() => undefined);
  if (present !== undefined && sameFile(present, ours)) await unlink(lockPath).catch(() => {});
}

/** True when a process with this pid runs on this host. */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}
