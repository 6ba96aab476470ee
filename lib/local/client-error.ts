import type { Duplex } from 'node:stream';

/** What Node's HTTP parser refused, in the contract's terms: a status, a stable code, the part at fault and why. */
export interface ParserRefusal {
  status: number;
  code: 'invalid_request' | 'headers_too_large' | 'request_timeout';
  field: string;
  message: string;
}

/** The parser's error codes this server names; any other is a malformed request. */
const REFUSALS: Record<string, ParserRefusal> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', field: 'headers', message: 'the request headers exceed 16 KiB' },
  HPE_UNEXPECTED_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_request',
    field: 'headers.content-length',
    message: 'must not be sent with Transfer-Encoding',
  },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request', field: 'headers.content-length', message: 'is not one number' },
  HPE_INVALID_TRANSFER_ENCODING: {
    status: 400,
    code: 'invalid_request',
    field: 'headers.transfer-encoding',
    message: 'must be chunked, and last',
  },
  HPE_INVALID_CHUNK_SIZE: {
    status: 400,
    code: 'invalid_request',
    field: 'body',
    message: 'is badly chunked: a chunk size is not hexadecimal',
  },
  HPE_INVALID_METHOD: { status: 400, code: 'invalid_request', field: 'method', message: 'is not an HTTP/1.1 method' },
  HPE_INVALID_URL: { status: 400, code: 'invalid_request', field: 'path', message: 'the request target is not a valid URL path' },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    field: 'request',
    message: 'the request did not arrive whole within its deadline',
  },
};

/** The answer to a request Node's parser refused. */
export function parserRefusal(error: Error & { code?: string; reason?: string }): ParserRefusal {
  const known = error.code === undefined ? undefined : REFUSALS[error.code];
  if (known !== undefined) return known;
  const reason = typeof error.reason === 'string' && error.reason !== '' ? `: ${error.reason}` : '';
  return { status: 400, code: 'invalid_request', field: 'request', message: `is not well-formed HTTP/1.1${reason}` };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * A `clientError` listener for a `node:http` server: a request its parser
 * refuses (folded headers, a NUL, bad chunking, Content-Length with
 * Transfer-Encoding, an unknown method, headers over 16 KiB) is answered in
 * the contract's error shape, `details.issues` naming the part at fault,
 * instead of a bare status line; the connection is then closed.
 */
export function answerClientError(error: Error & { code?: string; reason?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const { status, code, field, message } = parserRefusal(error);
  const body = JSON.stringify({
    error: { code, message: `${field}: ${message}`, details: { issues: [{ field, message }], parser_error: error.code ?? null } },
  });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
