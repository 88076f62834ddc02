/**
 * Fuzz: trace files. Real traces of built-ins with hostile values in their header or records, lines
 * dropped, repeated or swapped, go to every command that reads a trace (`run --replay`,
 * `export-trace` in each format, `view --out`): each reproduces, diverges (exit 1, replay only) or is
 * refused with one clear line (exit 2), within bounded memory, and a refused trace writes nothing.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { entries, expectWellBehaved, runCli, scratchDir } from './cli-check.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';
import { mutate, mutationArb, type Json, type Mutation } from './hostile.js';

const dir = scratchDir('trace');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASES = ['T1', 'T5', 'T9', 'T14'];
const traces: Record<string, string[]> = {};
beforeAll(async () => {
  for (const id of BASES) {
    const file = path.join(dir, `${id}.jsonl`);
    const r = await runCli(['run', id, '--trace', file, '--json']);
    if (r.code !== 0) throw new Error(`${id}: ${r.stderr}`);
    traces[id] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  }
}, 120_000);

type LineEdit =
  | { kind: 'record'; line: number; mutation: Mutation }
  | { kind: 'header'; mutation: Mutation }
  | { kind: 'drop' | 'repeat'; line: number }
  | { kind: 'swap'; line: number; other: number }
  | { kind: 'raw'; line: number; text: string };

const editArb: fc.Arbitrary<LineEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('record' as const), line: fc.nat(), mutation: mutationArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('header' as const), mutation: mutationArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('drop' as const, 'repeat' as const), line: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), line: fc.nat(), other: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      line: fc.nat(),
      text: fc.constantFrom('', 'not json', '{"t":"header"}', '{"t":"step","cpu":30000000}', '{"t":"deliver","cpu":-1}', '[]', 'null', '{"t":"step","cpu":1,"cpu":2}'),
    }),
  },
);

function applyEdit(lines: string[], e: LineEdit): string[] {
  const out = [...lines];
  const at = (n: number) => n % out.length;
  switch (e.kind) {
    case 'header':
      out[0] = JSON.stringify(mutate(JSON.parse(out[0] as string) as Json, e.mutation));
      break;
    case 'record': {
      const i = 1 + (e.line % (out.length - 1));
      out[i] = JSON.stringify(mutate(JSON.parse(out[i] as string) as Json, e.mutation));
      break;
    }
    case 'drop':
      out.splice(at(e.line), 1);
      break;
    case 'repeat':
      out.splice(at(e.line), 0, out[at(e.line)] as string);
      break;
    case 'swap': {
      const [i, j] = [at(e.line), at(e.other)];
      [out[i], out[j]] = [out[j] as string, out[i] as string];
      break;
    }
    case 'raw':
      out[at(e.line)] = e.text;
      break;
  }
  return out;
}

const caseArb = fc.record({
  base: fc.constantFrom(...BASES),
  edits: fc.array(editArb, { minLength: 1, maxLength: 3 }),
  command: fc.constantFrom('replay', 'export-json', 'export-mermaid', 'view'),
});

describe('fuzz: trace files through every command that reads one', () => {
  it(
    'a damaged trace replays, diverges or is refused clearly, and a refused one writes nothing',
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ base, edits, command }) => {
          const lines = edits.reduce(applyEdit, traces[base] as string[]);
          const file = 'fuzz-trace.jsonl';
          const out = path.join(dir, `case-${n++}`);
          fs.mkdirSync(out);
          const argv =
            command === 'replay'
              ? ['run', '--replay', file, '--json', '--trace', path.join(out, 'again.jsonl')]
              : command === 'view'
                ? ['view', file, '--out', path.join(out, 'site')]
                : ['export-trace', file, '--format', command === 'export-json' ? 'json' : 'mermaid-sequence'];
          const r = await runCli(argv, { [file]: lines.join('\n') + '\n' });
          const what = `${command} of ${base} with ${JSON.stringify(edits).slice(0, 600)}`;
          expectWellBehaved(r, command === 'replay' ? [0, 1, 2] : [0, 2], what);
          if (r.code === 2 && entries(out).length > 0) throw new Error(`${what}: refused, yet wrote ${JSON.stringify(entries(out))}`);
        }),
        fuzzParams(40),
      );
    },
    fuzzTimeout(240_000),
  );
});
