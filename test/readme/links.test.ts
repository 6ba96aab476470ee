import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The anchors GitHub gives a document: each heading's slug, and every `<a id="…">`. */
function anchors(markdown: string): Set<string> {
  const outsideCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  const slugs = [...outsideCode.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) =>
    heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replaceAll(' ', '-'),
  );
  const ids = [...outsideCode.matchAll(/<a id="([^"]+)">/g)].map(([, id]) => id!);
  return new Set([...slugs, ...ids]);
}

const documents = [
  'README.md',
  ...(await readdir(path.join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`),
];

describe('the links of README.md and docs/*.md', () => {
  it.each(documents)('%s: every relative link names a file that exists, and every #anchor a heading there', async (file) => {
    const text = await readFile(path.join(ROOT, file), 'utf-8');
    const links = [...text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target!);
    const broken: string[] = [];
    for (const link of links.filter((target) => !/^[a-z]+:/.test(target))) {
      const [target = '', anchor] = link.split('#');
      const resolved = target === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), target);
      if (!existsSync(resolved)) broken.push(`${link}: no such file`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(await readFile(resolved, 'utf-8')).has(anchor))
        broken.push(`${link}: no such anchor`);
    }
    expect(broken).toEqual([]);
  });
});
