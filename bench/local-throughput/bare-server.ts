/**
 * The floor for the local server: a bare `node:http` server that reads or
 * writes one file per request in DATA_DIR (`<id>.json`), with no routing
 * library, validation, events, logging or concurrency control. An append
 * reads the file, adds the job and replaces the file durably, as the file
 * store does (a temporary file written and fsynced, renamed over it, the
 * directory fsynced), so that both make the same promise. Sends `{ "url": … }` to
 * the parent once listening; stops when the parent goes.
 *
 *   node bench/local-throughput/bare-server.ts DATA_DIR
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const dataDir = process.argv[2];
if (dataDir === undefined) {
  console.error('usage: node bench/local-throughput/bare-server.ts DATA_DIR');
  process.exit(2);
}
const root = dataDir;

const ROUTE = /^\/sessions\/([0-9a-f]{32})(\/jobs)?$/;

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf-8');
}

/** The least a durable replace takes: a temporary file written and fsynced, renamed over the file, the directory fsynced. */
async function writeDurably(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const directory = await open(path.dirname(file), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const match = ROUTE.exec(request.url ?? '');
  if (match === null) {
    response.writeHead(404).end();
    return;
  }
  const file = path.join(root, `${match[1]}.json`);
  if (request.method === 'GET' && match[2] === undefined) {
    const text = await readFile(file, 'utf-8');
    response.writeHead(200, { 'content-type': 'application/json' }).end(text);
    return;
  }
  if (request.method === 'POST' && match[2] !== undefined) {
    const { job_id: jobId } = JSON.parse(await body(request)) as { job_id: string };
    const session = JSON.parse(await readFile(file, 'utf-8')) as { job_ids: string[] };
    if (!session.job_ids.includes(jobId)) {
      session.job_ids.push(jobId);
      await writeDurably(file, JSON.stringify(session));
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(session));
    return;
  }
  response.writeHead(405).end();
}

const server = createServer((request, response) => {
  serve(request, response).catch((error: unknown) => {
    response.writeHead(500).end(String(error));
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
