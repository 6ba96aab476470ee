import { describe, expect, it } from 'vitest';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { UnknownVersion } from '#lib/storage/port.ts';
import {
  describeObjectStoreConformance,
  describePrunableStoreConformance,
  describePurgingStoreConformance,
  describeVersionedStoreConformance,
} from './conformance.ts';

describeObjectStoreConformance('MemoryObjectStore', async () => ({ store: new MemoryObjectStore(), cleanup: async () => {} }));

describeVersionedStoreConformance('MemoryObjectStore', async () => ({ store: new MemoryObjectStore(), cleanup: async () => {} }), {
  conditionalWrites: true,
});

describePrunableStoreConformance('MemoryObjectStore', async () => ({ store: new MemoryObjectStore(), cleanup: async () => {} }));

describePurgingStoreConformance('MemoryObjectStore', async () => ({ store: new MemoryObjectStore(), cleanup: async () => {} }));

describe('MemoryObjectStore', () => {
  it('dates versions by its clock, never going back along a key', async () => {
    const times = [5_000_000, 4_000_000, 6_000_000];
    const store = new MemoryObjectStore({ clock: { now: () => times.shift()! } });
    let etag = await store.put('sessions/a.json', 'v0', { ifNoneMatch: '*' });
    etag = await store.put('sessions/a.json', 'v1', { ifMatch: etag });
    await store.put('sessions/a.json', 'v2', { ifMatch: etag });

    const listed = (await store.listVersions('sessions/a.json', { limit: 10 })).versions;

    expect(listed.map((version) => version.lastModified.getTime())).toEqual([6_000_000, 5_000_000, 5_000_000]);
  });

  it('refuses a cursor that is no version of the key', async () => {
    const store = new MemoryObjectStore();
    const other = await store.putVersion('sessions/b.json', 'b', { ifNoneMatch: '*' });
    await store.putVersion('sessions/a.json', 'a', { ifNoneMatch: '*' });

    const listing = store.listVersions('sessions/a.json', { limit: 10, cursor: other.versionId! });

    await expect(listing).rejects.toBeInstanceOf(UnknownVersion);
  });

  it('keeps what it stored when a caller changes an object it was given', async () => {
    const store = new MemoryObjectStore();
    await store.put('sessions/a.json', 'kept', { ifNoneMatch: '*' });

    const read = (await store.get('sessions/a.json'))!;
    read.body = 'changed';

    expect((await store.get('sessions/a.json'))?.body).toBe('kept');
  });
});
