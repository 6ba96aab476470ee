/**
 * The figures the reference pages state are the code's: the limits table of
 * docs/operations.md and the exit codes of docs/cli.md, read from the pages
 * and compared with the constants they describe, so that neither drifts alone.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckStoreExit, ExecExit, ExitCode } from '#lib/client/cli/failures.ts';
import { MAX_STREAM_BUFFER_BYTES } from '#lib/console/serve.ts';
import { readServiceConfig } from '#lib/domain/config.ts';
import { HISTORY_LIMIT, JOB_ID_MAX_BYTES, LABEL_MAX_BYTES, MAX_PAGE_BYTES, SESSION_LIST_LIMIT } from '#lib/domain/limits.ts';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '#lib/http/request-body.ts';
import { DEFAULT_MAX_CONNECTIONS } from '#lib/local/config.ts';
import { BODY_TIMEOUT_MS } from '#lib/local/gateway.ts';
import { MAX_ANSWER_BYTES, MAX_REFUSED_ATTEMPTS } from '#lib/local/webhook.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const page = (file: string) => readFile(path.join(ROOT, file), 'utf-8');

/** The cells of a Markdown table row, `\|` kept inside its cell. */
function cells(row: string): string[] {
  return row
    .trim()
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((cell) => cell.trim());
}

/** `bytes` as the pages write it: `16 KiB`, `1 MiB`. */
function binary(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** The rows between `<!-- limits -->` and `<!-- /limits -->`, by their first cell: `[limit, beyond it]`. */
async function limitsTable(): Promise<Map<string, string[]>> {
  const text = await page('docs/operations.md');
  const table = /<!-- limits -->\n([\s\S]*?)<!-- \/limits -->/.exec(text)?.[1];
  if (table === undefined) throw new Error('docs/operations.md has no <!-- limits --> table');
  const rows = table.trim().split('\n').slice(2).map(cells);
  return new Map(rows.map(([what, ...rest]) => [what!, rest]));
}

describe('docs/operations.md, the limits table', () => {
  it('states the limits the code enforces', async () => {
    const limits = await limitsTable();
    const limit = (what: string) => {
      const row = limits.get(what);
      if (row === undefined) throw new Error(`no limits row "${what}"`);
      return row.join(' | ');
    };
    const defaults = readServiceConfig({});

    expect(limit('a request body')).toContain(binary(MAX_BODY_BYTES));
    expect(limit('nesting in a body')).toContain(`${MAX_JSON_DEPTH} levels`);
    expect(limit('`name`, `holder`')).toContain(`1–256 characters, at most ${LABEL_MAX_BYTES} bytes of UTF-8`);
    expect(limit('`job_id`')).toContain(`at most ${JOB_ID_MAX_BYTES} bytes of UTF-8`);
    expect(limit('jobs per session')).toContain(defaults.maxJobsPerSession.toLocaleString('en-US'));
    expect(limit('a list page')).toContain(`1–${SESSION_LIST_LIMIT.max} sessions, default ${SESSION_LIST_LIMIT.default}`);
    expect(limit('a history page')).toContain(`1–${HISTORY_LIMIT.max} versions, default ${HISTORY_LIMIT.default}`);
    expect(limit('a page (list, history), in bytes')).toContain(`${binary(MAX_PAGE_BYTES)} of JSON`);
    expect(limit("a body's arrival (local server)")).toContain(`${BODY_TIMEOUT_MS / 1000} s`);
    expect(limit('connections (local server)')).toContain(`\`LOCAL_MAX_CONNECTIONS\`, ${DEFAULT_MAX_CONNECTIONS}`);
    expect(limit("a webhook's answer (local server)")).toContain(`${binary(MAX_ANSWER_BYTES)} read`);
    expect(limit('a webhook refusing one event (4xx but 408, 429)')).toContain(`${MAX_REFUSED_ATTEMPTS} attempts`);
    expect(limit('events waiting for one console client')).toContain(binary(MAX_STREAM_BUFFER_BYTES));
  });
});

describe('docs/cli.md, the exit codes', () => {
  it('the table of exit codes lists exactly the codes of ExitCode', async () => {
    const section = /^## Exit codes\n([\s\S]*?)(?=^## )/m.exec(await page('docs/cli.md'))?.[1] ?? '';
    const codes = [...section.matchAll(/^\| (\d+) +\|/gm)].map(([, code]) => Number(code));

    expect(codes).toEqual([...new Set(Object.values(ExitCode))].sort((a, b) => a - b));
  });

  it("exec's table lists exactly its own codes, and check-store's statuses are those of CheckStoreExit", async () => {
    const text = await page('docs/cli.md');
    const exec = /^### exec\n([\s\S]*?)(?=^## )/m.exec(text)?.[1] ?? '';
    const execCodes = [...exec.matchAll(/^\| (\d+) +\|/gm)].map(([, code]) => Number(code));

    expect(execCodes).toEqual(Object.values(ExecExit).sort((a, b) => a - b));
    expect(text).toContain(
      `**${CheckStoreExit.Safe}** safe, **${CheckStoreExit.NotSafe}** not safe (the service must not run on this bucket),\n` +
        `**${CheckStoreExit.Usage}** usage error, **${CheckStoreExit.CouldNotCheck}** could not check`,
    );
  });
});
