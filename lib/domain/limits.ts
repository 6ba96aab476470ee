import { InvalidRequest } from './errors.ts';

/** How many entries one page of a listing holds unless asked otherwise, and at most. */
export interface PageLimit {
  default: number;
  max: number;
}

/** `GET /sessions`: 1–100 sessions a page, default 50. */
export const SESSION_LIST_LIMIT: PageLimit = { default: 50, max: 100 };

/** `GET /sessions/{id}/history`: 1–100 versions a page, default 20. */
export const HISTORY_LIMIT: PageLimit = { default: 20, max: 100 };

/**
 * Most bytes of JSON one page of a listing (sessions, history, jobs) holds: a
 * page ends early, before the entry that would take it past this, and its
 * `next_cursor` continues from there. A page always holds at least one entry,
 * so the largest answer is this or one entry, whichever is larger.
 */
export const MAX_PAGE_BYTES = 1024 * 1024;

/**
 * A label (a session's name, a lease holder): at most 256 characters and at
 * most this many bytes of UTF-8.
 */
export const LABEL_MAX_BYTES = 512;

/**
 * A job ID: at most this many characters and bytes of UTF-8 (a Kubernetes
 * name, 63, fits). A session holds up to `MAX_JOBS_PER_SESSION` of them
 * (default 10,000); at this bound the largest session, every character of
 * every ID escaped in JSON, is about 1.3 MB of JSON and 2.6 MB as a Lambda
 * answer, well under the 6 MB a Lambda answer may carry.
 */
export const JOB_ID_MAX_BYTES = 64;

/** What a page limit out of range is told, wherever it is checked. */
export function pageLimitMessage({ max }: PageLimit): string {
  return `must be an integer from 1 to ${max}`;
}

/** @throws InvalidRequest (`query.limit`) unless `limit` is an integer from 1 to the page's maximum. */
export function checkPageLimit(limit: number, page: PageLimit): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > page.max) throw InvalidRequest.field('query.limit', pageLimitMessage(page));
}
