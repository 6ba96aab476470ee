import fc from 'fast-check';
import { SESSION_ID } from './contract.ts';

/** Any UTF-16 code unit, lone surrogates and NUL included. */
export const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));

/** Characters that make one label look like another in a terminal: bidi controls, separators, noncharacters. */
export const SPOOFING_CHARACTERS = [
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u200e',
  '\u200f',
  '\u061c',
  '\u2028',
  '\u2029',
  '\ufdd0',
  '\ufdef',
  '\ufffe',
  '\uffff',
  '\u{1fffe}',
  '\u{10ffff}',
] as const;

/** Characters that break naive parsers, path handling and validators. */
export const TRICKY_CHARACTERS = [
  '\u0000',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\ud800',
  '\udfff',
  'é',
  '𝄞',
  '０',
  'а',
  'İ',
  'ß',
  '%',
  '/',
  '\\',
  '.',
  '"',
  "'",
  '<',
  '{',
  '}',
  ' ',
  '+',
  '#',
  '?',
  '&',
  '=',
  ';',
  ',',
  ...SPOOFING_CHARACTERS,
] as const;

/** Strings of any code units, biased towards the tricky ones. */
export function anyString(maxLength = 40): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.oneof({ weight: 3, arbitrary: anyCodeUnit }, { weight: 2, arbitrary: fc.constantFrom(...TRICKY_CHARACTERS) }),
    maxLength,
  });
}

const hexCharacter = fc.constantFrom(...'0123456789abcdef');

/** A well-formed session ID (32 lowercase hex characters) that names no stored session, most likely. */
export const wellFormedId = fc.string({ unit: hexCharacter, minLength: 32, maxLength: 32 });

/**
 * Path parameters that are not a session ID, many of them near misses of
 * `validId` (a real session): upper-case hex, 31 and 33 characters, one
 * character swapped for a tricky one, traversal and encoded slashes, NUL,
 * whitespace, suffixes that a careless key builder would pass through.
 */
export function invalidSessionId(validId: string): fc.Arbitrary<string> {
  const position = fc.integer({ min: 0, max: 31 });
  return fc
    .oneof(
      fc.constantFrom(
        '',
        ' ',
        '..',
        '../../etc/passwd',
        '..%2F..%2Fetc%2Fpasswd',
        '%2e%2e%2f%2e%2e%2f',
        '..%252F..%252F',
        '__proto__',
        'constructor',
        validId.toUpperCase(),
        validId.slice(0, 31),
        `${validId}0`,
        `${validId}\u0000`,
        `${validId}%00`,
        `${validId}\n`,
        ` ${validId}`,
        `${validId}.json`,
        `${validId}/jobs`,
        `${validId}%2Fjobs`,
        `sessions/${validId}`,
        `../${validId}`,
        `..%2F${validId}`,
        `${validId}/../${validId}`,
        `${validId.slice(0, 16)}/${validId.slice(17)}`,
        `W/"${validId}"`,
      ),
      fc
        .tuple(position, fc.constantFrom(...TRICKY_CHARACTERS, 'A', 'F', 'g', 'z'))
        .map(([at, character]) => validId.slice(0, at) + character + validId.slice(at + 1)),
      fc
        .tuple(position, fc.constantFrom(...TRICKY_CHARACTERS, '0', 'f'))
        .map(([at, character]) => validId.slice(0, at) + character + validId.slice(at)),
      position.map((at) => validId.slice(0, at) + validId.slice(at + 1)),
      position.map((at) => validId.slice(0, at) + validId.charAt(at).toUpperCase() + validId.slice(at + 1)),
      fc.stringMatching(/^[0-9a-fA-F]{28,36}$/),
      anyString(64),
    )
    .filter((id) => !SESSION_ID.test(id));
}

const LIMITS = [
  '1e2',
  '-1',
  '0x10',
  ' 5',
  '5 ',
  '05',
  '0',
  '101',
  '100',
  '1',
  '50',
  '1.0',
  '+1',
  '99999999999999999999999',
  '1,2',
  '',
  'NaN',
  'Infinity',
  '٣',
  '１',
];
const STATUS_VARIANTS = [
  'active',
  'Active',
  'ACTIVE',
  ' active',
  'active ',
  'active,paused',
  'paused',
  'completed',
  'terminated',
  'done',
  '',
  'active\u0000',
];

function base64url(text: string): string {
  return Buffer.from(text, 'utf-8').toString('base64url');
}

/** Cursors this API never issued: garbage, encodings of the wrong JSON, traversal, oversize, padded base64. */
export function garbageCursor(validId: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      'garbage',
      '',
      'x'.repeat(201),
      base64url('{"after":"../../etc/passwd"}'),
      base64url(`{"after":"${validId.toUpperCase()}"}`),
      base64url(`{"after":"${validId}","extra":1}`),
      base64url(`{"after":"${validId}\\u0000"}`),
      base64url(`{"__proto__":{"after":"${validId}"}}`),
      base64url(`{"after":["${validId}"]}`),
      base64url('[]'),
      base64url('null'),
      Buffer.from(`{"after":"${validId}"}  `, 'utf-8').toString('base64'),
      `${base64url(`{"after":"${validId}"}`)}=`,
      `${base64url(`{"after":"${validId}"}`)}%3D`,
      validId,
      `sessions/${validId}.json`,
    ),
    anyString(80),
    fc.jsonValue({ maxDepth: 2 }).map((value) => base64url(JSON.stringify(value) ?? 'null')),
  );
}

/** True when `cursor` is one this API could have issued (base64url of exactly `{"after": <session ID>}`). */
export function isIssuedCursor(cursor: string): boolean {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor) || cursor.length > 200) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf-8'));
    return (
      typeof decoded === 'object' &&
      decoded !== null &&
      !Array.isArray(decoded) &&
      Object.keys(decoded).length === 1 &&
      typeof (decoded as { after?: unknown }).after === 'string' &&
      SESSION_ID.test((decoded as { after: string }).after)
    );
  } catch {
    return false;
  }
}

/** One query parameter value: the limit, status and cursor variants, or anything. */
export function queryValue(validId: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...LIMITS),
    fc.constantFrom(...STATUS_VARIANTS),
    garbageCursor(validId),
    fc.integer().map(String),
    anyString(30),
  );
}

const QUERY_NAMES = [
  'limit',
  'cursor',
  'status',
  'Limit',
  'STATUS',
  'name',
  '__proto__',
  'constructor',
  'toString',
  'limit ',
  'stauts',
  '',
  'limit[]',
];

/**
 * `queryStringParameters` as API Gateway delivers them: names as sent, and a
 * parameter given twice joined with a comma. Built as own properties, so that
 * `__proto__` arrives as a key the way the Lambda runtime's JSON.parse makes it.
 */
export function queryParameters(validId: string): fc.Arbitrary<Record<string, string> | undefined> {
  const name = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...QUERY_NAMES) }, { weight: 1, arbitrary: anyString(12) });
  const values = fc.array(queryValue(validId), { minLength: 1, maxLength: 3 }).map((all) => all.join(','));
  return fc.option(
    fc.uniqueArray(fc.tuple(name, values), { maxLength: 4, selector: ([key]) => key }).map((entries) => Object.fromEntries(entries)),
    { nil: undefined, freq: 2 },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/json;charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/jsonp',
  'application/vnd.api+json',
  'application/problem+json',
  '',
  ' application/json',
  'application/json, text/plain',
  'multipart/form-data; boundary=x',
  '*/*',
];

/** An Idempotency-Key sent on two lines, as API Gateway delivers it: the values joined with a comma. */
const duplicatedKey: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('k-1', 'k-2', 'k', ''), fc.constantFrom('k-1', 'k-2', ' k-1', ''))
  .map(([first, second]) => `${first},${second}`);

const IF_MATCH = ['*', '"abc"', 'W/"abc"', '"a", "b"', '"', 'abc def', '', ' ', '*, "a"', '""', 'W/', '"\u0000"', 'x'.repeat(8192)];

/**
 * Request headers: the content type in any case of its name and many values
 * (missing included), If-Match and Idempotency-Key garbage, random extra
 * headers and a 10 KB one.
 */
export const requestHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record({
    contentTypeName: fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE'),
    contentType: fc.option(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON') },
        { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: anyString(40) },
      ),
      { nil: undefined, freq: 8 },
    ),
    ifMatchName: fc.constantFrom('if-match', 'If-Match'),
    ifMatch: fc.option(fc.oneof(fc.constantFrom(...IF_MATCH), anyString(60)), { nil: undefined, freq: 3 }),
    idempotencyKey: fc.option(
      fc.oneof(fc.constantFrom('k-1', 'k-2', '', ' ', 'x'.repeat(256), 'é', 'key\u0000', '../k'), anyString(20), duplicatedKey),
      { nil: undefined, freq: 4 },
    ),
    extra: fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,15}$/), anyString(50), { maxKeys: 3 }),
    huge: fc.boolean(),
  })
  .map(({ contentTypeName, contentType, ifMatchName, ifMatch, idempotencyKey, extra, huge }) => ({
    ...extra,
    ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    ...(contentType === undefined ? {} : { [contentTypeName]: contentType }),
    ...(ifMatch === undefined ? {} : { [ifMatchName]: ifMatch }),
    ...(huge ? { 'x-huge': 'h'.repeat(10_000) } : {}),
  }));

/** A request body as API Gateway hands it over. */
export interface RawBody {
  body: string | undefined;
  isBase64Encoded: boolean;
}

const FIELDS = ['job_id', 'status', 'name'] as const;

/** Values of the wrong type or shape for every field, and a few right ones so that deeper paths are reached. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  anyString(30),
  fc.constantFrom('', '123', '1e3', 'true', 'null', ...STATUS_VARIANTS, 'job-1', 'ssh-import'),
  fc.integer({ min: 257, max: 2000 }).map((length) => 'j'.repeat(length)),
  fc.constantFrom(...TRICKY_CHARACTERS).map((character) => `job${character}1`),
);

const objectBody: fc.Arbitrary<string> = fc
  .record({
    field: fc.constantFrom(...FIELDS),
    value: fieldValue,
    extra: fc.dictionary(
      fc.constantFrom('extra', 'constructor', 'job_ids', 'id', 'updated_by', 'status', 'name', 'job_id', 'toString'),
      fc.jsonValue({ maxDepth: 1 }),
      { maxKeys: 2 },
    ),
  })
  .map(({ field, value, extra }) => JSON.stringify({ [field]: value, ...extra }));

/** Hand-written JSON texts: duplicate keys, prototype keys, wrong top-level types, broken syntax, escapes of lone surrogates. */
const RAW_TEXTS = [
  '{"job_id":"a","job_id":""}',
  '{"job_id":"a","job_id":"b"}',
  '{"status":"paused","status":"zombie"}',
  '{"name":"a","name":1}',
  '{"__proto__":{"job_id":"x"}}',
  '{"job_id":"x","__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"status":"paused","constructor":{"prototype":{"polluted":"yes"}}}',
  '{"name":"n","__proto__":null}',
  '[{"job_id":"x"}]',
  '["job_id","x"]',
  'null',
  'true',
  '0',
  '"job_id"',
  '{',
  '{"job_id":"x"',
  '{"job_id":"x"} trailing',
  '\ufeff{"job_id":"x"}',
  '{"job_id":"x",}',
  "{'job_id':'x'}",
  '{"job_id":"\\u0000"}',
  '{"job_id":"\\ud800"}',
  '{"job_id":"\\udfff\\ud800"}',
  '{"name":"\\u001b[31mred"}',
  '{"status":"active\\u0000"}',
  '{"job_id":1e400}',
  '{"job_id":-0}',
  'job_id=x',
  '<xml/>',
  ' ',
  '\n',
  '{"job_id":"x"}\u0000',
  '{"job_id":"\ud800"}',
  '{"name":"\udc00"}',
  '{}',
];

/** Nesting deep enough to trouble a recursive parser or validator, within or just beyond 16 KiB. */
const deepBody: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 1, max: 8192 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 1, max: 8000 }).map((depth) => `{"job_id":${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.integer({ min: 1, max: 2700 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  fc.integer({ min: 1, max: 2700 }).map((depth) => `{"status":${'{"s":'.repeat(depth)}1${'}'.repeat(depth)}}`),
);

/** Strings around the 16 KiB limit, in one- and multi-byte characters. */
const hugeBody: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 16_300, max: 17_000 }).map((length) => `{"job_id":"${'x'.repeat(length)}"}`),
  fc.integer({ min: 5_000, max: 6_000 }).map((length) => `{"name":"${'€'.repeat(length)}"}`),
  fc.integer({ min: 16_370, max: 16_400 }).map((length) => `{"status":"paused"}${' '.repeat(length)}`),
);

/** Bodies a route accepts, so that the requests around them reach storage. */
const wellFormedBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('job-1', 'job-2', 'ssh-import', 'é𝄞', '\ud800').map((job_id) => JSON.stringify({ job_id })),
  fc.constantFrom('active', 'paused', 'completed', 'terminated').map((status) => JSON.stringify({ status })),
  fc.constantFrom('ssh-import', null).map((name) => JSON.stringify({ name })),
);

const textBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: wellFormedBody },
  { weight: 4, arbitrary: objectBody },
  { weight: 3, arbitrary: fc.constantFrom(...RAW_TEXTS) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 1, arbitrary: deepBody },
  { weight: 1, arbitrary: hugeBody },
  { weight: 1, arbitrary: anyString(100) },
);

/** Byte sequences that are not UTF-8: stray continuation bytes, FE/FF, overlong forms, truncations, surrogates, beyond U+10FFFF. */
const INVALID_UTF8: readonly number[][] = [
  [0x80],
  [0xbf],
  [0xfe],
  [0xff],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xc3],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

/**
 * A JSON body whose field value holds bytes that are not UTF-8, otherwise
 * one a route would accept: lossy decoding would turn it into a valid label.
 */
export function invalidUtf8Body(): fc.Arbitrary<Buffer> {
  return fc
    .record({
      field: fc.constantFrom(...FIELDS, 'version_id'),
      before: fc.constantFrom('', 'job-', 'a'),
      bad: fc.constantFrom(...INVALID_UTF8),
      after: fc.constantFrom('', 'b', '1'),
    })
    .map(({ field, before, bad, after }) =>
      Buffer.concat([Buffer.from(`{"${field}":"${before}`), Buffer.from(bad), Buffer.from(`${after}"}`)]),
    );
}

/**
 * A request target as a raw HTTP client may send it: paths of the API, and
 * forms that are not a path starting with a single `/` (`//authority/path`,
 * absolute URLs, `*`, backslashes) that a URL parser might read as another host.
 */
export function requestTarget(validId: string): fc.Arbitrary<{ target: string; isPath: boolean }> {
  const paths = ['/sessions', `/sessions/${validId}`, `/sessions/${validId}/jobs`, '/sessions?limit=1', '/openapi.json', '/nothing'];
  const notPaths = [
    '//anything/sessions',
    '//127.0.0.1/sessions',
    `//x/sessions/${validId}`,
    '///sessions',
    'http://attacker.example/sessions',
    'https://localhost/sessions',
    '*',
    'sessions',
    '\\sessions',
    '//',
    '//[::1]/sessions',
  ];
  return fc.oneof(
    fc.constantFrom(...paths).map((target) => ({ target, isPath: true })),
    fc.constantFrom(...notPaths).map((target) => ({ target, isPath: false })),
    fc
      .tuple(fc.stringMatching(/^[a-z0-9.-]{1,12}$/), fc.constantFrom(...paths))
      .map(([authority, path]) => ({ target: `//${authority}${path}`, isPath: false })),
  );
}

/** Header lines of a raw request: Idempotency-Key once, twice (equal or not), or not at all, with other headers around. */
export const rawHeaderLines: fc.Arbitrary<{ lines: Array<[string, string]>; keyLines: number }> = fc
  .record({
    keys: fc.array(fc.constantFrom('k-1', 'k-2', 'k-3'), { maxLength: 2 }),
    extra: fc.array(fc.tuple(fc.constantFrom('x-a', 'x-b', 'accept'), fc.constantFrom('1', '2', '*/*')), { maxLength: 3 }),
  })
  .map(({ keys, extra }) => ({
    lines: [...extra, ...keys.map((key): [string, string] => ['idempotency-key', key])],
    keyLines: keys.length,
  }));

/**
 * A body as API Gateway delivers it: none, text, or base64 with
 * `isBase64Encoded` (of text, of bytes that are not UTF-8, or of text that is
 * not base64 at all).
 */
export const requestBody: fc.Arbitrary<RawBody> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.constantFrom<RawBody>(
      { body: undefined, isBase64Encoded: false },
      { body: '', isBase64Encoded: false },
      { body: '', isBase64Encoded: true },
    ),
  },
  { weight: 8, arbitrary: textBody.map((body) => ({ body, isBase64Encoded: false })) },
  { weight: 2, arbitrary: textBody.map((body) => ({ body: Buffer.from(body, 'utf-8').toString('base64'), isBase64Encoded: true })) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((bytes) => ({
      body: Buffer.concat([Buffer.from('{"job_id":"'), Buffer.from(bytes), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]).toString(
        'base64',
      ),
      isBase64Encoded: true,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('{"job_id":"x"}', '%%%', '{"status":"paused"}').map((body) => ({ body, isBase64Encoded: true })),
  },
  { weight: 2, arbitrary: invalidUtf8Body().map((bytes) => ({ body: bytes.toString('base64'), isBase64Encoded: true })) },
);
