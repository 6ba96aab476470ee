/**
 * Bundles each route's handler and the baseline handler with the CDK itself:
 * one `RouteFunction` (the construct the stack deploys, with its esbuild
 * options) per entry in a throwaway app, synthesized into OUTDIR. Prints one
 * JSON line: `[{ "name", "entry", "dir" }]`, `dir` holding `index.mjs` and
 * its source map.
 *
 *   node bench/cold-start/bundle.ts OUTDIR NAME=ENTRY...
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { RouteFunction } from '../../infra/route-function.ts';

const [outdir, ...entries] = process.argv.slice(2);
if (outdir === undefined || entries.length === 0) {
  console.error('usage: node bench/cold-start/bundle.ts OUTDIR NAME=ENTRY...');
  process.exit(2);
}

const projectRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
// Asset metadata names each function's bundle directory, as the CDK CLI asks for it.
const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
const stack = new Stack(app, 'ColdStartBundles');
const bucket = new Bucket(stack, 'Bucket');
const functions = entries.map((pair, index) => {
  const split = pair.lastIndexOf('=');
  const name = pair.slice(0, split);
  const entry = pair.slice(split + 1);
  if (split < 1 || !entry) throw new Error(`expected NAME=ENTRY, got ${pair}`);
  const routeFunction = new RouteFunction(stack, `Bundle${index}`, {
    entry: path.resolve(projectRoot, entry),
    projectRoot,
    description: name,
    buckets: { sessions: bucket },
    access: [],
    environment: {},
    memorySize: 512,
    timeout: Duration.seconds(10),
    logRetention: RetentionDays.ONE_DAY,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  return { name, entry, routeFunction };
});
app.synth();

const bundles = functions.map(({ name, entry, routeFunction }) => {
  const cfn = routeFunction.function.node.defaultChild as unknown as { cfnOptions: { metadata?: Record<string, unknown> } };
  const assetPath = cfn.cfnOptions.metadata?.['aws:asset:path'];
  if (typeof assetPath !== 'string') throw new Error(`no bundle directory for ${name}`);
  return { name, entry, dir: path.join(outdir, assetPath) };
});
process.stdout.write(`${JSON.stringify(bundles)}\n`);
