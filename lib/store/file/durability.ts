import { randomBytes } from 'node:crypto';
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errorCode, identityOf, type FileIdentity } from './filesystem.ts';
import { SIDE_MARK } from './keys.ts';

/**
 * Makes the store's files and directory entries durable: temporary files
 * fsynced before they are linked into place, directories fsynced after.
 * Holds, per directory, the fsync running and the one queued behind it, so
 * that concurrent writes of one store share directory fsyncs. Sharing is only
 * an economy: an fsync covers every change made in the directory before it
 * began, whichever process or store made it.
 */
export class Durability {
  readonly #directorySyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

  /** Writes `bytes` to a new temporary file beside `file` and fsyncs it; returns its path and identity. */
  async writeTemporary(file: string, bytes: Uint8Array): Promise<{ path: string; info: FileIdentity }> {
    const temp = `${file}${SIDE_MARK}tmp-${randomBytes(8).toString('hex')}`;
    const handle = await open(temp, 'wx');
    let info: FileIdentity;
    try {
      await handle.writeFile(bytes);
      await handle.sync();
      info = identityOf(await handle.stat({ bigint: true }));
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw error;
    }
    await handle.close();
    return { path: temp, info };
  }

  /** Creates `dir` and any missing parents, and makes the new directory entries durable. */
  async ensureDirectory(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    // Each new directory's entry lives in its parent: sync the parent of the first one and every new one above `dir`.
    for (let current = dir; ; current = path.dirname(current)) {
      const parent = path.dirname(current);
      await this.syncDirectory(parent);
      if (current === first || parent === current) break;
    }
  }

  /**
   * Makes every entry change already made in `dir` durable. Callers that come
   * while an fsync of `dir` runs share one more fsync, started once it ends:
   * one that began before their change might not cover it, and one that
   * begins after it does, whoever asked for it.
   */
  syncDirectory(dir: string): Promise<void> {
    const syncs = this.#directorySyncs;
    const state = syncs.get(dir);
    if (state === undefined) {
      const running = fsyncDirectory(dir).finally(() => {
        if (syncs.get(dir)?.running === running && syncs.get(dir)?.next === undefined) syncs.delete(dir);
      });
      syncs.set(dir, { running });
      return running;
    }
    state.next ??= state.running
      .catch(() => {})
      .then(() => {
        const next = state.next!;
        state.running = next;
        state.next = undefined;
        return fsyncDirectory(dir);
      })
      .finally(() => {
        if (syncs.get(dir) === state && state.next === undefined) syncs.delete(dir);
      });
    return state.next;
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms cannot fsync a directory; there the rename is as durable as it gets.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes(errorCode(error) ?? '')) throw error;
  } finally {
    await handle.close();
  }
}
