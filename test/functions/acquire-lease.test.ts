import { describe, expect, it } from 'vitest';
import { invoke, request, TEST_CALLER } from '../helpers/api-event.ts';
import { useFakeS3Service } from '../helpers/handlers.ts';
import { seedSession, storedSession } from '../helpers/sessions.ts';
import { captureTelemetry } from '../helpers/telemetry.ts';

captureTelemetry();
const s3 = useFakeS3Service();
const { acquireLease: handler } = s3;

/** A session held under a live lease of epoch 3 by a holder named as the test's caller, the default holder. */
function seedHeldByCaller() {
  const expiresAt = Math.floor(Date.now() / 1000) + 300;
  return { ...seedSession(s3.fake, { lease: { holder: TEST_CALLER, epoch: 3, seconds: 300, expires_at: expiresAt } }), expiresAt };
}

describe('POST /sessions/{id}/lease of a live lease', () => {
  it('409 lease_held for a caller with the holder’s name but no Lease-Epoch; nothing is written', async () => {
    const { session, expiresAt } = seedHeldByCaller();

    const sameName = await invoke(handler, request.acquireLease(session.id, { body: { seconds: 60 } }));
    const named = await invoke(handler, request.acquireLease(session.id, { body: { holder: TEST_CALLER } }));

    for (const response of [sameName, named]) {
      expect(response.statusCode).toBe(409);
      expect(response.body.error).toMatchObject({
        code: 'lease_held',
        details: { id: session.id, holder: TEST_CALLER, expires_at: expiresAt },
      });
    }
    expect(s3.fake.puts.filter((put) => put.Key === `sessions/${session.id}.json`)).toEqual([]);
  });

  it('409 lease_held for a Lease-Epoch that is not the live lease’s', async () => {
    const { session } = seedHeldByCaller();

    const response = await invoke(handler, request.acquireLease(session.id, { headers: { 'lease-epoch': '2' } }));

    expect(response.statusCode).toBe(409);
    expect(response.body.error.code).toBe('lease_held');
  });

  it('200 for the holder presenting the live epoch: a new epoch and a new length', async () => {
    const { session } = seedHeldByCaller();

    const response = await invoke(handler, request.acquireLease(session.id, { body: { seconds: 60 }, headers: { 'lease-epoch': '3' } }));

    expect(response.statusCode).toBe(200);
    expect(response.body.lease).toMatchObject({ holder: TEST_CALLER, epoch: 4, seconds: 60 });
    expect(response.body.lease.taken_over).toBeUndefined();
    expect(storedSession(s3.fake, session.id)!.lease).toMatchObject({ epoch: 4, seconds: 60 });
  });

  it('400 for a Lease-Epoch that is not a non-negative integer, before storage is touched', async () => {
    const { session } = seedHeldByCaller();

    const response = await invoke(handler, request.acquireLease(session.id, { headers: { 'lease-epoch': 'three' } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error.details.issues.map((issue: { field: string }) => issue.field)).toEqual(['headers.lease-epoch']);
    expect(s3.fake.totalRequests).toBe(0);
  });
});
