import type { MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from '../domain/errors.ts';

/** Request bodies larger than this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 16 * 1024;

/** `application/json`, with or without parameters (`; charset=utf-8`); `+json` suffixes are not accepted. */
const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/** The size of the body as sent, after base64 decoding when API Gateway encoded it. */
export function bodyBytes(body: string, isBase64Encoded: boolean): number {
  return Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf-8');
}

/** How deep a body's arrays and objects may nest; every body of the contract is a flat object. */
export const MAX_JSON_DEPTH = 32;

/**
 * What is wrong with JSON `text` that parsing alone would not say: an object
 * that gives one key twice (JSON.parse keeps the last, so
 * `{"status":"paused","status":"terminated"}` would terminate), or nesting
 * deeper than `maxDepth`. Undefined when neither (malformed text is left to
 * the parser to refuse).
 */
export function jsonShapeProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  // Per open container: the keys of an object so far, or null for an array.
  const open: (Set<string> | null)[] = [];
  let expectingKey = false;
  for (let at = 0; at < text.length; at++) {
    const character = text[at];
    if (character === '"') {
      let end = at + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) return undefined;
      const keys = open.at(-1);
      if (expectingKey && keys) {
        let key: string;
        try {
          key = JSON.parse(text.slice(at, end + 1)) as string;
        } catch {
          return undefined;
        }
        if (keys.has(key)) return `gives the key ${JSON.stringify(key)} more than once`;
        keys.add(key);
        expectingKey = false;
      }
      at = end;
    } else if (character === '{' || character === '[') {
      if (open.length >= maxDepth) return `nests arrays and objects deeper than ${maxDepth} levels`;
      open.push(character === '{' ? new Set() : null);
      expectingKey = character === '{';
    } else if (character === '}' || character === ']') {
      open.pop();
      expectingKey = false;
    } else if (character === ',') {
      expectingKey = open.at(-1) instanceof Set;
    }
  }
  return undefined;
}

/** Refuses malformed UTF-8 instead of replacing it with U+FFFD; keeps a byte order mark, which JSON then refuses. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of a body API Gateway delivered base64-encoded (as it does any
 * body that is not valid UTF-8). Lossy decoding would let `a\xFFb` and
 * `a\xFEb` both arrive as `a\uFFFDb`: two job IDs merged into one.
 * @throws InvalidRequest `body` when the bytes are not UTF-8.
 */
function utf8Text(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw InvalidRequest.field('body', 'is not valid UTF-8');
  }
}

/**
 * The request body, in the order the contract needs: size limit (413),
 * media type (415), UTF-8 (400), duplicate keys and nesting (400, {@link jsonShapeProblem}), then JSON
 * parsing by middy's parser (malformed → 400 `invalid_request`, not its 422). A request without a body passes with
 * `event.body` undefined; whether that is allowed is the route schema's call.
 * Expects lower-case header names (run after `http-header-normalizer`).
 */
export function jsonRequestBody({ maxBytes = MAX_BODY_BYTES }: { maxBytes?: number } = {}): MiddlewareObj<APIGatewayProxyEventV2> {
  const parser = httpJsonBodyParser<APIGatewayProxyEventV2>({ disableContentTypeCheck: true });
  const parse = parser.before!;
  return {
    name: 'jsonRequestBody',
    before: async (request) => {
      const { body, isBase64Encoded, headers } = request.event;
      if (body === undefined || body === null || body === '') {
        request.event.body = undefined;
        return;
      }
      if (bodyBytes(body, isBase64Encoded) > maxBytes) throw new PayloadTooLarge(maxBytes);
      const contentType = headers?.['content-type'];
      if (contentType === undefined || !JSON_MEDIA_TYPE.test(contentType)) throw new UnsupportedMediaType(contentType);
      if (isBase64Encoded) {
        request.event.body = utf8Text(Buffer.from(body, 'base64'));
        request.event.isBase64Encoded = false;
      }
      const problem = jsonShapeProblem(request.event.body as string);
      if (problem !== undefined) throw InvalidRequest.field('body', problem);
      try {
        await parse(request);
      } catch (error) {
        const forbidden = error instanceof Error && /forbidden key/i.test(error.message);
        throw InvalidRequest.field('body', forbidden ? 'must not contain a __proto__ or constructor.prototype key' : 'is not valid JSON');
      }
    },
  };
}
