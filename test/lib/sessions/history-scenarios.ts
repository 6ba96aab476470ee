import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRequest, PreconditionFailed, SessionNotFound, VersioningDisabled } from '#lib/domain/errors.ts';
import { newestFirstId } from '#lib/domain/ids.ts';
import type { HistoryEntry } from '#lib/sessions/history.ts';
import { SessionRepository } from '#lib/sessions/repository.ts';
import { MemoryObjectStore } from '#lib/storage/memory.ts';
import type { ObjectStore } from '#lib/storage/port.ts';

/** A store for one test and how to dispose of it. */
export interface HistorySubject {
  store: ObjectStore;
  cleanup: () => Promise<void>;
}

export const RUNNER = 'arn:aws:sts::123456789012:assumed-role/runner/host-7';
export const OPERATOR = 'arn:aws:iam::123456789012:user/operator';

const TIMEOUT_MS = 60_000;

function repositoryOn(store: ObjectStore): SessionRepository {
  return new SessionRepository({ renewals: new MemoryObjectStore(), store, config: { casBaseDelayMs: 0, casMaxDelayMs: 0 } });
}

/**
 * The audit trail and undo of a runner's session, end to end through the
 * repository, on one kind of store: `versioned` keeps versions; `unversioned`
 * (when given) is the same kind of store without them.
 */
export function describeHistoryScenarios(
  name: string,
  versioned: () => Promise<HistorySubject>,
  unversioned?: () => Promise<HistorySubject>,
): void {
  describe(`history and restore: ${name}`, () => {
    let subject: HistorySubject | undefined;
    let repository: SessionRepository;

    beforeEach(async () => {
      subject = await versioned();
      repository = repositoryOn(subject.store);
    }, TIMEOUT_MS);

    afterEach(async () => {
      await subject?.cleanup();
      subject = undefined;
    }, TIMEOUT_MS);

    /** A runner opens a session, runs two jobs, loses its connection, and an operator resumes it. */
    async function runnerSession(): Promise<string> {
      const { session } = await repository.createSession({ name: 'ssh-import', actor: RUNNER });
      await repository.addJob(session.id, 'job-1', { actor: RUNNER });
      await repository.addJob(session.id, 'job-2', { actor: RUNNER });
      await repository.setStatus(session.id, 'paused', { actor: RUNNER });
      await repository.setStatus(session.id, 'active', { actor: OPERATOR });
      return session.id;
    }

    async function wholeHistory(id: string, limit: number): Promise<HistoryEntry[][]> {
      const pages: HistoryEntry[][] = [];
      let cursor: string | undefined;
      do {
        const page = await repository.sessionHistory(id, { limit, ...(cursor === undefined ? {} : { cursor }) });
        pages.push(page.versions);
        cursor = page.nextCursor ?? undefined;
        if (pages.length > 50) throw new Error('the history does not end');
      } while (cursor !== undefined);
      return pages;
    }

    it(
      'records every change of a runner’s session, newest first, each with who made it, when, and the session as it was',
      async () => {
        const started = Math.floor(Date.now() / 1000);
        const id = await runnerSession();

        const page = await repository.sessionHistory(id);

        expect(page.versions.map((entry) => [entry.change, entry.actor])).toEqual([
          ['status paused→active', OPERATOR],
          ['status active→paused', RUNNER],
          ['job_added job-2', RUNNER],
          ['job_added job-1', RUNNER],
          ['created', RUNNER],
        ]);
        expect(page.nextCursor).toBeNull();
        expect(page.versions.map((entry) => [entry.session.status, entry.session.job_ids])).toEqual([
          ['active', ['job-1', 'job-2']],
          ['paused', ['job-1', 'job-2']],
          ['active', ['job-1', 'job-2']],
          ['active', ['job-1']],
          ['active', []],
        ]);
        expect(page.versions[0]!.session).toEqual((await repository.getSession(id)).session);
        expect(new Set(page.versions.map((entry) => entry.version_id)).size).toBe(5);
        const times = page.versions.map((entry) => entry.at);
        expect([...times].sort((a, b) => b - a)).toEqual(times);
        // A real endpoint's clock may be a little off this machine's.
        expect(times.at(-1)).toBeGreaterThanOrEqual(started - 120);
        expect(times[0]).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 120);
      },
      TIMEOUT_MS,
    );

    it(
      'restores an older version: its content is current again, as a new version the history calls restored, and the next change drops the mark',
      async () => {
        const id = await runnerSession();
        const oneJob = (await repository.sessionHistory(id)).versions[3]!;

        const restored = await repository.restoreVersion(id, oneJob.version_id, { actor: OPERATOR });
        const afterRestore = await repository.sessionHistory(id);
        await repository.addJob(id, 'job-3', { actor: RUNNER });
        const afterNextJob = await repository.sessionHistory(id, { limit: 2 });

        expect(oneJob.change).toBe('job_added job-1');
        expect(restored.changed).toBe(true);
        expect(restored.session).toMatchObject({
          job_ids: ['job-1'],
          status: 'active',
          updated_by: OPERATOR,
          restored_from: oneJob.version_id,
        });
        expect(afterRestore.versions.map((entry) => entry.change)).toEqual([
          `restored ${oneJob.version_id}`,
          'status paused→active',
          'status active→paused',
          'job_added job-2',
          'job_added job-1',
          'created',
        ]);
        expect(afterRestore.versions[0]).toMatchObject({ actor: OPERATOR, session: restored.session });
        expect(afterNextJob.versions.map((entry) => entry.change)).toEqual(['job_added job-3', `restored ${oneJob.version_id}`]);
        expect(afterNextJob.versions[0]!.session).not.toHaveProperty('restored_from');
        expect((await repository.getSession(id)).session.job_ids).toEqual(['job-1', 'job-3']);
      },
      TIMEOUT_MS,
    );

    it(
      'refuses a restore whose If-Match names an older version with 412 and writes nothing; with the current ETag it restores',
      async () => {
        const id = await runnerSession();
        const [, previous] = (await repository.sessionHistory(id)).versions;
        const stale = (await repository.getSession(id)).etag;
        await repository.addJob(id, 'job-3', { actor: RUNNER });
        const current = (await repository.getSession(id)).etag;

        const refused = repository.restoreVersion(id, previous!.version_id, { actor: OPERATOR, ifMatch: stale });

        await expect(refused).rejects.toBeInstanceOf(PreconditionFailed);
        expect((await repository.sessionHistory(id)).versions).toHaveLength(6);
        const accepted = await repository.restoreVersion(id, previous!.version_id, { actor: OPERATOR, ifMatch: current });
        expect(accepted.session).toMatchObject({ status: 'paused', job_ids: ['job-1', 'job-2'] });
      },
      TIMEOUT_MS,
    );

    it(
      'pages through a history of 23 versions 10 at a time: 10, 10, 3, newest first, each version once',
      async () => {
        const { session } = await repository.createSession({ actor: RUNNER });
        for (let n = 1; n <= 22; n++) await repository.addJob(session.id, `job-${n}`, { actor: RUNNER });

        const pages = await wholeHistory(session.id, 10);

        expect(pages.map((page) => page.length)).toEqual([10, 10, 3]);
        expect(pages.flat().map((entry) => entry.change)).toEqual([
          ...Array.from({ length: 22 }, (_, index) => `job_added job-${22 - index}`),
          'created',
        ]);
        expect(new Set(pages.flat().map((entry) => entry.version_id)).size).toBe(23);
      },
      TIMEOUT_MS,
    );

    it(
      'answers a version of another session, or an ID it never issued, with invalid_request; a missing session with 404',
      async () => {
        const mine = await repository.createSession({ actor: RUNNER });
        const theirs = await repository.createSession({ actor: RUNNER });
        const [theirVersion] = (await repository.sessionHistory(theirs.session.id)).versions;

        await expect(repository.restoreVersion(mine.session.id, theirVersion!.version_id)).rejects.toBeInstanceOf(InvalidRequest);
        await expect(repository.restoreVersion(mine.session.id, 'never-issued')).rejects.toBeInstanceOf(InvalidRequest);
        const missing = newestFirstId();
        await expect(repository.sessionHistory(missing)).rejects.toBeInstanceOf(SessionNotFound);
        await expect(repository.restoreVersion(missing, theirVersion!.version_id)).rejects.toBeInstanceOf(SessionNotFound);
      },
      TIMEOUT_MS,
    );

    if (unversioned !== undefined) {
      describe('on a store that keeps no versions', () => {
        let plain: HistorySubject | undefined;

        beforeEach(async () => {
          plain = await unversioned();
        }, TIMEOUT_MS);

        afterEach(async () => {
          await plain?.cleanup();
          plain = undefined;
        }, TIMEOUT_MS);

        it(
          'answers versioning_disabled to history and restore, and serves and changes the session as before',
          async () => {
            const repository = repositoryOn(plain!.store);
            const { session } = await repository.createSession({ actor: RUNNER });
            await repository.addJob(session.id, 'job-1', { actor: RUNNER });

            await expect(repository.sessionHistory(session.id)).rejects.toBeInstanceOf(VersioningDisabled);
            await expect(repository.restoreVersion(session.id, 'null')).rejects.toBeInstanceOf(VersioningDisabled);
            await expect(repository.restoreVersion(session.id, 'some-version')).rejects.toBeInstanceOf(VersioningDisabled);
            expect((await repository.getSession(session.id)).session.job_ids).toEqual(['job-1']);
          },
          TIMEOUT_MS,
        );
      });
    }
  });
}
