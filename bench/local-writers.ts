/**
 * 10. Many writers on one session: 16 and 64 concurrent writers appending
 * to the same session through the local server (HTTP keep-alive), which
 * groups concurrent appends into one compare-and-swap (`lib/common/group-commit.ts`).
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_SERVER_SCRIPT, startServer, stopServer } from './local-throughput.ts';
import { fixed, integer, type Section } from './report.ts';
import { nowMs, percentile } from './stats.ts';

export interface LocalWritersOptions {
  quick?: boolean;
  writerCounts?: number[];
  /** Appends per writer. */
  appendsPerWriter?: number;
  log?: (line: string) => void;
}

export interface WritersRow {
  writers: number;
  appends: number;
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  unavailable: number;
  otherFailures: number;
  /** Jobs the session holds afterwards, against the 200 answers. */
  landed: number;
  met: boolean;
}

export interface LocalWritersResult {
  rows: WritersRow[];
  seconds: number;
}

/** One POST over the shared keep-alive agent: its status and body. */
function post(agent: Agent, url: URL, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (answer) => {
        let text = '';
        answer.setEncoding('utf-8');
        answer.on('data', (chunk: string) => (text += chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Runs every writer count on a fresh session of one local server. */
export async function measureLocalWriters(options: LocalWritersOptions = {}): Promise<LocalWritersResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const writerCounts = options.writerCounts ?? [16, 64];
  const appendsPerWriter = options.appendsPerWriter ?? (options.quick ? 5 : 100);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'runner-sessions-bench-writers-'));
  const server = await startServer(LOCAL_SERVER_SCRIPT, dataDir, ['0']);
  const rows: WritersRow[] = [];
  try {
    for (const writers of writerCounts) {
      log(`local writers: ${writers} writers × ${appendsPerWriter} appends`);
      const agent = new Agent({ keepAlive: true, maxSockets: writers });
      const created = await post(agent, new URL(`${server.url}/sessions`), '{}');
      const id = (JSON.parse(created.body) as { id: string }).id;
      const url = new URL(`${server.url}/sessions/${id}/jobs`);
      const latencies: number[] = [];
      let unavailable = 0;
      let otherFailures = 0;
      let ok = 0;
      const began = nowMs();
      await Promise.all(
        Array.from({ length: writers }, async (_, writer) => {
          for (let n = 0; n < appendsPerWriter; n++) {
            const sent = nowMs();
            const answer = await post(agent, url, JSON.stringify({ job_id: `writer-${writer}-job-${n}` }), { prefer: 'return=minimal' });
            latencies.push(nowMs() - sent);
            if (answer.status === 200) ok++;
            else if (answer.status === 503) unavailable++;
            else otherFailures++;
          }
        }),
      );
      const elapsedSeconds = (nowMs() - began) / 1000;
      const session = await new Promise<{ job_ids: string[] }>((resolve, reject) => {
        request(`${server.url}/sessions/${id}`, { agent }, (answer) => {
          let text = '';
          answer.on('data', (chunk: Buffer) => (text += chunk.toString()));
          answer.on('end', () => resolve(JSON.parse(text) as { job_ids: string[] }));
        })
          .on('error', reject)
          .end();
      });
      agent.destroy();
      const landed = new Set(session.job_ids).size;
      rows.push({
        writers,
        appends: writers * appendsPerWriter,
        appendsPerSecond: ok / elapsedSeconds,
        p50Ms: percentile(latencies, 0.5),
        p99Ms: percentile(latencies, 0.99),
        unavailable,
        otherFailures,
        landed,
        met: unavailable === 0 && otherFailures === 0 && landed === ok,
      });
    }
  } finally {
    await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
  return { rows, seconds: (performance.now() - started) / 1000 };
}

/** Section 10 of bench/RESULTS.md. */
export function localWritersSection(result: LocalWritersResult): Section {
  return {
    title: '10. Concurrent writers on one session, local server',
    intro: [
      'The local server in its own process (SQLite store, no sweeps); N writers in the bench process, each appending its own job IDs one after ' +
        'another to the same session over a shared keep-alive agent (one connection per writer), with `Prefer: return=minimal`. Concurrent appends ' +
        'to one session are grouped into one compare-and-swap (`lib/common/group-commit.ts`), so the target is no 503 `conflict_retry` and every answered job ' +
        'landed once.',
    ],
    tables: [
      {
        headers: ['writers', 'appends', 'appends/s', 'p50', 'p99', '503 answers', 'other failures', 'jobs landed', 'met'],
        rows: result.rows.map((row) => [
          integer(row.writers),
          integer(row.appends),
          integer(row.appendsPerSecond),
          `${fixed(row.p50Ms, 1)} ms`,
          `${fixed(row.p99Ms, 1)} ms`,
          integer(row.unavailable),
          integer(row.otherFailures),
          integer(row.landed),
          row.met ? 'met' : 'NOT met',
        ]),
      },
    ],
  };
}
