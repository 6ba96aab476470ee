/**
 * Retention at scale, on the local SQLite store (issue 27):
 *
 *   node bench/retention.ts [--sessions=100000] [--appenders=4] [--baseline-seconds=15]
 *
 * Seeds that many sessions ended eleven days ago (through the repository, on a clock set back), then, in one
 * process and on one database connection as `npm start` has, appends jobs to live sessions from a few concurrent
 * appenders (each one append every `--interval-ms`): first alone (the baseline), then while one retention pass (`RETENTION_DAYS=10`) deletes every ended
 * session in its bounded batches. Prints the append latencies of both phases, the pass's length and what is left.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { openSqliteStores } from '#lib/storage/sqlite/index.ts';
import { RetentionSweeper } from '#lib/workers/retention.ts';
import { percentile } from './stats.ts';

const DAY_MS = 86_400_000;
const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    appenders: { type: 'string', default: '4' },
    'baseline-seconds': { type: 'string', default: '15' },
    batch: { type: 'string', default: '25' },
    'interval-ms': { type: 'string', default: '10' },
  },
});
const sessions = Number(values.sessions);
const appenders = Number(values.appenders);
const baselineMs = Number(values['baseline-seconds']) * 1000;
/** Each appender starts an append every this many ms (or as soon as its previous one is answered, if later). */
const intervalMs = Number(values['interval-ms']);
const log = (line: string) => console.error(`[retention ${new Date().toISOString().slice(11, 19)}] ${line}`);

const root = await mkdtemp(path.join(tmpdir(), 'bench-retention-'));
const clock = { ms: Date.now() - 11 * DAY_MS, now: () => clock.ms };
const stores = openSqliteStores(root, { clock });
const repository = new SessionRepository({ store: stores.sessions, renewals: stores.state, clock: clock.now });
await repository.backfillStatusIndex();

// Seeding: create and end, 500 sessions at a time (the store commits the writes of one turn together).
const seedStart = performance.now();
for (let done = 0; done < sessions; done += 500) {
  await Promise.all(
    Array.from({ length: Math.min(500, sessions - done) }, async (_, n) => {
      const { session } = await repository.createSession({ name: `job-${(done + n) % 1000}` });
      await repository.setStatus(session.id, (done + n) % 2 === 0 ? 'completed' : 'terminated');
    }),
  );
  if ((done / 500) % 20 === 0) log(`seeded ${done + 500} of ${sessions}`);
}
log(`seeded ${sessions} ended sessions in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

clock.ms = Date.now();
const live = await Promise.all(Array.from({ length: appenders }, async () => (await repository.createSession({})).session.id));

/** Appends from every appender until `until` resolves; each append's latency in ms. */
async function appendUntil(until: Promise<unknown>): Promise<number[]> {
  let stop = false;
  void until.then(() => (stop = true));
  const latencies: number[] = [];
  let job = 0;
  await Promise.all(
    live.map(async (id) => {
      while (!stop) {
        const started = performance.now();
        await repository.addJob(id, `job-${job++}`);
        const took = performance.now() - started;
        latencies.push(took);
        if (took < intervalMs) await new Promise((resolve) => setTimeout(resolve, intervalMs - took));
      }
    }),
  );
  return latencies;
}

log(`baseline: ${appenders} appenders for ${baselineMs / 1000} s`);
const baseline = await appendUntil(new Promise((resolve) => setTimeout(resolve, baselineMs)));

const sweeper = new RetentionSweeper({
  sessions: stores.sessions,
  state: stores.state,
  retentionDays: 10,
  idempotencyWindowSeconds: 86_400,
  clock,
  batch: Number(values.batch),
});
log('retention pass, appenders running');
const sweepStart = performance.now();
const pass = sweeper.sweep();
const during = await appendUntil(pass);
const report = await pass;
const sweepSeconds = (performance.now() - sweepStart) / 1000;

const left = async (store: { list: typeof stores.state.list }, prefix: string) => (await store.list(prefix, { limit: 1000 })).keys.length;
const remaining = {
  sessions: await left(stores.sessions, 'sessions/'),
  names: await left(stores.sessions, 'names/'),
  'status/completed': await left(stores.state, 'status/completed/'),
  'status/terminated': await left(stores.state, 'status/terminated/'),
};
const row = (label: string, samples: number[]) =>
  `| ${label} | ${samples.length} | ${percentile(samples, 0.5).toFixed(1)} | ${percentile(samples, 0.99).toFixed(1)} | ${Math.max(...samples).toFixed(1)} |`;
console.log(
  [
    `Retention pass over ${sessions} ended sessions (batches of ${values.batch}): ${report.purged.length} deleted in ${sweepSeconds.toFixed(1)} s`,
    `(${(report.purged.length / sweepSeconds).toFixed(0)}/s), ${report.traces} index entries and records, ${report.requests} store operations.`,
    `Left afterwards: ${JSON.stringify(remaining)} (the sessions left are the ${appenders} being appended to).`,
    '',
    '| appends | count | p50 ms | p99 ms | max ms |',
    '| --- | --- | --- | --- | --- |',
    row('without the sweep', baseline),
    row('during the sweep', during),
  ].join('\n'),
);
await stores.sessions.close();
await rm(root, { recursive: true, force: true });
