import { describe, expect, it } from 'vitest';
import '../../helpers/lambda-env.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import { invoke, request } from '../../helpers/api-event.ts';
import { testService } from '../../helpers/handlers.ts';

const MINIMAL = { prefer: 'return=minimal' };

describe('Prefer: return=minimal (RFC 7240) on every change', () => {
  it('answers an append with the small body, the same ETag and Preference-Applied, whatever the session holds', async () => {
    const service = testService({ store: new MemoryObjectStore() });
    const created = await invoke(service.createSession, request.createSession({ body: { name: 'big' } }));
    const id = created.body.id;
    for (let n = 0; n < 200; n++)
      await invoke(service.addJob, request.addJob(id, { body: { job_id: `job-${'x'.repeat(56)}-${n}` }, headers: MINIMAL }));

    const minimal = await invoke(
      service.addJob,
      request.addJob(id, { body: { job_id: 'job-last' }, headers: { prefer: 'respond-async, return=minimal; x=1' } }),
    );
    const full = await invoke(service.getSession, request.getSession(id));

    expect(minimal.statusCode).toBe(200);
    expect(minimal.body).toEqual({
      id,
      status: 'active',
      job_count: 201,
      job_counts: { total: 201, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      updated_at: full.body.updated_at,
      lease: null,
    });
    expect(minimal.headers['Preference-Applied']).toBe('return=minimal');
    expect(minimal.headers.ETag).toBe(full.headers.ETag);
    expect(minimal.raw.length).toBeLessThan(200);
    expect(full.raw.length).toBeGreaterThan(13_000);
  });

  it('applies to status changes, acquires and creates, carrying the lease; never to reads, and not without the preference', async () => {
    const service = testService({ store: new MemoryObjectStore() });
    const created = await invoke(
      service.createSession,
      request.createSession({ body: { lease_seconds: 60, holder: 'r1' }, headers: MINIMAL }),
    );
    const id = created.body.id;

    const acquired = await invoke(
      service.acquireLease,
      request.acquireLease(id, { body: { holder: 'r2', force: true }, headers: MINIMAL }),
    );
    const paused = await invoke(
      service.setStatus,
      request.setStatus(id, { body: { status: 'paused' }, headers: { ...MINIMAL, 'lease-epoch': '2' } }),
    );
    const read = await invoke(service.getSession, request.getSession(id, { headers: MINIMAL }));
    const plain = await invoke(
      service.setStatus,
      request.setStatus(id, { body: { status: 'completed' }, headers: { prefer: 'return=representation' } }),
    );

    expect(created.statusCode).toBe(201);
    expect(created.body).toMatchObject({ id, job_count: 0, lease: { holder: 'r1', epoch: 1 } });
    expect(acquired.body).toMatchObject({ status: 'active', lease: { holder: 'r2', epoch: 2 } });
    expect(paused.body).toMatchObject({ status: 'paused', lease: { epoch: 2, ended: 'released' } });
    expect(read.body).toHaveProperty('job_ids');
    expect(read.headers['Preference-Applied']).toBeUndefined();
    expect(plain.body).toHaveProperty('job_ids');
  });
});
