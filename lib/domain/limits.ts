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

/** What a page limit out of range is told, wherever it is checked. */
export function pageLimitMessage({ max }: PageLimit): string {
  return `must be an integer from 1 to ${max}`;
}

/** @throws InvalidRequest (`query.limit`) unless `limit` is an integer from 1 to the page's maximum. */
export function checkPageLimit(limit: number, page: PageLimit): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > page.max) throw InvalidRequest.field('query.limit', pageLimitMessage(page));
}
