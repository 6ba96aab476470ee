/**
 * The client as another project meets it: `npm pack` (which builds the
 * `runner-sessions/client` entry at `prepack`), the tarball installed into an
 * empty project, `SessionsClient` imported from `runner-sessions/client` by
 * plain JavaScript that drives a life cycle against a local server, and a
 * TypeScript user of the entry type-checked against the declarations it ships.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, maxBuffer: 16 * 1024 * 1024 });

/** A runner's life cycle in plain JavaScript, through the installed package only. */
const RUNNER = `import { SessionsClient, LeaseLostError } from 'runner-sessions/client';

const client = new SessionsClient({ baseUrl: process.argv[2] });
const { session } = await client.createSession({ name: 'packaged-runner' });
const held = await client.acquireLease(session.id, { holder: 'packaged:1', seconds: 30 });
const epoch = held.session.lease.epoch;
await client.addJob(session.id, 'job-1', { leaseEpoch: epoch });
await client.heartbeat(session.id, epoch);
const taken = await client.acquireLease(session.id, { holder: 'packaged:2', force: true });
let lost = false;
try {
  await client.addJob(session.id, 'job-2', { leaseEpoch: epoch });
} catch (error) {
  lost = error instanceof LeaseLostError;
}
await client.setStatus(session.id, 'completed', { leaseEpoch: taken.session.lease.epoch });
const read = await client.getSession(session.id);
process.stdout.write(JSON.stringify({ jobs: read.session.job_ids, status: read.session.status, lost }));
`;

/** A TypeScript user of the entry: its types come from the declarations the package ships. */
const TYPED_USER = `import { type Session, SessionsApiError, SessionsClient } from 'runner-sessions/client';

export async function jobsOf(baseUrl: string, id: string): Promise<string[]> {
  const client = new SessionsClient({ baseUrl });
  try {
    const { session }: { session: Session } = await client.getSession(id);
    return session.job_ids;
  } catch (error) {
    if (error instanceof SessionsApiError && error.status === 404) return [];
    throw error;
  }
}

// @ts-expect-error the client's options are typed: a base URL is required
new SessionsClient({});
`;

describe('the runner-sessions/client package entry', () => {
  let work: string;
  let server: LocalServer;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'runner-sessions-package-'));
    server = await startLocalServer({ port: 0, dataDir: path.join(work, 'data'), leaseSweepSeconds: 0, console: false });
  });

  afterAll(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('packs, installs into an empty project, and drives a life cycle from plain JavaScript and typed TypeScript', async () => {
    const packed = await npm(['pack', '--json', '--pack-destination', work], ROOT);
    const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [
      { filename: string; files: { path: string }[] },
    ];
    const shipped = files.map((file) => file.path);
    expect(shipped).toEqual(expect.arrayContaining(['dist/client/index.js', 'dist/client/types/client/index.d.ts']));
    // The CDK app, the Lambda entries and the tests are not shipped.
    expect(shipped.filter((file) => /^(infra|functions|test|bench)\//.test(file))).toEqual([]);

    const app = path.join(work, 'app');
    await run('mkdir', ['-p', app]);
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'a-runner', private: true, type: 'module' }));
    await npm(['install', '--prefer-offline', path.join(work, filename)], app);

    // The entry imports only the client's own dependencies: nothing of the server, the store or the CDK.
    const bundle = await readFile(path.join(app, 'node_modules/runner-sessions/dist/client/index.js'), 'utf-8');
    const imported = [...bundle.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map(([, specifier]) => specifier!);
    expect(imported.length).toBeGreaterThan(0);
    for (const specifier of imported) expect(specifier).toMatch(/^(node:|zod\/|@smithy\/|@aws-sdk\/credential-provider-node$)/);

    await writeFile(path.join(app, 'runner.mjs'), RUNNER);
    const { stdout } = await run(process.execPath, ['runner.mjs', server.url], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({ jobs: ['job-1'], status: 'completed', lost: true });

    await writeFile(path.join(app, 'typed.ts'), TYPED_USER);
    await writeFile(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2024', lib: ['es2024', 'dom'], module: 'nodenext', strict: true, noEmit: true, types: [] },
        files: ['typed.ts'],
      }),
    );
    const checked = await run(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app }).catch(
      (error: { stdout?: string; code?: number }) => ({ stdout: `${error.stdout ?? ''} (exit ${error.code})` }),
    );
    expect(checked.stdout).toBe('');
  }, 300_000);
});
