import { newestFirstId, sessionKey } from '#lib/domain/ids.ts';
import type { Session } from '#lib/domain/session.ts';
import type { S3Fake } from './s3-fake.ts';

export interface SeededSession {
  session: Session;
  key: string;
  /** As S3 returns it: quoted. */
  etag: string;
}

/** Stores a session straight into the fake, as an earlier writer would have. */
export function seedSession(fake: S3Fake, fields: Partial<Session> & Record<string, unknown> = {}, createdMs = Date.now()): SeededSession {
  const id = fields.id ?? newestFirstId(createdMs);
  const seconds = Math.floor(createdMs / 1000);
  const session: Session = { id, name: null, job_ids: [], created_at: seconds, updated_at: seconds, status: 'active', ...fields };
  const key = sessionKey(id);
  const etag = fake.seed(key, JSON.stringify(session));
  return { session, key, etag };
}

/** The session stored in the fake under `id`, parsed. */
export function storedSession(fake: S3Fake, id: string): Session | undefined {
  const body = fake.body(sessionKey(id));
  return body === undefined ? undefined : (JSON.parse(body) as Session);
}
