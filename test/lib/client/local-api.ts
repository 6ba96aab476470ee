import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalServerOptions } from '#lib/local/server.ts';

/** Jobs one session may hold on the test API, small so that `session_full` is reachable. */
export const TEST_MAX_JOBS = 5;

// Read by lib/domain/config.ts and Powertools when the handlers load, so set before the dynamic import below.
process.env.MAX_JOBS_PER_SESSION = String(TEST_MAX_JOBS);
process.env.CAS_BASE_DELAY_MS = '0';
process.env.CAS_MAX_DELAY_MS = '0';
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
delete process.env.SESSIONS_BUCKET;

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/**
 * The local server (`npm start`) on a free port, on the file store in a
 * fresh temporary directory: the real handlers over real HTTP. One per test
 * file: the handlers of a process share one repository.
 */
export async function startApi(options: Pick<LocalServerOptions, 'tokens'> = {}): Promise<RunningApi> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-client-'));
  const { startLocalServer } = await import('#lib/local/server.ts');
  const server = await startLocalServer({ port: 0, dataDir, ...options });
  return {
    url: server.url,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
