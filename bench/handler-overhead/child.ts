/**
 * Runs in its own process (started by bench/handler-overhead.ts): the
 * deployed handlers, through their whole middleware chain, against bare
 * handlers doing the same store calls, both on one in-memory store. Logs go
 * wherever the parent points stdout; the timings go back over IPC.
 *
 *   node bench/handler-overhead/child.ts '{"rounds":30,"block":500,"warmup":3000}'
 */
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import { ownerOfPrincipal } from '#lib/domain/owner.ts';
import type { Session } from '#lib/domain/session.ts';
import type { HttpEvent } from '#lib/http/event.ts';
import { JSON_CONTENT_TYPE } from '#lib/http/responses.ts';
import { apiRoute, routeHandler } from '#lib/http/route-table.ts';
import { dependenciesFor } from '#lib/runtime/lambda.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { ConditionNotMet, type ObjectStore } from '#lib/storage/port.ts';
import { apiEvent, lambdaContext, TEST_CALLER } from '../../test/helpers/api-event.ts';

type Handler = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface OverheadPlan {
  rounds: number;
  block: number;
  warmup: number;
}

export interface RouteSamples {
  route: string;
  /** Per round, the duration of each invocation in ms. */
  chainMs: number[][];
  bareMs: number[][];
}

const SESSIONS = 500;

const plan = JSON.parse(process.argv[2] ?? '{}') as OverheadPlan;
const store = new MemoryObjectStore();
const dependencies = dependenciesFor(store, new MemoryObjectStore());
const addJobHandler = routeHandler(apiRoute('AddJob'), dependencies);
const getSessionHandler = routeHandler(apiRoute('GetSession'), dependencies);

async function seedSessions(count: number): Promise<string[]> {
  const now = Date.now();
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const seconds = Math.floor((now - index) / 1000);
    const session: Session = {
      id: newestFirstId(now - index),
      name: 'overhead',
      job_ids: [],
      created_at: seconds,
      updated_at: seconds,
      status: 'active',
      // The signing role's (test/helpers/api-event.ts): the appends are its own runner's.
      owner: ownerOfPrincipal(TEST_CALLER),
    };
    await store.put(sessionKey(session.id), JSON.stringify(session), { ifNoneMatch: '*' });
    ids.push(session.id);
  }
  return ids;
}

/** A handler with no middleware: the store call, and the session as JSON. */
function bareGetSession(objects: ObjectStore): Handler {
  return async (event) => {
    const stored = await objects.get(sessionKey(event.pathParameters?.id ?? ''));
    if (stored === undefined) return { statusCode: 404, body: '{}' };
    return {
      statusCode: 200,
      headers: { 'Content-Type': JSON_CONTENT_TYPE, ETag: stored.etag },
      body: JSON.stringify(JSON.parse(stored.body)),
    };
  };
}

/** A handler with no middleware that appends a job as the warm repository does: one conditional PUT on the version it remembers. */
function bareAddJob(objects: ObjectStore): Handler {
  const remembered = new Map<string, { session: Session; etag: string }>();
  const read = async (key: string) => {
    const stored = await objects.get(key);
    if (stored === undefined) throw new Error(`no ${key}`);
    return { session: JSON.parse(stored.body) as Session, etag: stored.etag };
  };
  return async (event) => {
    const { job_id: jobId } = JSON.parse(event.body ?? '{}') as { job_id: string };
    const key = sessionKey(event.pathParameters?.id ?? '');
    let current = remembered.get(key) ?? (await read(key));
    for (;;) {
      if (current.session.job_ids.includes(jobId)) break;
      const next = { ...current.session, job_ids: [...current.session.job_ids, jobId], updated_at: Math.floor(Date.now() / 1000) };
      try {
        current = { session: next, etag: await objects.put(key, JSON.stringify(next), { ifMatch: current.etag }) };
        break;
      } catch (error) {
        if (!(error instanceof ConditionNotMet)) throw error;
        current = await read(key);
      }
    }
    remembered.set(key, current);
    return { statusCode: 200, headers: { 'Content-Type': JSON_CONTENT_TYPE, ETag: current.etag }, body: JSON.stringify(current.session) };
  };
}

interface Contender {
  handler: Handler;
  event: (index: number) => HttpEvent;
}

async function timeBlock({ handler, event }: Contender, from: number, count: number, out: number[]): Promise<void> {
  for (let index = from; index < from + count; index++) {
    const request = event(index);
    const context = lambdaContext();
    const started = process.hrtime.bigint();
    const response = await handler(request, context);
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (response.statusCode !== 200) throw new Error(`invocation ${index} answered ${response.statusCode}: ${response.body}`);
    out.push(elapsed);
  }
}

/** Warm-up, then rounds of one block each, alternating which goes first. */
async function compare(route: string, chain: Contender, bare: Contender): Promise<RouteSamples> {
  let next = 0;
  for (let done = 0; done < plan.warmup; done += plan.block) {
    await timeBlock(chain, next, plan.block, []);
    await timeBlock(bare, next, plan.block, []);
    next += plan.block;
  }
  const chainMs: number[][] = [];
  const bareMs: number[][] = [];
  for (let round = 0; round < plan.rounds; round++) {
    const mine: number[] = [];
    const theirs: number[] = [];
    const order =
      round % 2 === 0
        ? ([
            [chain, mine],
            [bare, theirs],
          ] as const)
        : ([
            [bare, theirs],
            [chain, mine],
          ] as const);
    for (const [contender, out] of order) await timeBlock(contender, next, plan.block, out);
    next += plan.block;
    chainMs.push(mine);
    bareMs.push(theirs);
  }
  return { route, chainMs, bareMs };
}

const readIds = await seedSessions(SESSIONS);
const chainIds = await seedSessions(SESSIONS);
const bareIds = await seedSessions(SESSIONS);
const getEvent = (index: number) => apiEvent('GET /sessions/{id}', { id: readIds[index % SESSIONS]! });
const addEvent = (ids: string[], side: string) => (index: number) =>
  apiEvent('POST /sessions/{id}/jobs', { id: ids[index % SESSIONS]! }, { body: { job_id: `${side}-${index}` } });

const results: RouteSamples[] = [
  await compare('GET /sessions/{id}', { handler: getSessionHandler, event: getEvent }, { handler: bareGetSession(store), event: getEvent }),
  await compare(
    'POST /sessions/{id}/jobs',
    { handler: addJobHandler, event: addEvent(chainIds, 'chain') },
    { handler: bareAddJob(store), event: addEvent(bareIds, 'bare') },
  ),
];
process.send!(results, () => process.exit(0));
