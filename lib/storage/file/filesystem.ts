import type { BigIntStats } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';

/** What identifies one state of one file: its inode, when that inode was born, and its size and content time. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  birthtimeNs: bigint;
  mtimeNs: bigint;
  size: bigint;
}

/** The identity of the file `info` describes. */
export function identityOf(info: BigIntStats): FileIdentity {
  return { dev: info.dev, ino: info.ino, birthtimeNs: info.birthtimeNs, mtimeNs: info.mtimeNs, size: info.size };
}

/** True when both describe the same file in the same state. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.birthtimeNs === b.birthtimeNs && a.mtimeNs === b.mtimeNs && a.size === b.size;
}

/** True when both name the same inode: two links of one file. */
export function sameFile(a: { ino: bigint; dev: bigint }, b: { ino: bigint; dev: bigint }): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/** The `code` of a Node filesystem error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the error says the file (or a directory on its path) does not exist. */
export function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The stat of `file`, or undefined when there is none. */
export async function statIfPresent(file: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(file, { bigint: true });
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** The bytes of `file`, or undefined when there is none. */
export async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** Makes every entry change already made in `dir` durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
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
