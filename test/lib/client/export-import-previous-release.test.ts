import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '#lib/storage/s3.ts';
import { S3Fake } from '../../helpers/s3-fake.ts';
import { cli, createVariety, exportFrom, linesFile, serve, serveDataDir, tempDir, type Variety } from './export-import-helpers.ts';

/** The last commit before the re-layout: its server stores sessions in the log-structured file store of `lib/store/file/`. */
const PREVIOUS_RELEASE = '8c5d1cd';

const REPOSITORY = path.resolve(import.meta.dirname, '../../..');

function hasCommit(commit: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: REPOSITORY, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The previous release's `npm start`, from its own tree, on a data directory of its own; resolves once it listens. */
async function startPreviousRelease(root: string): Promise<{ url: string; child: ChildProcess }> {
  execFileSync('sh', ['-c', `git archive ${PREVIOUS_RELEASE} lib functions package.json openapi.json | tar -x -C "${root}"`], {
    cwd: REPOSITORY,
  });
  await symlink(path.join(REPOSITORY, 'node_modules'), path.join(root, 'node_modules'));
  const child = spawn(process.execPath, ['lib/local/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: path.join(root, 'data'), LEASE_SWEEP_SECONDS: '0', POWERTOOLS_LOG_LEVEL: 'SILENT' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the previous release did not start within 30 s:\n${output}`)), 30_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString('utf-8');
      const listening = /listening on (http:\/\/\S+)/.exec(output);
      if (listening === null) return;
      clearTimeout(timer);
      resolve(listening[1]!);
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the previous release exited with ${code}:\n${output}`));
    });
  });
  return { url, child };
}

describe.skipIf(!hasCommit(PREVIOUS_RELEASE))(`export from the previous release (${PREVIOUS_RELEASE}), import into today's store`, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let previous: { url: string; child: ChildProcess } | undefined;
  let variety: Variety;
  let exported: string[];

  beforeAll(async () => {
    dir = await tempDir('previous-release');
    previous = await startPreviousRelease(dir.dir);
    variety = await createVariety(previous.url);
    const run = await exportFrom(previous.url);
    expect(run.code).toBe(0);
    exported = run.lines;
  }, 60_000);

  afterAll(async () => {
    if (previous?.child.exitCode === null) {
      previous.child.kill('SIGTERM');
      await once(previous.child, 'exit');
    }
    await dir?.remove();
  });

  let fake: S3Fake;
  beforeEach(() => {
    fake = new S3Fake();
  });
  afterEach(() => fake.restore());

  it('gives identical lines once imported and served by today’s server', async () => {
    const file = await linesFile(dir.dir, 'sessions.jsonl', exported);

    const imported = await cli(['import', file, '--bucket', 'target']);
    const target = await serve(new S3ObjectStore({ bucket: 'target' }), new S3ObjectStore({ bucket: 'target' }));
    const again = await exportFrom(target.url).finally(() => target.close());

    expect(exported.map((line) => JSON.parse(line).id)).toEqual(Object.values(variety).toSorted());
    expect(imported).toMatchObject({ code: 0, err: '' });
    expect(again.code).toBe(0);
    expect(again.lines.map(withoutDerivedCounts)).toEqual(exported);
  });

  it('gives identical lines once imported into a new data directory that today’s npm start serves', async () => {
    const file = await linesFile(dir.dir, 'sessions.jsonl', exported);
    const dataDir = `${dir.dir}/today`;

    const imported = await cli(['import', file, '--data-dir', dataDir]);
    const target = await serveDataDir(dataDir);
    const again = await exportFrom(target.url).finally(() => target.close());

    expect(imported).toMatchObject({ code: 0, err: '' });
    expect(again.code).toBe(0);
    expect(again.lines.map(withoutDerivedCounts)).toEqual(exported);
  });
});

/**
 * Today's answers carry `job_counts`, derived for a session stored without them (every job counted, none in a state):
 * the line with that derived field checked and taken out, so that what was carried over compares byte for byte.
 */
function withoutDerivedCounts(line: string): string {
  const { job_counts: counts, ...session } = JSON.parse(line) as { job_counts?: unknown; job_ids: string[] };
  expect(counts).toEqual({ total: session.job_ids.length, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
  return JSON.stringify(session);
}
