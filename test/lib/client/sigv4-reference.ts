import { createHash, createHmac } from 'node:crypto';

/**
 * An independent, test-only implementation of AWS Signature Version 4 for
 * header-signed requests, written from the published specification and
 * checked against AWS's own test-suite vectors in signing.test.ts. The
 * client signs with @smithy/signature-v4; this is what its output is
 * compared with.
 */
export interface ReferenceRequest {
  method: string;
  /** The path as sent (already percent-encoded). */
  path: string;
  /** Query parameters, decoded. */
  query: [string, string][];
  /** The headers to sign, any case. */
  headers: Record<string, string>;
  payload: string;
}

export interface ReferenceScope {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  /** `YYYYMMDD'T'HHMMSS'Z'`. */
  amzDate: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf-8').digest('hex');
}

function hmac(key: Buffer | string, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf-8').digest();
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalRequest(request: ReferenceRequest): { text: string; signedHeaders: string } {
  // Services other than S3 encode each segment of the (already encoded) path once more.
  const path = request.path.split('/').map(uriEncode).join('/') || '/';
  const query = request.query
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headers = Object.entries(request.headers)
    .map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const signedHeaders = headers.map(([name]) => name).join(';');
  const text = [
    request.method,
    path,
    query,
    ...headers.map(([name, value]) => `${name}:${value}`),
    '',
    signedHeaders,
    sha256Hex(request.payload),
  ].join('\n');
  return { text, signedHeaders };
}

/** The `Authorization` header SigV4 gives `request` in `scope`. */
export function referenceAuthorization(request: ReferenceRequest, scope: ReferenceScope): string {
  const { text, signedHeaders } = canonicalRequest(request);
  const date = scope.amzDate.slice(0, 8);
  const credentialScope = `${date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', scope.amzDate, credentialScope, sha256Hex(text)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${scope.secretAccessKey}`, date), scope.region), scope.service), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign, 'utf-8').digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${scope.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}
