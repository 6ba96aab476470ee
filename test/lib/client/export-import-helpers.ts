import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type CliIo, main } from '#lib/client/cli/main.ts';
import { SessionsClient } from '#lib/client/client.ts';
import type { ObjectStore, PrunableObjectStore } from '#lib/storage/port.ts';

// Read by the handlers when they load, so set before the server is imported below.
process.env.CAS_BASE_DELAY_MS = '0';
process.env.CAS_MAX_DELAY_MS = '0';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
delete process.env.SESSIONS_BUCKET;

/** What a run of the CLI wrote and answered. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `runner-sessions ARGV` in this process with buffers for stdout and stderr. */
export async function cli(argv: string[], extra: Partial<CliIo> = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
    env: {},
    retry: { maxAttempts: 1 },
    ...extra,
  };
  const code = await main(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

/** `runner-sessions export --url URL`, its lines parsed apart. */
export async function exportFrom(url: string): Promise<CliRun & { lines: string[] }> {
  const run = await cli(['export', '--url', url]);
  return { ...run, lines: run.out.split('\n').filter((line) => line !== '') };
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Today's local server on these stores, on a free port, without sweeps (a lapsing lease would change what it serves). */
export async function serve(store: ObjectStore, renewals: PrunableObjectStore): Promise<Served> {
  const { startLocalServer } = await import('#lib/local/server.ts');
  const server = await startLocalServer({ port: 0, store, renewals, leaseSweepSeconds: 0, console: false });
  return { url: server.url, close: () => server.close() };
}

/** Today's local server on the data directory `dataDir` (the embedded store), without sweeps. */
export async function serveDataDir(dataDir: string): Promise<Served> {
  const { startLocalServer } = await import('#lib/local/server.ts');
  const server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0, console: false });
  return { url: server.url, close: () => server.close() };
}

/** The sessions of a round trip, by what each stands for. */
export interface Variety {
  alphaActive: string;
  alphaPaused: string;
  betaCompleted: string;
  unnamedTerminated: string;
  held: string;
  released: string;
  takenOver: string;
  unicode: string;
}

/**
 * Sessions of every kind through the API at `url`, oldest first: two of one name (active with jobs, paused),
 * completed, terminated without a name, held (its lease extended by a heartbeat past the session's own expiry),
 * a lease released by a pause, a lease taken over by force, a name outside ASCII.
 */
export async function createVariety(url: string): Promise<Variety> {
  const client = new SessionsClient({ baseUrl: url, sign: false, retry: { maxAttempts: 1 } });
  const create = async (name?: string): Promise<string> => (await client.createSession({ name })).session.id;

  const alphaActive = await create('alpha');
  await client.addJob(alphaActive, 'job-1');
  await client.addJob(alphaActive, 'job-2');
  const alphaPaused = await create('alpha');
  await client.addJob(alphaPaused, 'job-3');
  await client.setStatus(alphaPaused, 'paused');
  const betaCompleted = await create('beta');
  await client.addJob(betaCompleted, 'job-4');
  await client.setStatus(betaCompleted, 'completed');
  const unnamedTerminated = await create();
  await client.setStatus(unnamedTerminated, 'terminated');
  const held = (await client.createSession({ name: 'held', leaseSeconds: 600, holder: 'runner-1' })).session.id;
  await client.heartbeat(held, 1, { seconds: 3600 });
  const released = await create('released');
  const acquired = await client.acquireLease(released, { holder: 'runner-2', seconds: 600 });
  await client.setStatus(released, 'paused', { leaseEpoch: acquired.session.lease!.epoch });
  const takenOver = await create('taken');
  await client.acquireLease(takenOver, { holder: 'runner-3', seconds: 600 });
  await client.acquireLease(takenOver, { holder: 'runner-4', seconds: 900, force: true });
  const unicode = await create('sessión ✓ 日本');
  return { alphaActive, alphaPaused, betaCompleted, unnamedTerminated, held, released, takenOver, unicode };
}

/** A temporary directory, removed by the returned function. */
export async function tempDir(purpose: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `runner-sessions-${purpose}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `lines` to a file in `dir`, one per line. */
export async function linesFile(dir: string, name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}
