/**
 * A client generated from openapi.json as another project would make one:
 * `openapi-typescript` types, `openapi-fetch` calls. A runner's life cycle
 * written against those types must type-check under strict settings (with the
 * misuses the document forbids marked `@ts-expect-error`, so that a document
 * that stops forbidding them fails too), and then run against the local server.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '#lib/local/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GENERATOR = path.join(ROOT, 'test/contract/generator');
const run = promisify(execFile);

/** The life cycle, typed only by the generated `paths`. */
const LIFE_CYCLE = `import createClient from 'openapi-fetch';
import type { components, paths } from './api.d.ts';

type Session = components['schemas']['Session'];
type Minimal = components['schemas']['SessionMinimal'];

/** A full answer or the minimal one: told apart by what only the full one has. */
function isFull(body: Session | Minimal): body is Session {
  return 'job_ids' in body;
}

export async function lifeCycle(baseUrl: string): Promise<{ jobs: string[]; status: string; versions: number }> {
  const client = createClient<paths>({ baseUrl });
  const created = await client.POST('/sessions', { body: { name: 'generated-client' } });
  if (created.data === undefined) throw new Error(\`create: \${created.response.status}\`);
  // The answer depends on Prefer: job_ids is not there to read without asking which answer it is.
  // @ts-expect-error job_ids is absent from the minimal answer
  created.data.job_ids.length;
  if (!isFull(created.data)) throw new Error('a full answer was expected without Prefer');
  const id: string = created.data.id;

  const held = await client.POST('/sessions/{id}/lease', { params: { path: { id } }, body: { holder: 'generated:1', seconds: 60 } });
  if (held.data === undefined) throw new Error(\`acquire: \${held.response.status}\`);
  const epoch: number = held.data.lease?.epoch ?? 0;

  const appended = await client.POST('/sessions/{id}/jobs', {
    params: { path: { id }, header: { Prefer: 'return=minimal', 'Lease-Epoch': epoch } },
    body: { job_id: 'job-1' },
  });
  if (appended.data === undefined || isFull(appended.data)) throw new Error('a minimal answer was asked for');
  const count: number = appended.data.job_count;

  const beat = await client.POST('/sessions/{id}/heartbeat', { params: { path: { id }, header: { 'Lease-Epoch': epoch } } });
  if (beat.data === undefined) throw new Error(\`heartbeat: \${beat.response.status}\`);
  const seconds: number = beat.data.lease.seconds;
  // @ts-expect-error a heartbeat must carry Lease-Epoch
  await client.POST('/sessions/{id}/heartbeat', { params: { path: { id } } });
  // @ts-expect-error Lease-Epoch is an integer, as lease.epoch is
  await client.POST('/sessions/{id}/heartbeat', { params: { path: { id }, header: { 'Lease-Epoch': 'one' } } });

  const refused = await client.POST('/sessions/{id}/jobs', { params: { path: { id } }, body: { job_id: 'job-2' } });
  if (refused.error === undefined || refused.response.status !== 428) throw new Error('a change without the epoch of a live lease must be refused');
  // An error is the contract's body or, deployed, API Gateway's own {message}.
  const code: string = 'error' in refused.error ? refused.error.error.code : refused.error.message;

  const paused = await client.PATCH('/sessions/{id}', { params: { path: { id }, header: { 'Lease-Epoch': epoch } }, body: { status: 'paused' } });
  if (paused.data === undefined || !isFull(paused.data)) throw new Error(\`pause: \${paused.response.status}\`);

  const history = await client.GET('/sessions/{id}/history', { params: { path: { id }, query: { limit: 10 } } });
  if (history.data === undefined) throw new Error(\`history: \${history.response.status}\`);
  const first = history.data.versions.at(-1)!.version_id;
  const restored = await client.POST('/sessions/{id}/restore', { params: { path: { id } }, body: { version_id: first } });
  if (restored.data === undefined || !isFull(restored.data)) throw new Error(\`restore: \${restored.response.status}\`);

  const read = await client.GET('/sessions/{id}', { params: { path: { id } } });
  if (read.data === undefined) throw new Error(\`read: \${read.response.status}\`);
  if (count !== 1 || seconds !== 60 || code !== 'lease_required') throw new Error(\`unexpected: \${count} \${seconds} \${code}\`);
  return { jobs: read.data.job_ids, status: read.data.status, versions: history.data.versions.length };
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2024',
    lib: ['es2024', 'dom'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    types: [],
  },
  files: ['life-cycle.ts'],
};

describe('a client generated from openapi.json (openapi-typescript + openapi-fetch)', () => {
  let dir: string;
  let server: LocalServer;

  beforeAll(async () => {
    // Inside the project (ignored by git), so that openapi-fetch resolves from its node_modules.
    await mkdir(path.join(ROOT, '.cache'), { recursive: true });
    dir = await mkdtemp(path.join(ROOT, '.cache', 'generated-client-'));
    server = await startLocalServer({ port: 0, dataDir: path.join(dir, 'data'), leaseSweepSeconds: 0, console: false });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('generates the types, type-checks a life cycle written against them, and runs it against the local server', async () => {
    await run(
      process.execPath,
      [
        '--import',
        path.join(GENERATOR, 'typescript-5.ts'),
        path.join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'),
        path.join(ROOT, 'openapi.json'),
        '--output',
        path.join(dir, 'api.d.ts'),
      ],
      { cwd: ROOT },
    );
    await writeFile(path.join(dir, 'life-cycle.ts'), LIFE_CYCLE);
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));

    const checked = await run(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', dir], { cwd: dir }).catch(
      (error: { stdout?: string; code?: number }) => ({ stdout: `${error.stdout ?? ''} (exit ${error.code})` }),
    );
    expect(checked.stdout).toBe('');

    const { lifeCycle } = (await import(path.join(dir, 'life-cycle.ts'))) as {
      lifeCycle: (baseUrl: string) => Promise<{ jobs: string[]; status: string; versions: number }>;
    };
    expect(await lifeCycle(server.url)).toEqual({ jobs: [], status: 'active', versions: 4 });
  }, 120_000);
});
