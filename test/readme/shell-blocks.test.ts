import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** A fenced `sh` block of a document, where it starts, and why it is only syntax-checked (when it is). */
interface ShellBlock {
  file: string;
  line: number;
  script: string;
  notRun: string | undefined;
}

/**
 * Every ```sh block of README.md and docs/*.md. A block is only syntax-checked when its info string
 * says why (```sh deploy) or the line before it is `<!-- not run: REASON -->`.
 */
async function shellBlocks(): Promise<ShellBlock[]> {
  const docs = (await readdir(path.join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  const blocks: ShellBlock[] = [];
  for (const file of ['README.md', ...docs.sort()]) {
    const lines = (await readFile(path.join(ROOT, file), 'utf-8')).split('\n');
    for (let start = 0; start < lines.length; start++) {
      const fence = /^```sh(?:\s+(\S.*))?$/.exec(lines[start]!);
      if (fence === null) continue;
      const end = lines.findIndex((line, index) => index > start && line === '```');
      if (end === -1) throw new Error(`${file}:${start + 1}: a sh block that is never closed`);
      const comment = /^<!-- not run: (.+) -->$/.exec(lines[start - 1] ?? '')?.[1];
      blocks.push({ file, line: start + 1, script: lines.slice(start + 1, end).join('\n'), notRun: fence[1] ?? comment });
      start = end;
    }
  }
  return blocks;
}

/** Runs `bash ARGS` with `script` on stdin-free `-c`; resolves to its exit code and output. */
async function bash(args: string[], script: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  const child = spawn('bash', [...args, '-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // A block that hangs is ended with everything it started (a backgrounded exec, its command).
  const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, output };
}

/** The URL the local server prints once it listens: `runner-sessions listening on http://127.0.0.1:PORT (…)`. */
async function listeningUrl(server: ChildProcess, timeoutMs: number): Promise<string> {
  let output = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local server printed no URL within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (url === undefined) return;
      clearTimeout(timer);
      resolve(url);
    };
    server.stdout?.on('data', read);
    server.stderr?.on('data', read);
    server.once('exit', (code) => reject(new Error(`the local server exited (${String(code)}) before listening:\n${output}`)));
  });
}

const blocks = await shellBlocks();

describe('the sh blocks of README.md and docs/*.md', () => {
  let server: ChildProcess | undefined;
  let dataDir: string | undefined;
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'runner-sessions-shell-blocks-'));
    // `npm start` without npm: the same entry, on a free port, over an empty data directory.
    server = spawn(process.execPath, ['lib/local/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOCAL_TOKEN: '', LOCAL_TOKEN_FILE: '', SESSIONS_BUCKET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await listeningUrl(server, 30_000);
    const own = /^(VITEST|npm_lifecycle_|npm_package_|INIT_CWD$)/;
    env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !own.test(name))),
      RUNNER_SESSIONS_URL: url,
      DATA_DIR: dataDir,
      npm_config_update_notifier: 'false',
    };
  });

  afterAll(async () => {
    if (server !== undefined && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('finds the blocks, and every shell block is a ```sh block (none hides as bash, shell or console)', async () => {
    expect(blocks.length).toBeGreaterThan(10);
    for (const file of new Set(blocks.map((block) => block.file)))
      expect(await readFile(path.join(ROOT, file), 'utf-8'), file).not.toMatch(/^```(bash|shell|console|zsh)\b/m);
  });

  it('no block calls runner-sessions bare (not on PATH after npm ci) or macOS open', () => {
    const bare = /(^|[|;&(`]\s*|\$\(\s*)(runner-sessions|open)\s/m;
    for (const block of blocks.filter(({ notRun }) => notRun === undefined))
      expect(block.script, `${block.file}:${block.line}`).not.toMatch(bare);
  });

  for (const block of blocks) {
    const where = `${block.file}:${block.line}`;
    if (block.notRun !== undefined) {
      it(`${where} parses (not run: ${block.notRun})`, async () => {
        const { code, output } = await bash(['-n'], block.script, env, 10_000);
        expect(code, output).toBe(0);
      });
      continue;
    }
    it(`${where} runs with bash -euo pipefail against the local server and exits 0`, { timeout: 60_000 }, async () => {
      const { code, signal, output } = await bash([], `set -euo pipefail\n${block.script}`, env, 50_000);
      expect({ code, signal }, `${where}:\n${block.script}\n--- output ---\n${output}`).toEqual({ code: 0, signal: null });
    });
  }
});
