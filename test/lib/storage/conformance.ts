import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  bareEtag,
  ConditionNotMet,
  type ListPage,
  type ObjectStore,
  type ObjectVersion,
  type PrunableObjectStore,
  type PurgingObjectStore,
  StoreFault,
  sameEtag,
  type VersionedObjectStore,
} from '#lib/storage/port.ts';

/** A store under test and how to dispose of it. */
export interface ConformanceSubject {
  /** A store whose key space starts empty (a fresh directory, a fresh fake, or a fresh key prefix). */
  store: ObjectStore;
  cleanup: () => Promise<void>;
}

const RACE_TIMEOUT_MS = 120_000;

/**
 * The behaviour every `ObjectStore` must have, as one vitest suite:
 * conditional creates and replaces (also under races), S3 ETags, byte-exact
 * bodies, and prefix listing with pagination. `setup` is called for each test
 * (and once for the listing tests, which share 315 seeded keys).
 */
export function describeObjectStoreConformance(name: string, setup: () => Promise<ConformanceSubject>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    describe('reads and conditional writes', () => {
      let store: ObjectStore;
      let cleanup: (() => Promise<void>) | undefined;

      beforeEach(async () => {
        ({ store, cleanup } = await setup());
      });

      afterEach(async () => {
        await cleanup?.();
        cleanup = undefined;
      });

      it('answers undefined for a key that was never written', async () => {
        const got = await store.get('sessions/00000000000000000000000000000000.json');

        expect(got).toBeUndefined();
      });

      it('creates with ifNoneMatch and reads back the body with the ETag put returned', async () => {
        const body = '{"id":"a","job_ids":[]}';

        const etag = await store.put('sessions/a.json', body, { ifNoneMatch: '*' });
        const got = await store.get('sessions/a.json');

        expect(got?.body).toBe(body);
        expect(sameEtag(got!.etag, etag)).toBe(true);
      });

      it('refuses a second create of the same key and keeps the first body', async () => {
        await store.put('sessions/a.json', 'first', { ifNoneMatch: '*' });

        const second = store.put('sessions/a.json', 'second', { ifNoneMatch: '*' });

        await expect(second).rejects.toBeInstanceOf(ConditionNotMet);
        expect((await store.get('sessions/a.json'))?.body).toBe('first');
      });

      it(
        'lets exactly one of 20 concurrent creators of one key win, and keeps the winner’s body',
        async () => {
          const key = 'sessions/contested.json';
          const bodies = Array.from({ length: 20 }, (_, creator) => JSON.stringify({ creator }));

          const outcomes = await Promise.allSettled(bodies.map((body) => store.put(key, body, { ifNoneMatch: '*' })));

          const winners = outcomes.flatMap((outcome, creator) =>
            outcome.status === 'fulfilled' ? [{ creator, etag: outcome.value }] : [],
          );
          const refusals = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
          expect(winners).toHaveLength(1);
          // The port allows StoreFault ("may or may not have happened"); the stored body proves none of those landed.
          for (const refusal of refusals)
            expect(refusal instanceof ConditionNotMet || refusal instanceof StoreFault, String(refusal)).toBe(true);
          const stored = await store.get(key);
          expect(stored?.body).toBe(bodies[winners[0]!.creator]);
          expect(sameEtag(stored!.etag, winners[0]!.etag)).toBe(true);
        },
        RACE_TIMEOUT_MS,
      );

      it('replaces with the current ETag and returns the new ETag, which get then returns', async () => {
        const first = await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });

        const second = await store.put('sessions/a.json', 'v2', { ifMatch: first });

        const got = await store.get('sessions/a.json');
        expect(got?.body).toBe('v2');
        expect(sameEtag(got!.etag, second)).toBe(true);
        expect(sameEtag(second, first)).toBe(false);
      });

      it('refuses a stale ETag and keeps the current body', async () => {
        const first = await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });
        await store.put('sessions/a.json', 'v2', { ifMatch: first });

        const stale = store.put('sessions/a.json', 'v3', { ifMatch: first });

        await expect(stale).rejects.toBeInstanceOf(ConditionNotMet);
        expect((await store.get('sessions/a.json'))?.body).toBe('v2');
      });

      it('refuses an ETag no version ever had', async () => {
        await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });

        const wrong = store.put('sessions/a.json', 'v2', { ifMatch: md5Etag('something else') });

        await expect(wrong).rejects.toBeInstanceOf(ConditionNotMet);
        expect((await store.get('sessions/a.json'))?.body).toBe('v1');
      });

      it('refuses ifMatch on a missing key and creates nothing', async () => {
        const attempt = store.put('sessions/missing.json', 'v1', { ifMatch: md5Etag('v0') });

        await expect(attempt).rejects.toBeInstanceOf(ConditionNotMet);
        expect(await store.get('sessions/missing.json')).toBeUndefined();
        expect(await store.list('', { limit: 10 })).toEqual({ keys: [], truncated: false });
      });

      it.each([
        ['quoted', (etag: string) => `"${bareEtag(etag)}"`],
        ['unquoted', (etag: string) => bareEtag(etag)],
      ])('accepts the current ETag %s as ifMatch', async (_, form) => {
        const first = await store.put('sessions/a.json', 'v1', { ifNoneMatch: '*' });

        const second = await store.put('sessions/a.json', 'v2', { ifMatch: form(first) });

        expect(sameEtag(second, md5Etag('v2'))).toBe(true);
        expect((await store.get('sessions/a.json'))?.body).toBe('v2');
      });

      it('gives the quoted MD5 hex of the body as ETag, from put and from get', async () => {
        const bodies = ['{}', '{"id":"fffe6a1c2b3d4e5f60718293a4b5c6d7","job_ids":["job-1"]}', 'ünïcødé ✓ 🚀', ''];

        for (const [index, body] of bodies.entries()) {
          const key = `sessions/etag-${index}.json`;
          const put = await store.put(key, body, { ifNoneMatch: '*' });
          const got = await store.get(key);

          expect(sameEtag(put, md5Etag(body)), `put ETag ${put} for ${JSON.stringify(body)}`).toBe(true);
          expect(sameEtag(got!.etag, md5Etag(body)), `get ETag ${got?.etag} for ${JSON.stringify(body)}`).toBe(true);
        }
      });

      it('keeps the ETag when the same body is written again, and that ETag still matches', async () => {
        const first = await store.put('sessions/a.json', 'same', { ifNoneMatch: '*' });

        const again = await store.put('sessions/a.json', 'same', { ifMatch: first });
        const next = await store.put('sessions/a.json', 'next', { ifMatch: again });

        expect(sameEtag(again, first)).toBe(true);
        expect(sameEtag(next, md5Etag('next'))).toBe(true);
      });

      it('round-trips a Unicode body byte for byte', async () => {
        const body = '{"name":"ünïcødé ✓ 日本語 🚀 👩‍👩‍👧 e\u0301 \u202Eltr\u202C \u0000 \t\r\n \uFFFD \u{10FFFF}"}';

        const etag = await store.put('sessions/unicode.json', body, { ifNoneMatch: '*' });
        const got = await store.get('sessions/unicode.json');

        expect(got?.body).toBe(body);
        expect(Buffer.from(got!.body, 'utf-8').equals(Buffer.from(body, 'utf-8'))).toBe(true);
        expect(sameEtag(etag, md5Etag(body))).toBe(true);
      });

      it('stores an empty body', async () => {
        const etag = await store.put('sessions/empty.json', '', { ifNoneMatch: '*' });
        const got = await store.get('sessions/empty.json');

        expect(got?.body).toBe('');
        expect(sameEtag(etag, '"d41d8cd98f00b204e9800998ecf8427e"')).toBe(true);
        expect(sameEtag(got!.etag, etag)).toBe(true);
      });

      it('round-trips a body of 512 KiB', async () => {
        const body = JSON.stringify({ job_ids: Array.from({ length: 16_384 }, (_, n) => `job-${n.toString().padStart(26, '0')}`) }).slice(
          0,
          512 * 1024,
        );

        const etag = await store.put('sessions/large.json', body, { ifNoneMatch: '*' });
        const got = await store.get('sessions/large.json');

        expect(got?.body.length).toBe(body.length);
        expect(got?.body === body).toBe(true);
        expect(sameEtag(etag, md5Etag(body))).toBe(true);
      });

      it('stores keys with spaces, punctuation, capitals and non-ASCII characters', async () => {
        const keys = ['names/ünï cødé ✓/日本 (1).json', 'names/A+B=C~D%20E#F?G&H', 'names/Session.JSON', 'names/session.json'];

        for (const [index, key] of keys.entries()) await store.put(key, `body ${index}`, { ifNoneMatch: '*' });

        for (const [index, key] of keys.entries()) expect((await store.get(key))?.body).toBe(`body ${index}`);
        expect((await store.list('names/', { limit: 10 })).keys).toEqual([...keys].sort(byUtf8));
      });

      it('lists keys in UTF-8 byte order, not UTF-16 order', async () => {
        // U+E000 < U+FFFD < U+1F680 in UTF-8 bytes; in UTF-16 code units the emoji (a surrogate pair) sorts first.
        const keys = ['order/\u{1F680}', 'order/\uFFFD', 'order/\uE000', 'order/~'];
        for (const key of keys) await store.put(key, key, { ifNoneMatch: '*' });

        const byOne = await listAll(store, 'order/', 1);
        const whole = await store.list('order/', { limit: 10 });

        const expected = ['order/~', 'order/\uE000', 'order/\uFFFD', 'order/\u{1F680}'];
        expect(whole.keys).toEqual(expected);
        expect(byOne.flatMap((page) => page.keys)).toEqual(expected);
      });

      it(
        'loses and duplicates nothing when 16 writers each append 25 entries by compare-and-swap',
        async () => {
          const key = 'sessions/appends.json';
          await store.put(key, '[]', { ifNoneMatch: '*' });
          const writers = Array.from({ length: 16 }, (_, writer) => writer);

          await Promise.all(
            writers.map(async (writer) => {
              for (let n = 0; n < 25; n++) await appendEntry(store, key, `w${writer}-${n}`);
            }),
          );

          const entries = JSON.parse((await store.get(key))!.body) as string[];
          expect(entries).toHaveLength(400);
          expect(new Set(entries)).toEqual(new Set(writers.flatMap((writer) => Array.from({ length: 25 }, (_, n) => `w${writer}-${n}`))));
          for (const writer of writers) {
            expect(entries.filter((entry) => entry.startsWith(`w${writer}-`))).toEqual(
              Array.from({ length: 25 }, (_, n) => `w${writer}-${n}`),
            );
          }
        },
        RACE_TIMEOUT_MS,
      );
    });

    describe('listing by prefix', () => {
      let store: ObjectStore;
      let cleanup: (() => Promise<void>) | undefined;
      const sessionKeys = Array.from({ length: 300 }, () => `sessions/${randomBytes(16).toString('hex')}.json`);
      const trickyKeys = [
        'sessions/a',
        'sessions/a/b',
        'sessions/a/b/c',
        'sessions/a-b',
        'sessions/a.b',
        'sessions/a0',
        'sessions/A',
        'sessions/é',
        'sessions/日本',
        'sessions/z z',
      ];
      const otherKeys = ['names/x', 'sessions-archive/old.json', 'sessionsx', 'session', 'idempotency/k'];
      const allKeys = [...sessionKeys, ...trickyKeys, ...otherKeys];
      const under = (prefix: string) => allKeys.filter((key) => key.startsWith(prefix)).sort(byUtf8);

      beforeAll(async () => {
        ({ store, cleanup } = await setup());
        await inBatches(allKeys, 16, (key) => store.put(key, '{}', { ifNoneMatch: '*' }));
      }, RACE_TIMEOUT_MS);

      afterAll(async () => {
        await cleanup?.();
      }, RACE_TIMEOUT_MS);

      it.each([7, 100, 155, 310, 1000])(
        'pages through the 310 keys under sessions/ with limit %i: ascending, complete, no duplicates, truncated right',
        async (limit) => {
          const expected = under('sessions/');
          expect(expected).toHaveLength(310);

          const pages = await listAll(store, 'sessions/', limit);

          expect(pages.flatMap((page) => page.keys)).toEqual(expected);
          expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / limit)));
          for (const page of pages) {
            const last = page.keys.at(-1)!;
            expect(page.keys.length).toBe(page.truncated ? limit : expected.length - expected.indexOf(page.keys[0]!));
            expect(page.truncated).toBe(expected.indexOf(last) < expected.length - 1);
          }
        },
        RACE_TIMEOUT_MS,
      );

      it.each(['sessions/a', 'sess', 'names/', 'session', ''])('lists exactly the keys that start with %j', async (prefix) => {
        const pages = await listAll(store, prefix, 1000);

        expect(pages.flatMap((page) => page.keys)).toEqual(under(prefix));
      });

      it('lists nothing under a prefix no key has', async () => {
        const page = await store.list('nothing/', { limit: 5 });

        expect(page).toEqual({ keys: [], truncated: false });
      });

      it('starts strictly after startAfter, whether or not it is a stored key', async () => {
        const expected = under('sessions/');
        const stored = expected[41]!;
        const between = `${expected[99]!}!`;

        const afterStored = await store.list('sessions/', { limit: 3, startAfter: stored });
        const afterBetween = await store.list('sessions/', { limit: 3, startAfter: between });

        expect(afterStored).toEqual({ keys: expected.slice(42, 45), truncated: true });
        expect(afterBetween).toEqual({ keys: expected.slice(100, 103), truncated: true });
      });

      it('lists from the start when startAfter sorts before the prefix, and nothing when it sorts after every key', async () => {
        const expected = under('sessions/');

        const before = await store.list('sessions/', { limit: 5, startAfter: 'a' });
        const beyond = await store.list('sessions/', { limit: 5, startAfter: 'sessions/\u{10FFFF}' });

        expect(before).toEqual({ keys: expected.slice(0, 5), truncated: true });
        expect(beyond).toEqual({ keys: [], truncated: false });
      });

      it('returns a key written after the listing began on a later page, and only once', async () => {
        const first = await store.list('sessions/', { limit: 100 });
        const late = 'sessions/zz-late.json';
        await store.put(late, '{}', { ifNoneMatch: '*' });
        allKeys.push(late);

        const rest = await listAll(store, 'sessions/', 100, first.keys.at(-1));

        expect(byUtf8(late, first.keys.at(-1)!)).toBeGreaterThan(0);
        expect([...first.keys, ...rest.flatMap((page) => page.keys)]).toEqual(under('sessions/'));
      });
    });
  });
}

/** A versioned store under test and how to dispose of it. */
export interface VersionedConformanceSubject {
  /** A store whose key space starts empty. */
  store: VersionedObjectStore;
  cleanup: () => Promise<void>;
}

export interface VersionedConformanceOptions {
  /**
   * False when the store under test cannot enforce write conditions itself
   * (the tests that only a real conditional write can pass are then skipped,
   * with this reason in their name).
   */
  conditionalWrites: true | { skipReason: string };
}

/**
 * The version behaviour every `VersionedObjectStore` must have, as one vitest
 * suite: each write makes one immutable version, reported by the write and
 * readable by its ID; listings hold exactly the key's versions, newest first,
 * the current one marked, paged by cursor; refused writes make no version.
 * Nothing here assumes version IDs sort in any order.
 */
export function describeVersionedStoreConformance(
  name: string,
  setup: () => Promise<VersionedConformanceSubject>,
  { conditionalWrites }: VersionedConformanceOptions,
): void {
  const needsConditions = conditionalWrites === true ? it : it.skip;
  const conditionsNote = conditionalWrites === true ? '' : ` (skipped: ${conditionalWrites.skipReason})`;

  describe(`VersionedObjectStore conformance: ${name}`, () => {
    let store: VersionedObjectStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });

    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    /** Writes `bodies` to `key` in order, the first as a create, each next one If-Match the one before; returns the version IDs. */
    async function writeInOrder(key: string, bodies: string[]): Promise<string[]> {
      const ids: string[] = [];
      let etag: string | undefined;
      for (const body of bodies) {
        const written = await store.putVersion(key, body, etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag });
        expect(written.versionId, `version of ${JSON.stringify(body)}`).toEqual(expect.any(String));
        etag = written.etag;
        ids.push(written.versionId!);
      }
      return ids;
    }

    async function allVersions(key: string, limit: number): Promise<ObjectVersion[][]> {
      const pages: ObjectVersion[][] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listVersions(key, { limit, ...(cursor === undefined ? {} : { cursor }) });
        pages.push(page.versions);
        cursor = page.cursor;
        if (pages.length > 100) throw new Error('the listing does not end');
      } while (cursor !== undefined);
      return pages;
    }

    it('reports the version each write makes, with the ETag put would return, and reads each one back by its ID', async () => {
      const bodies = ['{"v":1}', '{"v":2}', '{"v":3}'];

      const ids = await writeInOrder('sessions/a.json', bodies);

      expect(new Set(ids).size).toBe(3);
      for (const [index, id] of ids.entries()) {
        const version = await store.getVersion('sessions/a.json', id);
        expect(version?.body, id).toBe(bodies[index]);
        expect(sameEtag(version!.etag, md5Etag(bodies[index]!)), id).toBe(true);
        expect(version?.versionId).toBe(id);
      }
      expect((await store.get('sessions/a.json'))?.body).toBe('{"v":3}');
    });

    it('lists the versions of exactly the key, newest first, only the current one marked latest', async () => {
      const bodies = ['one', 'two', 'three'];
      const ids = await writeInOrder('sessions/a.json', bodies);
      // Keys that share the prefix, and one that is a prefix of the key: none of theirs may show.
      await writeInOrder('sessions/a.json.bak', ['other']);
      await writeInOrder('sessions/a.jsonx', ['other']);
      await writeInOrder('sessions/a', ['other']);

      const page = await store.listVersions('sessions/a.json', { limit: 10 });

      expect(page.versions.map((version) => version.versionId)).toEqual([...ids].reverse());
      expect(page.versions.map((version) => version.isLatest)).toEqual([true, false, false]);
      expect(page.versions.map((version) => bareEtag(version.etag))).toEqual([...bodies].reverse().map((body) => bareEtag(md5Etag(body))));
      const times = page.versions.map((version) => version.lastModified.getTime());
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect(Math.abs(times[0]! - Date.now())).toBeLessThan(5 * 60_000);
      expect(page.cursor).toBeUndefined();
    });

    it('pages through 7 versions 3 at a time: 3, 3, 1, newest first, none twice, a cursor on every page but the last', async () => {
      const ids = await writeInOrder(
        'sessions/paged.json',
        Array.from({ length: 7 }, (_, n) => `body-${n}`),
      );

      const pages = await allVersions('sessions/paged.json', 3);

      expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
      expect(pages.flat().map((version) => version.versionId)).toEqual([...ids].reverse());
    });

    it('resumes after any listed version passed as the cursor, and ends without a cursor on an exact last page', async () => {
      const ids = await writeInOrder('sessions/resume.json', ['a', 'b', 'c', 'd']);

      const older = await store.listVersions('sessions/resume.json', { limit: 2, cursor: ids[2] });

      expect(older.versions.map((version) => version.versionId)).toEqual([ids[1], ids[0]]);
      expect(older.versions.every((version) => !version.isLatest)).toBe(true);
      expect(older.cursor).toBeUndefined();
    });

    it('has no versions for a key never written, and no version for an unknown ID, another key’s ID or a missing key', async () => {
      const [mine] = await writeInOrder('sessions/mine.json', ['mine']);
      const [theirs] = await writeInOrder('sessions/theirs.json', ['theirs']);

      expect(await store.listVersions('sessions/never.json', { limit: 5 })).toEqual({ versions: [] });
      expect(await store.getVersion('sessions/mine.json', theirs!)).toBeUndefined();
      expect(await store.getVersion('sessions/never.json', mine!)).toBeUndefined();
      expect(await store.getVersion('sessions/mine.json', 'no-such-version')).toBeUndefined();
    });

    it('records one version per compare-and-swap write, each holding the state it wrote', async () => {
      const key = 'sessions/appends.json';
      const written = [await store.putVersion(key, '[]', { ifNoneMatch: '*' })];
      for (let n = 0; n < 5; n++) {
        const current = (await store.get(key))!;
        const next = JSON.stringify([...(JSON.parse(current.body) as number[]), n]);
        written.push(await store.putVersion(key, next, { ifMatch: current.etag }));
      }

      const listed = (await store.listVersions(key, { limit: 10 })).versions;

      expect(listed.map((version) => version.versionId)).toEqual(written.map((write) => write.versionId).reverse());
      const bodies = await Promise.all(listed.map(async (version) => (await store.getVersion(key, version.versionId))!.body));
      expect(bodies).toEqual(['[0,1,2,3,4]', '[0,1,2,3]', '[0,1,2]', '[0,1]', '[0]', '[]']);
    });

    needsConditions(`makes no version for a refused create or a stale replace${conditionsNote}`, async () => {
      const [first] = await writeInOrder('sessions/refused.json', ['v1']);

      await expect(store.putVersion('sessions/refused.json', 'again', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ConditionNotMet);
      await expect(store.putVersion('sessions/refused.json', 'stale', { ifMatch: md5Etag('v0') })).rejects.toBeInstanceOf(ConditionNotMet);
      await expect(store.putVersion('sessions/missing.json', 'x', { ifMatch: md5Etag('v1') })).rejects.toBeInstanceOf(ConditionNotMet);

      expect((await store.listVersions('sessions/refused.json', { limit: 10 })).versions.map((version) => version.versionId)).toEqual([
        first,
      ]);
      expect(await store.listVersions('sessions/missing.json', { limit: 10 })).toEqual({ versions: [] });
    });

    needsConditions(
      `makes exactly one version when 8 writers race to replace the same version${conditionsNote}`,
      async () => {
        const key = 'sessions/race.json';
        const [first] = await writeInOrder(key, ['start']);
        const etag = (await store.get(key))!.etag;

        const outcomes = await Promise.allSettled(
          Array.from({ length: 8 }, (_, n) => store.putVersion(key, `writer-${n}`, { ifMatch: etag })),
        );

        const winners = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
        expect(winners).toHaveLength(1);
        const listed = (await store.listVersions(key, { limit: 10 })).versions;
        expect(listed.map((version) => version.versionId)).toEqual([winners[0]!.versionId, first]);
        expect((await store.getVersion(key, winners[0]!.versionId!))?.body).toBe((await store.get(key))?.body);
      },
      RACE_TIMEOUT_MS,
    );
  });
}

/** The ETag S3 gives a single-part upload of `body`. */
export function md5Etag(body: string): string {
  return `"${createHash('md5').update(body, 'utf-8').digest('hex')}"`;
}

/** Ascending order of the keys' UTF-8 bytes: the order S3 lists in. */
export function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf-8'), Buffer.from(b, 'utf-8'));
}

/** Every page of a listing, following `startAfter` from each page's last key. */
export async function listAll(store: ObjectStore, prefix: string, limit: number, startAfter?: string): Promise<ListPage[]> {
  const pages: ListPage[] = [];
  let after = startAfter;
  for (;;) {
    const page = await store.list(prefix, { limit, ...(after === undefined ? {} : { startAfter: after }) });
    pages.push(page);
    if (!page.truncated) return pages;
    if (page.keys.length === 0 || pages.length > 10_000) throw new Error('a truncated page must carry keys');
    after = page.keys.at(-1);
  }
}

/** Runs `task` on every item, at most `width` at a time. */
export async function inBatches<T>(items: T[], width: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

/**
 * Appends `entry` to the JSON array at `key`: read, append, write `ifMatch`,
 * and on refusal read again. An entry already present means an earlier write
 * reported as failed had landed.
 */
async function appendEntry(store: ObjectStore, key: string, entry: string): Promise<void> {
  for (let attempt = 1; attempt <= 500; attempt++) {
    const current = await store.get(key);
    const entries = JSON.parse(current!.body) as string[];
    if (entries.includes(entry)) return;
    try {
      await store.put(key, JSON.stringify([...entries, entry]), { ifMatch: current!.etag });
      return;
    } catch (error) {
      if (!(error instanceof ConditionNotMet || error instanceof StoreFault)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 50)));
  }
  throw new Error(`gave up appending ${entry} to ${key} after 500 attempts`);
}

/** A store under test for {@link describePrunableStoreConformance}. */
export interface PrunableConformanceSubject {
  store: PrunableObjectStore;
  cleanup: () => Promise<void>;
}

/**
 * What every `PrunableObjectStore` must do besides the plain port: list each
 * object with the ETag a read gives and a write time near the write's, and
 * delete an object (a missing key is no error) so that a create-only write of
 * the key succeeds again.
 */
export function describePrunableStoreConformance(name: string, setup: () => Promise<PrunableConformanceSubject>): void {
  describe(`PrunableObjectStore conformance: ${name}`, () => {
    let store: PrunableObjectStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });

    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    it('lists the keys list gives, each with its current ETag and a write time near the write', async () => {
      const before = Date.now();
      const a = await store.put('leases/a/1-60.json', '{"n":1}', { ifNoneMatch: '*' });
      const b = await store.put('leases/b/1-60.json', '{"n":2}', { ifNoneMatch: '*' });
      const b2 = await store.put('leases/b/1-60.json', '{"n":3}', { ifMatch: b });
      await store.put('other/c.json', '{}', { ifNoneMatch: '*' });

      const page = await store.listObjects('leases/', { limit: 10 });
      const keys = await store.list('leases/', { limit: 10 });

      expect(page.objects.map(({ key }) => key)).toEqual(keys.keys);
      expect(page.objects.map(({ key }) => key)).toEqual(['leases/a/1-60.json', 'leases/b/1-60.json']);
      expect(sameEtag(page.objects[0]!.etag, a)).toBe(true);
      expect(sameEtag(page.objects[1]!.etag, b2)).toBe(true);
      for (const { lastModified } of page.objects) {
        // Second-granular stores (S3) round the time down; clocks of a remote store may differ a little.
        expect(lastModified.getTime()).toBeGreaterThanOrEqual(before - 5_000);
        expect(lastModified.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
      }
      expect(page.truncated).toBe(false);
    });

    it('pages the object listing as the key listing', async () => {
      for (const n of [1, 2, 3]) await store.put(`leases/p/${n}-60.json`, '{}', { ifNoneMatch: '*' });

      const first = await store.listObjects('leases/p/', { limit: 2 });
      const rest = await store.listObjects('leases/p/', { limit: 2, startAfter: first.objects.at(-1)!.key });

      expect(first.objects.map(({ key }) => key)).toEqual(['leases/p/1-60.json', 'leases/p/2-60.json']);
      expect(first.truncated).toBe(true);
      expect(rest.objects.map(({ key }) => key)).toEqual(['leases/p/3-60.json']);
      expect(rest.truncated).toBe(false);
    });

    it('deletes an object, after which it reads as missing and can be created again; a missing key deletes quietly', async () => {
      const etag = await store.put('leases/d/1-60.json', '{"n":1}', { ifNoneMatch: '*' });

      await store.delete('leases/d/1-60.json');
      await store.delete('leases/d/1-60.json');
      await store.delete('leases/never-written.json');

      expect(await store.get('leases/d/1-60.json')).toBeUndefined();
      expect((await store.listObjects('leases/d/', { limit: 10 })).objects).toEqual([]);
      await expect(store.put('leases/d/1-60.json', '{"n":2}', { ifMatch: etag })).rejects.toBeInstanceOf(ConditionNotMet);
      await store.put('leases/d/1-60.json', '{"n":3}', { ifNoneMatch: '*' });
      expect((await store.get('leases/d/1-60.json'))?.body).toBe('{"n":3}');
    });
  });
}

/** A store under test for {@link describePurgingStoreConformance}. */
export interface PurgingConformanceSubject {
  store: PurgingObjectStore;
  cleanup: () => Promise<void>;
}

/**
 * What every `PurgingObjectStore` must do: `purge` deletes a key with all its
 * versions (listed, read by ID, read current: none left), touches no other
 * key, honours `ifMatch`, is quiet for a missing key, and a key purged can be
 * created again with versions that are new (no ID reused).
 */
export function describePurgingStoreConformance(name: string, setup: () => Promise<PurgingConformanceSubject>): void {
  describe(`PurgingObjectStore conformance: ${name}`, () => {
    let store: PurgingObjectStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await setup());
    });

    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    it('deletes every version of the key and nothing of its neighbours', async () => {
      const first = await store.putVersion('sessions/p.json', '{"n":1}', { ifNoneMatch: '*' });
      const second = await store.putVersion('sessions/p.json', '{"n":2}', { ifMatch: first.etag });
      await store.put('sessions/p.json.other', 'kept', { ifNoneMatch: '*' });
      await store.put('sessions/o.json', 'kept too', { ifNoneMatch: '*' });

      await store.purge('sessions/p.json');

      expect(await store.get('sessions/p.json')).toBeUndefined();
      expect((await store.listVersions('sessions/p.json', { limit: 10 })).versions).toEqual([]);
      expect(await store.getVersion('sessions/p.json', first.versionId!)).toBeUndefined();
      expect(await store.getVersion('sessions/p.json', second.versionId!)).toBeUndefined();
      expect((await store.list('sessions/', { limit: 10 })).keys).toEqual(['sessions/o.json', 'sessions/p.json.other']);
      expect((await store.get('sessions/p.json.other'))?.body).toBe('kept');
    });

    it('purges only while ifMatch is current, and a missing key quietly without it', async () => {
      const first = await store.put('sessions/m.json', '{"n":1}', { ifNoneMatch: '*' });
      const second = await store.put('sessions/m.json', '{"n":2}', { ifMatch: first });

      await expect(store.purge('sessions/m.json', first)).rejects.toBeInstanceOf(ConditionNotMet);
      expect((await store.get('sessions/m.json'))?.body).toBe('{"n":2}');
      await expect(store.purge('sessions/never.json', second)).rejects.toBeInstanceOf(ConditionNotMet);
      await store.purge('sessions/never.json');
      await store.purge('sessions/m.json', second);
      expect(await store.get('sessions/m.json')).toBeUndefined();
    });

    it('lets a purged key be created again, with new versions only', async () => {
      const old = await store.putVersion('sessions/r.json', '{"n":1}', { ifNoneMatch: '*' });
      await store.purge('sessions/r.json');

      await expect(store.put('sessions/r.json', '{"n":2}', { ifMatch: old.etag })).rejects.toBeInstanceOf(ConditionNotMet);
      const again = await store.putVersion('sessions/r.json', '{"n":1}', { ifNoneMatch: '*' });

      expect(again.versionId).not.toBe(old.versionId);
      expect((await store.get('sessions/r.json'))?.body).toBe('{"n":1}');
      expect((await store.listVersions('sessions/r.json', { limit: 10 })).versions.map((v) => v.versionId)).toEqual([again.versionId]);
    });
  });
}
