// The structure rules of docs/architecture.md §1, read from the source files themselves:
//   - no source file in src/ or machines/ is over 400 lines unless its top comment says why, in a comment line
//     containing the fixed phrase "Over 400 lines because";
//   - the import graph of src/ and machines/ has no cycle (value imports, and separately type-only imports);
//   - imports point one way: cli → sim / explore / viz → machines → hw / kernel / kvm / vhost.
// The graph is built by parsing `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`, and
// resolving relative specifiers (`./x.js` → `./x.ts`); packages (xstate, rxjs, node:*) are not nodes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAX_LINES = 400;
const REASON_PHRASE = 'Over 400 lines because';

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const FILES = [...sourceFiles('src'), ...sourceFiles('machines')];
const TEXT = new Map(FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

/** The leading comment block of a file: its first lines while they are comments or blank. */
export function topComment(text: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (inBlock) {
      lines.push(t);
      if (t.includes('*/')) inBlock = false;
      continue;
    }
    if (t === '' || t.startsWith('//')) { lines.push(t); continue; }
    if (t.startsWith('/*')) { lines.push(t); inBlock = !t.includes('*/'); continue; }
    break;
  }
  return lines;
}

export function lineCount(text: string): number {
  const n = text.split('\n').length;
  return text.endsWith('\n') ? n - 1 : n;
}

interface Edge { from: string; to: string; typeOnly: boolean }

/** Every import of a module, with whether it is erased at run time (`import type`, `export type`, or only
 *  `type` specifiers). Comments are stripped first so an example in a comment is not an import. */
export function importsOf(text: string): { spec: string; typeOnly: boolean; dynamic?: true }[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const out: { spec: string; typeOnly: boolean; dynamic?: true }[] = [];
  const fromRe = /\b(import|export)\s+(type\s+)?([^'";]*?)\s+from\s+['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(fromRe)) {
    const clause = m[3]!.trim();
    let typeOnly = m[2] !== undefined;
    const braces = /^\{([\s\S]*)\}$/.exec(clause);
    if (!typeOnly && braces) {
      const names = braces[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
      typeOnly = names.length > 0 && names.every((s) => s.startsWith('type '));
    }
    out.push({ spec: m[4]!, typeOnly });
  }
  for (const m of code.matchAll(/\bimport\s+['"]([^'"]+)['"]/g)) out.push({ spec: m[1]!, typeOnly: false });
  for (const m of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false, dynamic: true });
  return out;
}

function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = relative(ROOT, resolve(ROOT, dirname(from), spec)).split('\\').join('/');
  const stem = base.replace(/\.(js|ts|mjs)$/, '');
  for (const candidate of [base, `${stem}.ts`, `${stem}.tsx`, `${stem}/index.ts`]) {
    if (TEXT.has(candidate)) return candidate;
  }
  return undefined;
}

const EDGES: Edge[] = [];
const UNRESOLVED: string[] = [];
for (const [file, text] of TEXT) {
  for (const { spec, typeOnly, dynamic } of importsOf(text)) {
    if (!spec.startsWith('.')) continue;
    const to = resolveSpec(file, spec);
    if (to === undefined) {
      // A dynamic import of a path that is no source file (the built CLI a benchmark starts, written in a
      // command line) is not an edge of the graph.
      if (dynamic === undefined && !/\.(css|json|svg|html)$/.test(spec) && !spec.includes('?')) UNRESOLVED.push(`${file} → ${spec}`);
      continue;
    }
    EDGES.push({ from: file, to, typeOnly });
  }
}

/**
 * Import edges allowed to close a cycle, each with its reason; the test fails when one is no longer there, so
 * the allowance goes when the cycle does. Only edges between files of another work in progress belong here.
 */
const KNOWN_CYCLE_EDGES: Record<string, string> = {};
const edgeName = (e: Edge): string => `${e.from} → ${e.to}`;

/** The cycles a depth-first search meets, one per back edge (rotated to start at the smallest file): none exactly
 *  when the graph is acyclic; a cycle that shares its back edge with another shows once the other is broken. */
export function cycles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const list = next.get(e.from) ?? [];
    if (!list.includes(e.to)) list.push(e.to);
    next.set(e.from, list);
  }
  const found = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const cycle = stack.slice(stack.indexOf(m));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        found.set(rotated.join(' → '), rotated);
      } else if (state.get(m) === undefined) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...next.keys()].sort()) if (state.get(n) === undefined) visit(n);
  return [...found.values()];
}

function layerOf(file: string): string {
  if (file.startsWith('machines/')) return 'machines';
  const m = /^src\/([^/]+)\//.exec(file);
  return m ? m[1]! : 'root';
}

/** Which layers each layer must not import (docs/architecture.md §1). */
const FORBIDDEN: Record<string, readonly string[]> = {
  hw: ['machines', 'sim', 'explore', 'viz', 'cli', 'bench'],
  kernel: ['machines', 'sim', 'explore', 'viz', 'cli', 'bench'],
  kvm: ['machines', 'sim', 'explore', 'viz', 'cli', 'bench'],
  vhost: ['machines', 'sim', 'explore', 'viz', 'cli', 'bench'],
  machines: ['sim', 'explore', 'viz', 'cli', 'bench', 'bus'],
  sim: ['viz', 'cli', 'bench'],
  explore: ['viz', 'cli', 'bench'],
  viz: ['cli', 'bench'],
};

describe('source structure (docs/architecture.md §1)', () => {
  it('finds the source files and resolves every relative import', () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect(EDGES.length).toBeGreaterThan(100);
    expect(UNRESOLVED).toEqual([]);
  });

  it(`no file over ${MAX_LINES} lines without "${REASON_PHRASE}" in its top comment`, () => {
    const offenders = FILES.filter((f) => lineCount(TEXT.get(f)!) > MAX_LINES)
      .filter((f) => !topComment(TEXT.get(f)!).some((l) => l.includes(REASON_PHRASE)))
      .map((f) => `${f} (${lineCount(TEXT.get(f)!)} lines)`);
    expect(offenders, `files over ${MAX_LINES} lines with no reason at the top:\n${offenders.join('\n')}`).toEqual([]);
  });

  it('has no import cycle (run-time imports)', () => {
    const found = cycles(EDGES.filter((e) => !e.typeOnly && !(edgeName(e) in KNOWN_CYCLE_EDGES))).map((c) => [...c, c[0]].join(' → '));
    expect(found, `import cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it('has no import cycle through type-only imports either', () => {
    const found = cycles(EDGES.filter((e) => !(edgeName(e) in KNOWN_CYCLE_EDGES))).map((c) => [...c, c[0]].join(' → '));
    expect(found, `import cycles (some edges type-only):\n${found.join('\n')}`).toEqual([]);
  });

  it('every allowed cycle edge still exists (else its allowance goes)', () => {
    const names = new Set(EDGES.map(edgeName));
    expect(Object.keys(KNOWN_CYCLE_EDGES).filter((e) => !names.has(e))).toEqual([]);
  });

  it('imports point one way: cli → sim / explore / viz → machines → hw / kernel / kvm / vhost', () => {
    const violations = EDGES.filter((e) => FORBIDDEN[layerOf(e.from)]?.includes(layerOf(e.to)))
      .map((e) => `${e.from} → ${e.to}${e.typeOnly ? ' (type only)' : ''}`);
    expect(violations, `imports against the layer order:\n${violations.join('\n')}`).toEqual([]);
  });
});

describe('the structure checks themselves', () => {
  it('reads type-only, re-export, side-effect and dynamic imports', () => {
    const src = [
      "import type { A } from './a.js';",
      "import { type B, type C } from './b.js';",
      "import { type D, e } from './d.js';",
      "export { f } from './f.js';",
      "export type { G } from './g.js';",
      "import './side.js';",
      "const m = await import('./dyn.js');",
      "// import { x } from './commented.js';",
    ].join('\n');
    expect(importsOf(src)).toEqual([
      { spec: './a.js', typeOnly: true },
      { spec: './b.js', typeOnly: true },
      { spec: './d.js', typeOnly: false },
      { spec: './f.js', typeOnly: false },
      { spec: './g.js', typeOnly: true },
      { spec: './side.js', typeOnly: false },
      { spec: './dyn.js', typeOnly: false, dynamic: true },
    ]);
  });

  it('finds a cycle and no cycle in a chain', () => {
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }])).toEqual([['a', 'b', 'c']]);
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'a', to: 'c' }])).toEqual([]);
  });

  it('reads the top comment up to the first line of code', () => {
    expect(topComment('// one\n/* two\n three */\n\n// four\nconst x = 1;\n// five\n')).toEqual(
      ['// one', '/* two', 'three */', '', '// four']);
    expect(lineCount('a\nb\n')).toBe(2);
  });
});
