import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const TOKEN = 'a-token-of-sixteen-or-more';

interface Started {
  url: string;
  output: () => string;
  stop(): Promise<number | null>;
}

const running: Started[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((child) => child.stop()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-main-'));
  dirs.push(dir);
  return dir;
}

/** Every entry under `dir`, with the content of each file. */
async function listing(dir: string): Promise<[string, string][]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries.map(async (entry): Promise<[string, string]> => {
      const file = path.join(entry.parentPath, entry.name);
      return [path.relative(dir, file), entry.isFile() ? await readFile(file, 'utf-8') : 'directory'];
    }),
  );
}

/** `npm start` with `env`: its exit code and output when it stops by itself, else its URL once it listens. */
function start(env: Record<string, string>): Promise<{ exit: number | null; stdout: string; stderr: string } | Started> {
  const child = spawn(process.execPath, ['lib/local/main.ts'], {
    env: { ...process.env, PORT: '0', SESSIONS_BUCKET: '', LOCAL_TOKEN: '', LOCAL_TOKEN_FILE: '', HOST: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))),
  );
  return new Promise((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(stdout);
      if (!found) return;
      const started: Started = {
        url: found[1]!,
        output: () => stdout + stderr,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      };
      running.push(started);
      resolve(started);
    });
    exited.then((exit) => resolve({ exit, stdout, stderr }));
  });
}

describe('npm start', () => {
  it.each(['0.0.0.0', '::'])('HOST=%s without a token: exit 2, saying how to set one, no stack', async (host) => {
    const result = await start({ HOST: host, DATA_DIR: await dataDir() });

    expect('exit' in result && result.exit).toBe(2);
    const { stderr } = result as { stderr: string };
    expect(stderr).toMatch(new RegExp(`refusing to listen on ${host.replace('.', '\\.')} without authentication`));
    expect(stderr).toMatch(/LOCAL_TOKEN/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['a short LOCAL_TOKEN', { LOCAL_TOKEN: 'short' }, /at least 16 characters/],
    ['both token variables', { LOCAL_TOKEN: TOKEN, LOCAL_TOKEN_FILE: '/nonexistent' }, /not both/],
    ['a missing token file', { LOCAL_TOKEN_FILE: '/nonexistent/tokens' }, /cannot be read: ENOENT/],
    ['a bad connection cap', { LOCAL_MAX_CONNECTIONS: '0' }, /LOCAL_MAX_CONNECTIONS/],
    ['a bad job cap', { MAX_JOBS_PER_SESSION: 'lots' }, /MAX_JOBS_PER_SESSION must be a positive integer, got "lots"/],
  ])('%s: exit 2 with the reason, no stack', async (_, env, reason) => {
    const result = await start({ ...env, DATA_DIR: await dataDir() });

    expect('exit' in result && result.exit, JSON.stringify(result)).toBe(2);
    expect((result as { stderr: string }).stderr).toMatch(reason);
    expect((result as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [
      'the log store',
      async (dir: string) => {
        await writeFile(path.join(dir, 'store.json'), '{"format":2,"versions":true}\n');
        await writeFile(path.join(dir, 'log'), 'records');
        await mkdir(path.join(dir, 'leases'));
        await writeFile(path.join(dir, 'leases', 'store.json'), '{"format":2,"versions":false}\n');
      },
    ],
    [
      'the file-per-object store',
      async (dir: string) => {
        await mkdir(path.join(dir, 'objects', 'sessions%2F'), { recursive: true });
        await writeFile(path.join(dir, 'objects', 'sessions%2F', 'abc.json'), '{}');
      },
    ],
  ])('a data directory of %s: exit 2 with one line naming it and the commands to run, and nothing changed', async (found, make) => {
    const dir = await dataDir();
    await make(dir);
    const before = await listing(dir);

    const result = await start({ DATA_DIR: dir });

    expect('exit' in result && result.exit, JSON.stringify(result)).toBe(2);
    const { stderr } = result as { stderr: string };
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(found);
    expect(stderr).toMatch(/runner-sessions export .*runner-sessions import \S+ --data-dir/);
    expect(await listing(dir)).toEqual(before);
  });

  it.skipIf(process.getuid?.() !== 0)('a read-only DATA_DIR: exit 2 with one line, no stack', async () => {
    const dir = await dataDir();
    await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', dir]);
    try {
      const result = await start({ DATA_DIR: dir });

      expect('exit' in result && result.exit, JSON.stringify(result)).toBe(2);
      const { stderr } = result as { stderr: string };
      expect(stderr.trim().split('\n')).toEqual([
        expect.stringMatching(new RegExp(`data directory ${dir} cannot be used: .*read-only`, 'i')),
      ]);
    } finally {
      await promisify(execFile)('umount', [dir]);
    }
  });

  it('writes files 0600 and directories 0700', async () => {
    const dir = await dataDir();
    const started = (await start({ DATA_DIR: dir })) as Started;
    const created = await (
      await fetch(`${started.url}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"n"}' })
    ).json();
    await fetch(`${started.url}/sessions/${created.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"status":"paused"}',
    });
    await started.stop();

    const entries = await readdir(dir, { recursive: true });
    const modes = await Promise.all(entries.map(async (entry) => ({ entry, stats: await stat(path.join(dir, entry)) })));

    expect(modes.filter(({ stats }) => stats.isFile()).length).toBeGreaterThan(1);
    expect(modes.filter(({ stats }) => stats.isDirectory() && (stats.mode & 0o777) !== 0o700).map(({ entry }) => entry)).toEqual([]);
    expect(modes.filter(({ stats }) => stats.isFile() && (stats.mode & 0o777) !== 0o600).map(({ entry }) => entry)).toEqual([]);
  });

  it('with LOCAL_TOKEN_FILE: 401 without a token, and the label as updated_by with one', async () => {
    const dir = await dataDir();
    const tokens = path.join(dir, '..', `${path.basename(dir)}.tokens`);
    dirs.push(tokens);
    await writeFile(tokens, `# who may call\nci-runner:${TOKEN}\n`);
    const started = (await start({ DATA_DIR: dir, LOCAL_TOKEN_FILE: tokens, HOST: '0.0.0.0' })) as Started;
    const port = new URL(started.url).port;

    const refused = await fetch(`http://127.0.0.1:${port}/sessions`, { method: 'POST' });
    const created = await fetch(`http://127.0.0.1:${port}/sessions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });

    expect([refused.status, refused.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="runner-sessions"']);
    expect([created.status, (await created.json()).updated_by]).toEqual([201, 'ci-runner']);
    expect(started.output()).toMatch(/bearer tokens: ci-runner/);
  });
});

const endpoint = process.env.AWS_ENDPOINT_URL_S3;
const safeBucket = process.env.SESSIONS_TEST_BUCKET;
const unsafeBucket = process.env.SESSIONS_TEST_VERSIONED_BUCKET;

describe.skipIf(!endpoint || !safeBucket || !unsafeBucket)(
  `npm start on S3 at ${endpoint ?? '(set AWS_ENDPOINT_URL_S3 and the test buckets)'}`,
  () => {
    it('refuses a bucket that does not enforce conditional writes: exit 1 with the probe report', async () => {
      const result = await start({ SESSIONS_BUCKET: unsafeBucket! });

      expect('exit' in result && result.exit).toBe(1);
      const { stderr } = result as { stderr: string };
      expect(stderr).toMatch(new RegExp(`refusing to serve from s3://${unsafeBucket}`));
      expect(stderr).toMatch(/NOT SAFE: .* did not hold/);
      expect(stderr).toMatch(/FAILED/);
      expect(stderr).not.toMatch(/\n\s+at /);
    }, 60_000);

    it('serves from a bucket that does', async () => {
      const started = (await start({ SESSIONS_BUCKET: safeBucket! })) as Started;

      const listed = await fetch(`${started.url}/sessions?limit=1`);

      expect(listed.status).toBe(200);
      expect(started.output()).toMatch(new RegExp(`sessions in s3://${safeBucket}`));
    }, 60_000);
  },
);
