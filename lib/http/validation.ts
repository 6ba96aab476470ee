import { type FieldIssue, InvalidRequest } from '../domain/errors.ts';
import * as z from '../domain/zod.ts';

/** The parts of a request a route validates; each is a zod schema, all optional. */
export interface RequestSchemas {
  path?: z.ZodMiniType;
  query?: z.ZodMiniType;
  headers?: z.ZodMiniType;
  body?: z.ZodMiniType;
}

/** The request parts as the route's schemas produce them; parts without a schema are absent. */
export type RequestInput<S extends RequestSchemas> = {
  [Part in keyof S]: S[Part] extends z.ZodMiniType ? z.output<S[Part]> : never;
};

/** The raw request parts, after header normalisation and JSON body parsing. */
export interface RawRequest {
  path: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  body: unknown;
}

/**
 * A route without a query schema accepts no query parameters: an unknown
 * parameter is refused rather than ignored, so that a misspelt filter
 * (`?stauts=active`) never returns an unfiltered answer.
 */
const NO_QUERY = z.strictObject({});

/**
 * Validates every part of a request at once. Route schemas are strict
 * objects for query and body: an unknown parameter or field is refused, never
 * silently ignored. Headers are open (clients and proxies add their own).
 * @throws InvalidRequest naming each bad field (`path.id`, `query.limit`, `body.job_id`…) and why.
 */
export function parseRequest<S extends RequestSchemas>(schemas: S, raw: RawRequest): RequestInput<S> {
  const parts: Array<[keyof RawRequest, z.ZodMiniType | undefined]> = [
    ['path', schemas.path],
    ['query', schemas.query ?? NO_QUERY],
    ['headers', schemas.headers],
    ['body', schemas.body],
  ];
  const input: Record<string, unknown> = {};
  const issues: FieldIssue[] = [];
  for (const [part, schema] of parts) {
    if (schema === undefined) continue;
    const parsed = schema.safeParse(raw[part]);
    if (parsed.success) input[part] = parsed.data;
    else issues.push(...parsed.error.issues.flatMap((issue) => fieldIssues(part, issue)));
  }
  if (issues.length > 0) throw new InvalidRequest(issues);
  return input as RequestInput<S>;
}

function fieldIssues(part: string, issue: z.core.$ZodIssue): FieldIssue[] {
  const at = [part, ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') {
    const message = part === 'query' ? 'is not a known parameter' : 'is not a known field';
    return issue.keys.map((key) => ({ field: [...at, key].join('.'), message }));
  }
  return [{ field: at.join('.'), message: issue.message }];
}
