/**
 * Property: under random sequences of calls by random principals (runners of two roles, a fleet-mate, a user, an
 * operator), some of them concurrent, no session ever holds a version written by a principal that was neither the
 * owner of the version it replaced (of the session, for its first) nor an operator.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readServiceConfig } from '#lib/domain/config.ts';
import { newestFirstId, SESSIONS_PREFIX, sessionKey } from '#lib/domain/ids.ts';
import { ownerOfPrincipal } from '#lib/domain/owner.ts';
import type { Session } from '#lib/domain/session.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { invoke, request } from '../helpers/api-event.ts';
import { TEST_CONFIG, testService } from '../helpers/handlers.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();

const ACCOUNT = '123456789012';
const PRINCIPALS = [
  `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-a/i-0aaaaaaaaaaaaaaaa`,
  `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-a/i-0bbbbbbbbbbbbbbbb`,
  `arn:aws:sts::${ACCOUNT}:assumed-role/fleet-b/i-0cccccccccccccccc`,
  `arn:aws:iam::${ACCOUNT}:user/bob`,
  `arn:aws:sts::${ACCOUNT}:assumed-role/operators/console`,
] as const;
const OPERATORS = readServiceConfig({ OPERATOR_PRINCIPALS: `arn:aws:iam::${ACCOUNT}:role/operators` }).operators;
const isOperator = (principal: string) => OPERATORS.has(ownerOfPrincipal(principal));

const KINDS = ['create', 'append', 'pause', 'resume', 'terminate', 'acquire', 'take-over', 'heartbeat', 'restore', 'adopt'] as const;
const call = fc.record({
  kind: fc.constantFrom(...KINDS),
  who: fc.nat(PRINCIPALS.length - 1),
  target: fc.nat(20),
  pick: fc.nat(50),
  concurrent: fc.boolean(),
});

describe('ownership under random calls by random principals', () => {
  it('no stored version was written by a principal that was neither its owner nor an operator (60 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 30 }), fc.nat(2), async (calls, legacyCount) => {
        const store = new MemoryObjectStore();
        const service = testService({ store, renewals: new MemoryObjectStore(), config: { ...TEST_CONFIG, operators: OPERATORS } });
        const ids: string[] = [];
        // Sessions stored before owners: no owner, no writer.
        for (let n = 0; n < legacyCount; n++) {
          const id = newestFirstId(Date.now() - n);
          const seconds = Math.floor(Date.now() / 1000);
          const legacy: Session = { id, name: 'legacy', job_ids: [], created_at: seconds, updated_at: seconds, status: 'active' };
          await store.put(sessionKey(id), JSON.stringify(legacy), { ifNoneMatch: '*' });
          ids.push(id);
        }
        const epochs = new Map<string, number>();
        const run = async ({ kind, who, target, pick }: (typeof calls)[number]) => {
          const caller = PRINCIPALS[who]!;
          const id = ids[target % Math.max(ids.length, 1)];
          if (kind === 'create' || id === undefined) {
            const created = await invoke(
              service.createSession,
              request.createSession({ body: pick % 2 ? { lease_seconds: 60 } : {}, caller }),
            );
            ids.push(created.body.id);
            return;
          }
          const epoch = { 'lease-epoch': String(epochs.get(id) ?? 1) };
          switch (kind) {
            case 'append':
              await invoke(service.addJob, request.addJob(id, { body: { job_id: `job-${pick}` }, headers: epoch, caller }));
              break;
            case 'pause':
            case 'resume':
            case 'terminate': {
              const status = { pause: 'paused', resume: 'active', terminate: 'terminated' }[kind];
              await invoke(service.setStatus, request.setStatus(id, { body: { status }, headers: epoch, caller }));
              break;
            }
            case 'acquire':
            case 'take-over': {
              const taken = await invoke(service.acquireLease, request.acquireLease(id, { body: { force: kind === 'take-over' }, caller }));
              if (taken.statusCode === 200) epochs.set(id, taken.body.lease.epoch);
              break;
            }
            case 'heartbeat':
              await invoke(service.heartbeat, request.heartbeat(id, { headers: epoch, caller }));
              break;
            case 'restore': {
              const { versions } = await store.listVersions(sessionKey(id), { limit: 100 });
              const version = versions[pick % versions.length]!.versionId;
              await invoke(
                service.restoreSession,
                request.restoreSession(id, { body: { version_id: version, force: pick % 2 === 0 }, caller }),
              );
              break;
            }
            case 'adopt':
              await invoke(
                service.adoptSession,
                request.adoptSession(id, { body: { owner: ownerOfPrincipal(PRINCIPALS[pick % 4]!) }, caller }),
              );
              break;
          }
        };
        for (let index = 0; index < calls.length; index++) {
          const next = calls[index + 1];
          if (calls[index]!.concurrent && next !== undefined) {
            await Promise.all([run(calls[index]!), run(next)]);
            index++;
          } else await run(calls[index]!);
        }

        const { keys } = await store.list(SESSIONS_PREFIX, { limit: 1000 });
        for (const key of keys) {
          const { versions } = await store.listVersions(key, { limit: 1000 });
          const oldestFirst = await Promise.all(
            versions.reverse().map(async ({ versionId }) => JSON.parse((await store.getVersion(key, versionId))!.body) as Session),
          );
          for (const [index, version] of oldestFirst.entries()) {
            const writer = version.updated_by;
            if (writer === undefined) {
              expect(index, `${key}: a version without a writer is only a seeded first`).toBe(0);
              continue;
            }
            const owner = index === 0 ? version.owner : oldestFirst[index - 1]!.owner;
            expect(isOperator(writer) || (owner !== undefined && ownerOfPrincipal(writer) === owner), `${key} #${index} by ${writer}`).toBe(
              true,
            );
            // And no change but an operator's adoption moves the owner.
            if (index > 0 && version.owner !== owner) expect(isOperator(writer)).toBe(true);
          }
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
