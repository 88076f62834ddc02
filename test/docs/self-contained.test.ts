/**
 * The repository stands alone: README, docs, code and tests name no path outside it, and every
 * `docs/model.md §N` they cite is a section that exists there (a renumbering that leaves a citation
 * dangling fails here).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve('.');
const SKIP = new Set(['node_modules', 'dist', '.git', 'golden']);

function files(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) files(p, out);
    else if (/\.(ts|md|json|css|html)$/.test(e.name)) out.push(p);
  }
  return out;
}

const sources = [path.join(ROOT, 'README.md'), ...['src', 'machines', 'test', 'docs', '.ci'].flatMap((d) => (fs.existsSync(path.join(ROOT, d)) ? files(path.join(ROOT, d)) : []))];

describe('the repository stands alone', () => {
  it('names no file outside it (the folder of notes beside a working copy, or its files by name)', () => {
    // Built from parts, so this file does not itself name the folder it looks for.
    const outside = new RegExp(['\\.\\./' + 'shared', '\\bSEMANTICS\\b', '\\bDESIGN\\.md', '\\bTOOLCHAIN\\.md', '\\bSTYLE\\.md', '/' + 'work/'].join('|'));
    const hits: string[] = [];
    for (const f of sources) {
      fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (outside.test(line)) hits.push(`${path.relative(ROOT, f)}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('every docs/model.md section cited exists', () => {
    const model = fs.readFileSync(path.join(ROOT, 'docs/model.md'), 'utf8');
    const sections = new Set([...model.matchAll(/^#{2,4} §(\d+(?:\.\d+)*)/gm)].map((m) => m[1]));
    expect(sections.size).toBeGreaterThan(40);
    const missing: string[] = [];
    for (const f of sources) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/docs\/model\.md §(\d+(?:\.\d+)*)/g)) {
        if (!sections.has(m[1] as string)) missing.push(`${path.relative(ROOT, f)}: §${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
