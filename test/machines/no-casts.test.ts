/**
 * The machines and the simulator are typed end to end: no `as never` or `as any` anywhere under
 * machines/ or src/ (in code: comments and strings may say it). Each one found is listed as file:line.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOnly, sources } from './source-scan.js';

const ROOT = join(import.meta.dirname, '..', '..');

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
