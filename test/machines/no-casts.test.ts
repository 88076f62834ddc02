/**
 * The machines and the simulator are typed end to end: no `as never` or `as any` anywhere under
 * machines/ or src/ (in code: comments and strings may say it). Each one found is listed as file:line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The source with comments and string and template literals blanked (newlines kept, so line
 * numbers stay): what is left is code.
 */
function codeOnly(text: string): string {
  let out = '';
  let i = 0;
  const blank = (end: number): void => {
    out += text.slice(i, end).replace(/[^\n]/g, ' ');
    i = end;
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      blank(end < 0 ? text.length : end);
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      blank(end < 0 ? text.length : end + 2);
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      blank(Math.min(j + 1, text.length));
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** Every `x as never` and `x as any` in a source text, with its line. */
function escapeCasts(text: string): { line: number; cast: string }[] {
  const found: { line: number; cast: string }[] = [];
  codeOnly(text)
    .split('\n')
    .forEach((code, i) => {
      for (const m of code.matchAll(/(?<![\w$])as\s+(never|any)(?![\w$])/g)) found.push({ line: i + 1, cast: `as ${m[1]}` });
    });
  return found;
}

describe('no escape casts', () => {
  it('finds the casts it looks for, and not the words in comments', () => {
    const text = [
      '// as any file it writes, as never before',
      'const a = b as never;',
      '/* as any',
      '   INIT */ const c = d as  any[];',
      "f(g as any, 'as never', `as never`, has_never, alias never);",
    ].join('\n');
    expect(escapeCasts(text)).toEqual([
      { line: 2, cast: 'as never' },
      { line: 4, cast: 'as any' },
      { line: 5, cast: 'as any' },
    ]);
  });

  it('machines/ and src/ have no `as never` and no `as any`', () => {
    const hits = ['machines', 'src'].flatMap((dir) =>
      sources(join(ROOT, dir)).flatMap((path) =>
        escapeCasts(readFileSync(path, 'utf8')).map((h) => `${relative(ROOT, path)}:${h.line}: ${h.cast}`),
      ),
    );
    expect(hits).toEqual([]);
  });
});
