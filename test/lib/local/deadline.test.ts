import { describe, expect, it } from 'vitest';
import { StorageUnavailable } from '#lib/domain/errors.ts';
import { deadlineBoundStore, withRequestDeadline } from '#lib/local/deadline.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';

describe('deadlineBoundStore', () => {
  it('refuses to start a write closer to the request deadline than the reserve, as storage_unavailable', async () => {
    const store = deadlineBoundStore(new MemoryObjectStore(), { reserveMs: 1_000 });
    await store.put('k', 'before', { ifNoneMatch: '*' });

    const refused = withRequestDeadline(Date.now() + 500, () => store.put('k2', 'late', { ifNoneMatch: '*' }));

    await expect(refused).rejects.toBeInstanceOf(StorageUnavailable);
    expect(await store.get('k2')).toBeUndefined();
  });

  it('lets reads through near the deadline, and writes with time to spare', async () => {
    const store = deadlineBoundStore(new MemoryObjectStore(), { reserveMs: 1_000 });
    await store.put('k', 'body', { ifNoneMatch: '*' });

    const read = await withRequestDeadline(Date.now() + 10, () => store.get('k'));
    const written = await withRequestDeadline(Date.now() + 5_000, () => store.put('k3', 'in time', { ifNoneMatch: '*' }));

    expect(read?.body).toBe('body');
    expect(typeof written).toBe('string');
  });
});
