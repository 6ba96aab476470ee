/** What a run of the bench ran on, for the head of bench/RESULTS.md. */

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** Filesystem of the temporary directory, where the bench's data directories live. */
  tmpFilesystem: string;
  date: string;
  commit: string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function run(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd: ROOT, timeout: 10_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** CPU, cores, memory, Node.js, OS, temporary filesystem, date and commit of this run. */
export async function describeMachine(): Promise<Machine> {
  const cpus = os.cpus();
  const release = await readFile('/etc/os-release', 'utf-8').catch(() => '');
  const distribution = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1];
  const head = await run('git', ['rev-parse', 'HEAD']);
  const dirty = await run('git', ['status', '--porcelain']);
  const fstype = (await run('df', ['--output=fstype', os.tmpdir()]))?.split('\n').at(-1);
  return {
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'}${cpus[0]?.speed ? ` (${cpus[0].speed} MHz)` : ''}`,
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    os: `${distribution ?? os.type()} (${os.type()} ${os.release()}, ${os.arch()})`,
    tmpFilesystem: `${os.tmpdir()} on ${fstype ?? 'unknown'}`,
    date: new Date().toISOString(),
    commit: head === undefined ? 'unknown (not a git checkout)' : `${head}${dirty ? ' with uncommitted changes' : ''}`,
  };
}
