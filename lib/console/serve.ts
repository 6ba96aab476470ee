/**
 * The operator console: one HTML page at `/console`, its script and
 * stylesheet under `/console/`, and `/console/events`, a Server-Sent Events
 * stream of the lines appended to an `events.jsonl` file. The page talks only
 * to the API on the same origin, so it works offline.
 *
 * The script and stylesheet are bundled by esbuild in memory at the first
 * request (`assets.ts`), so `npm start` needs no build step; the CLI bundle
 * carries them built.
 *
 * @module
 */

import { open, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildConsoleAssets, type ConsoleAssets } from './assets.ts';

/** The page may load only its own script and stylesheet and talk only to its own origin. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** How often an events stream looks for new lines, and how often it sends a comment to keep proxies from closing it. */
const TAIL_INTERVAL_MS = 250;
const KEEPALIVE_MS = 15_000;
/** Bytes an events stream may have waiting for a client that does not read; past it the client is dropped (it reconnects and refreshes). */
export const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;
/** What a browser waits before it reconnects a dropped stream. */
const RECONNECT_MS = 5_000;

export interface ConsoleOptions {
  /** Stream the lines appended to this file at `/console/events`; without it that path answers 404 and the page polls. */
  eventsFile?: string | undefined;
}

/** A `node:http` listener for the console's paths: true when it answered the request, false to let the API answer it. */
export type ConsoleHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * The console's request handler. Mount it in front of the API:
 * `createServer((req, res) => { if (!handleConsole(req, res)) api(req, res); })`.
 */
export function consoleHandler(options: ConsoleOptions = {}): ConsoleHandler {
  let assets: Promise<ConsoleAssets> | undefined;
  const loadAssets = (): Promise<ConsoleAssets> => {
    assets ??= buildConsoleAssets().catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    return assets;
  };

  return (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname !== '/console' && !pathname.startsWith('/console/')) return false;
    const method = (request.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      sendText(response, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return true;
    }
    if (pathname === '/console/events') {
      if (options.eventsFile === undefined) sendText(response, 404, 'no events stream on this server');
      else streamEvents(request, response, options.eventsFile);
      return true;
    }
    const asset = ASSET_PATHS[pathname];
    if (asset === undefined) {
      sendText(response, 404, 'not found');
      return true;
    }
    loadAssets().then(
      (built) => {
        const body = built[asset.field];
        response.writeHead(200, { ...pageHeaders(), 'content-type': asset.type, 'content-length': Buffer.byteLength(body) });
        response.end(method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        console.error(JSON.stringify({ level: 'ERROR', message: 'console bundle failed', error: String(error) }));
        sendText(response, 500, 'the console could not be built; see the server log');
      },
    );
    return true;
  };
}

const ASSET_PATHS: Record<string, { field: 'html' | 'script' | 'stylesheet'; type: string }> = {
  '/console': { field: 'html', type: 'text/html; charset=utf-8' },
  '/console/': { field: 'html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { field: 'script', type: 'text/javascript; charset=utf-8' },
  '/console/app.css': { field: 'stylesheet', type: 'text/css; charset=utf-8' },
};

function pageHeaders(): Record<string, string> {
  return {
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-cache',
  };
}

function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...pageHeaders(), ...headers, 'content-type': 'text/plain; charset=utf-8' });
  response.end(text);
}

/**
 * Streams each complete JSON line appended to `file` after the request as an
 * SSE message (`id` from the line's `id` field). A file that does not exist
 * yet is waited for; one that shrinks is read again from its start.
 */
function streamEvents(request: IncomingMessage, response: ServerResponse, file: string): void {
  response.writeHead(200, {
    ...pageHeaders(),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  response.write(`retry: ${RECONNECT_MS}\n\n`);
  let offset: number | undefined;
  let partial = '';
  let reading = false;
  let closed = false;

  const readNew = async (): Promise<void> => {
    const size = await stat(file).then(
      (found) => found.size,
      () => 0,
    );
    if (offset === undefined || size < offset) {
      // Only what is appended from now on: an operator opening the page wants news, not the archive.
      offset = offset === undefined ? size : 0;
      partial = '';
      if (size === offset) return;
    }
    if (size === offset) return;
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      offset += bytesRead;
      const lines = (partial + buffer.subarray(0, bytesRead).toString('utf-8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (closed) break;
        response.write(eventMessage(line));
        if (response.writableLength > MAX_STREAM_BUFFER_BYTES) {
          closed = true;
          response.destroy();
        }
      }
    } finally {
      await handle.close();
    }
  };
  const tick = (): void => {
    if (reading || closed) return;
    reading = true;
    readNew()
      .catch((error: unknown) =>
        console.error(JSON.stringify({ level: 'WARN', message: 'events stream read failed', error: String(error) })),
      )
      .finally(() => {
        reading = false;
      });
  };
  tick();
  const tail = setInterval(tick, TAIL_INTERVAL_MS);
  const keepalive = setInterval(() => response.write(': keepalive\n\n'), KEEPALIVE_MS);
  request.on('close', () => {
    closed = true;
    clearInterval(tail);
    clearInterval(keepalive);
  });
}

/** One SSE message for a JSONL line; a line that is not a JSON object becomes a comment, never data. */
function eventMessage(line: string): string {
  const text = line.trim();
  if (text === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return ': skipped a line that is not JSON\n\n';
  }
  if (typeof parsed !== 'object' || parsed === null) return ': skipped a line that is not a JSON object\n\n';
  const id = (parsed as { id?: unknown }).id;
  const idLine = typeof id === 'string' && /^[\x21-\x7e]{1,200}$/.test(id) ? `id: ${id}\n` : '';
  return `${idLine}data: ${JSON.stringify(parsed)}\n\n`;
}
