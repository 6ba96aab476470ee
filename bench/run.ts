/**
 * `npm run bench`: runs the benchmarks of issue 8 and writes bench/RESULTS.md.
 *
 *   node bench/run.ts                      all of them, written to bench/RESULTS.md
 *   node bench/run.ts --quick              a short smoke run, printed (written only with --out)
 *   node bench/run.ts --only=requests,cost some of them
 *   node bench/run.ts --out=FILE           write the Markdown to FILE instead
 *
 * Set AWS_ENDPOINT_URL_S3 and SESSIONS_TEST_BUCKET (for Ceph RGW:
 * `eval "$(bash scripts/ceph-rgw.sh env)"`) to measure contention on a real
 * S3-compatible server too.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MEASUREMENTS, type Measurement, renderResults, runBench } from './suite.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

const only = values.only
  ?.split(',')
  .map((name) => name.trim())
  .filter(Boolean);
const unknown = only?.filter((name) => !(MEASUREMENTS as readonly string[]).includes(name));
if (unknown?.length) {
  console.error(`unknown measurement(s): ${unknown.join(', ')}; known: ${MEASUREMENTS.join(', ')}`);
  process.exit(2);
}

const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const run = await runBench({ quick: values.quick, log, ...(only === undefined ? {} : { only: only as Measurement[] }) });
const markdown = renderResults(run);
const out = values.out ?? (values.quick ? undefined : fileURLToPath(new URL('./RESULTS.md', import.meta.url)));
if (out === undefined) {
  process.stdout.write(markdown);
} else {
  await writeFile(out, markdown);
  log(`wrote ${out}`);
}
log(`done in ${run.seconds.toFixed(0)} s`);
