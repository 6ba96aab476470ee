import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { exportSessions } from '#lib/client/cli/export.ts';
import { SessionsClient } from '#lib/client/client.ts';
import { sessionKey } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import { parseExportedSession, SessionImporter } from '#lib/sessions/import.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { ObjectStore, StoredObject } from '#lib/storage/port.ts';
import { cli, createVariety, exportFrom, type Served, serve } from './export-import-helpers.ts';

const servers: Served[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function served(sessions: MemoryObjectStore, state: MemoryObjectStore): Promise<Served> {
  const server = await serve(sessions, state);
  servers.push(server);
  return server;
}

/** A session as an export line holds it. */
function session(fields: Partial<Session> & Record<string, unknown> = {}): Session {
  const parsed = parseExportedSession(
    JSON.stringify({
      id: 'fe5db4072e47bfee7d78067d1a24c6f1',
      name: 'n',
      job_ids: ['j'],
      created_at: 1,
      updated_at: 2,
      status: 'active',
      ...fields,
    }),
  );
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

/** `store`, with the writes it took counted and its next `get` of `key` answering nothing (another writer lands right after). */
function racing(store: MemoryObjectStore, key: string): ObjectStore & { puts: string[] } {
  let hidden = true;
  const puts: string[] = [];
  return {
    puts,
    async get(k: string): Promise<StoredObject | undefined> {
      if (k === key && hidden) {
        hidden = false;
        return undefined;
      }
      return store.get(k);
    },
    put: (k, body, condition) => {
      puts.push(k);
      return store.put(k, body, condition);
    },
    list: (prefix, options) => store.list(prefix, options),
  };
}

describe('SessionImporter', () => {
  it('finds an export identical to the store it came from, heartbeat-extended leases included, and writes nothing', async () => {
    const sessions = new MemoryObjectStore();
    const state = new MemoryObjectStore();
    const server = await served(sessions, state);
    await createVariety(server.url);
    const { lines } = await exportFrom(server.url);
    const writes: string[] = [];
    const counted: ObjectStore = {
      get: (key) => sessions.get(key),
      list: (prefix, options) => sessions.list(prefix, options),
      put: (key, body, condition) => {
        writes.push(key);
        return sessions.put(key, body, condition);
      },
    };
    const importer = new SessionImporter({ sessions: counted, state });

    const outcomes = await Promise.all(lines.map((line) => importer.importSession(parseExportedSession(line) as Session)));

    expect(outcomes).toEqual(lines.map(() => 'identical'));
    expect(writes).toEqual([]);
  });

  it('settles a session written by another writer between its read and its write: identical, or a conflict', async () => {
    const store = new MemoryObjectStore();
    const imported = session();
    await store.put(sessionKey(imported.id), JSON.stringify(imported), { ifNoneMatch: '*' });
    const other = session({ id: 'fe5db4072e47bfee7d78067d1a24c6f2' });
    await store.put(sessionKey(other.id), JSON.stringify({ ...other, status: 'paused' }), { ifNoneMatch: '*' });

    const same = await new SessionImporter({
      sessions: racing(store, sessionKey(imported.id)),
      state: new MemoryObjectStore(),
    }).importSession(imported);
    const racingOther = racing(store, sessionKey(other.id));
    const conflict = await new SessionImporter({ sessions: racingOther, state: new MemoryObjectStore() }).importSession(other);

    expect(same).toBe('identical');
    expect(conflict).toBe('conflict');
    expect(JSON.parse((await store.get(sessionKey(other.id)))!.body).status).toBe('paused');
    expect(racingOther.puts).toContain(sessionKey(other.id));
  });

  it('makes the renewal record of an open lease again when an earlier import stopped before it', async () => {
    const sessions = new MemoryObjectStore();
    const state = new MemoryObjectStore();
    const held = session({ lease: { holder: 'h', epoch: 3, seconds: 60, expires_at: 4_000_000_000 } });
    const importer = new SessionImporter({ sessions, state });
    await importer.importSession(held);
    const record = `leases/${held.id}/3-60.json`;
    const written = (await state.get(record))!.body;
    await state.delete(record);

    const again = await importer.importSession(held);

    expect(again).toBe('identical');
    expect((await state.get(record))?.body).toBe(written);
    expect(JSON.parse(written)).toEqual({ session_id: held.id, epoch: 3, seconds: 60, expires_at: 4_000_000_000 });
  });

  it('refuses lines that are not sessions, saying where', () => {
    expect(parseExportedSession('{"id":')).toBeInstanceOf(Error);
    expect((parseExportedSession('[]') as Error).message).toMatch(/^not a session: /);
    expect((parseExportedSession(JSON.stringify({ ...session(), created_at: -1 })) as Error).message).toMatch(
      /^not a session: created_at /,
    );
    expect(parseExportedSession(JSON.stringify({ ...session(), x_new: 1 }))).toMatchObject({ x_new: 1 });
  });
});

describe('runner-sessions export, streaming', () => {
  it('asks for the next page only once the output took the last one, and says how far it got', async () => {
    const sessions = new MemoryObjectStore();
    const state = new MemoryObjectStore();
    const repository = new SessionRepository({ store: sessions, renewals: state });
    for (let i = 0; i < 250; i++) await repository.createSession({ name: `s${i % 7}` });
    const server = await served(sessions, state);
    const lists: string[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      lists.push(String(input));
      return globalThis.fetch(input, init);
    };
    const chunks: string[] = [];
    let release: (() => void) | undefined;
    // A reader that takes the first page and then holds on until told, as a slow pipe would.
    const stdout = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf-8'));
        if (chunks.length === 1) release = done;
        else done();
      },
    });
    const err: string[] = [];
    const client = new SessionsClient({ baseUrl: server.url, sign: false, fetch });
    const io = { stdout, stderr: { write: (text: string) => err.push(text) }, env: {} };

    const running = exportSessions(
      { io, json: false, args: { values: {}, positionals: [] }, rest: [], timeoutSeconds: 0, client, clientWith: () => client },
      { progressEveryMs: 0 },
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const listedWhileHeld = lists.length;
    release!();
    await running;

    expect(listedWhileHeld).toBe(1);
    expect(lists.length).toBe(3);
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines.length).toBe(250);
    expect(lines.map((line) => JSON.parse(line).id)).toEqual(lines.map((line) => JSON.parse(line).id).toSorted());
    expect(err).toEqual([
      'runner-sessions export: 100 sessions so far\n',
      'runner-sessions export: 200 sessions so far\n',
      `runner-sessions export: 250 sessions from ${server.url}\n`,
    ]);
  });
});

describe('runner-sessions export, deployed', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('signs every request for an execute-api URL, and on a failure mid-way says the output is incomplete (exit 5)', async () => {
    vi.stubEnv('AWS_PROFILE', undefined);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXPORTEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'export-secret-EXAMPLE');
    vi.stubEnv('AWS_SESSION_TOKEN', undefined);
    const first = session();
    const requests: { url: string; headers: Record<string, string> }[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      requests.push({ url: String(input), headers: init?.headers as Record<string, string> });
      if (requests.length === 1) return Response.json({ sessions: [first], next_cursor: 'c1' });
      return Response.json({ error: { code: 'storage_unavailable', message: 'storage is unavailable', details: {} } }, { status: 503 });
    };

    const run = await cli(['export', '--url', 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod'], { fetch });

    expect(run.code).toBe(5);
    expect(run.out).toBe(`${JSON.stringify(first)}\n`);
    expect(run.err).toMatch(/^runner-sessions export: stopped after 1 sessions; the output is incomplete\nrunner-sessions: .*storage/);
    expect(requests.map((request) => new URL(request.url).search)).toEqual(['?limit=100', '?limit=100&cursor=c1']);
    for (const request of requests) {
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXPORTEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, /,
      );
    }
  });
});
