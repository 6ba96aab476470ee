/** A listing read page by page: each page holds where the next one starts, or null on the last. */
export interface Paged {
  nextCursor: string | null;
}

/**
 * Every page from `cursor` (the first page when undefined) to the last, newest first, each fetched by `fetchPage`
 * when the loop asks for it.
 */
export async function* pagesFrom<P extends Paged>(
  fetchPage: (cursor: string | undefined) => Promise<P>,
  cursor: string | undefined,
): AsyncGenerator<P, void, undefined> {
  do {
    const page = await fetchPage(cursor);
    yield page;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}
