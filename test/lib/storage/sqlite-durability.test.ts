import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';

/**
 * The proofs that the SQLite store keeps every acknowledged write: two
 * servers on one data directory with one of them stopped for longer than any
 * lock timeout, a full disk, and a filesystem that turns read-only.
 */

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Served {
  url: string;
  child: ChildProcess;
}

/** `npm start` on `dataDir`, once it listens. */
async function serve(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, ['lib/local/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '', DATA_DIR: dataDir, SESSIONS_BUCKET: '', LOCAL_TOKEN: '', LOCAL_TOKEN_FILE: '' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  cleanups.push(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  });
  // Read to the end: its log lines would fill the pipe and block it.
  let out = '';
  let listening = false;
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (listening) return;
      out += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(out);
      if (found) {
        listening = true;
        resolve({ url: found[1]!, child });
      }
    });
    child.on('exit', () => reject(new Error(`the server did not start: ${out}`)));
  });
}

async function createSession(url: string): Promise<string> {
  const response = await fetch(`${url}/sessions`, { method: 'POST' });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

/** POSTs `job` to the session; true when acknowledged (2xx). */
async function addJob(
  url: string,
  id: string,
  job: string,
  timeoutMs = 40_000,
): Promise<{ status: number; retryAfter: string | null; code?: string }> {
  try {
    const response = await fetch(`${url}/sessions/${id}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: job }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { error?: { code: string } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), ...(body.error && { code: body.error.code }) };
  } catch {
    return { status: 0, retryAfter: null };
  }
}

async function jobsOf(url: string, id: string): Promise<string[]> {
  const response = await fetch(`${url}/sessions/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { job_ids: string[] }).job_ids;
}

/** Every acknowledged job is in its session exactly once, and no job is there twice. */
async function expectAllOnce(url: string, acknowledged: Map<string, string[]>): Promise<void> {
  for (const [id, jobs] of acknowledged) {
    const stored = await jobsOf(url, id);
    expect(new Set(stored).size, `duplicates in ${id}`).toBe(stored.length);
    const present = new Set(stored);
    expect(
      jobs.filter((job) => !present.has(job)),
      `acknowledged but lost in ${id}`,
    ).toEqual([]);
  }
}

describe('two servers on one data directory', () => {
  it('loses and duplicates no acknowledged append while one is stopped (SIGSTOP) for 12 s, three times, under load; nor after both are killed', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sqlite-two-servers-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const servers = [await serve(dataDir), await serve(dataDir)];
    const sessions = await Promise.all(Array.from({ length: 4 }, () => createSession(servers[0]!.url)));
    const acknowledged = new Map<string, string[]>(sessions.map((id) => [id, []]));
    const outcomes = new Map<number, number>();
    let stop = false;

    const load = Array.from({ length: 8 }, async (_, lane) => {
      const server = servers[lane % 2]!;
      const id = sessions[lane % sessions.length]!;
      for (let n = 0; !stop; n++) {
        const job = `lane-${lane}-${n}`;
        const { status } = await addJob(server.url, id, job);
        outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
        if (status >= 200 && status < 300) acknowledged.get(id)!.push(job);
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    for (let pause = 0; pause < 3; pause++) {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      servers[1]!.child.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      servers[1]!.child.kill('SIGCONT');
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    stop = true;
    await Promise.all(load);
    for (const server of servers) {
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
    }
    const restarted = await serve(dataDir);

    const total = [...acknowledged.values()].reduce((sum, jobs) => sum + jobs.length, 0);
    console.log(`two servers: ${total} acknowledged appends; responses by status ${JSON.stringify(Object.fromEntries(outcomes))}`);
    expect(total).toBeGreaterThan(200);
    await expectAllOnce(restarted.url, acknowledged);
  }, 90_000);
});

describe.skipIf(!isRoot)('faults of the filesystem under the data directory (a tmpfs or an ext4 image mounted for the test)', () => {
  let server: LocalServer;
  let dataDir: string;

  async function mountSmall(size: string): Promise<void> {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sqlite-faults-'));
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dataDir]);
    cleanups.push(async () => {
      await run('umount', ['-l', dataDir]);
      await rm(dataDir, { recursive: true, force: true });
    });
    server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0, console: false });
    cleanups.push(() => server.close());
  }

  it('a full disk: 503 storage_unavailable with Retry-After, nothing acknowledged lost, and it serves again once space is freed', async () => {
    await mountSmall('4m');
    const id = await createSession(server.url);
    const acknowledged = new Map<string, string[]>([[id, []]]);
    // Fill the filesystem to its last byte.
    const fillerPath = path.join(dataDir, 'filler');
    const filler = await open(fillerPath, 'w');
    const chunk = Buffer.alloc(64 * 1024, 120);
    try {
      for (;;) await filler.write(chunk);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    for (;;) {
      try {
        await filler.write(chunk, 0, 512);
      } catch {
        break;
      }
    }
    await filler.close();

    const refused: { status: number; retryAfter: string | null; code?: string }[] = [];
    for (let n = 0; n < 300 && refused.length < 5; n++) {
      const job = `full-${n}-${'j'.repeat(50)}`;
      const result = await addJob(server.url, id, job);
      if (result.status >= 200 && result.status < 300) acknowledged.get(id)!.push(job);
      else refused.push(result);
    }

    expect(refused.length).toBeGreaterThan(0);
    for (const result of refused) {
      expect([result.status, result.code]).toEqual([503, 'storage_unavailable']);
      expect(Number(result.retryAfter)).toBeGreaterThan(0);
    }
    await expectAllOnce(server.url, acknowledged);

    await unlink(fillerPath);
    const after = await addJob(server.url, id, 'after-space-freed');
    expect(after.status).toBe(200);
    acknowledged.get(id)!.push('after-space-freed');
    await server.close();
    cleanups.pop();
    server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0, console: false });
    cleanups.push(() => server.close());
    await expectAllOnce(server.url, acknowledged);
  }, 60_000);

  it('a filesystem the kernel turns read-only (ext4 errors=remount-ro): 503 storage_unavailable with Retry-After, not a 500', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sqlite-erofs-'));
    const image = `${dataDir}.img`;
    await run('truncate', ['-s', '32M', image]);
    await run('mkfs.ext4', ['-q', '-F', image]);
    await run('mount', ['-o', 'loop,errors=remount-ro', image, dataDir]);
    cleanups.push(async () => {
      await run('umount', ['-l', dataDir]);
      await rm(dataDir, { recursive: true, force: true });
      await rm(image, { force: true });
    });
    server = await startLocalServer({ port: 0, dataDir, leaseSweepSeconds: 0, console: false });
    cleanups.push(() => server.close());
    const id = await createSession(server.url);
    expect((await addJob(server.url, id, 'before')).status).toBe(200);

    // What ext4 does on a filesystem error with errors=remount-ro: every write from now on fails with EROFS.
    const device = path.basename((await run('findmnt', ['-no', 'SOURCE', dataDir])).stdout.trim());
    await run('sh', ['-c', `echo test > /sys/fs/ext4/${device}/trigger_fs_error`]);
    const refused = await addJob(server.url, id, 'while-read-only');

    expect([refused.status, refused.code]).toEqual([503, 'storage_unavailable']);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await jobsOf(server.url, id)).toEqual(['before']);
  }, 60_000);
});
