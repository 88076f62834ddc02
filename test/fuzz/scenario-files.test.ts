/**
 * Fuzz: scenario files. Built-in scenarios with hostile values put anywhere in them, and damaged
 * text, go through `shootdown run` as a user's file would: every one either runs (exit 0) or is
 * refused with one clear line (exit 2), never a crash, a stack, a raw control character on the
 * terminal, output on stdout for refused input, or a trace file left behind.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.js';
import { entries, expectWellBehaved, runCli, scratchDir } from './cli-check.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';
import { damage, mutate, mutationArb, textDamageArb, type Json } from './hostile.js';

const dir = scratchDir('scenario');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const caseArb = fc.record({
  base: fc.constantFrom(...BUILTIN_SCENARIOS.map((s) => s.id)),
  mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
  text: textDamageArb,
  json: fc.boolean(),
});

describe('fuzz: scenario files through `shootdown run`', () => {
  it(
    'every hostile scenario file runs or is refused with a clear error, and leaves no partial trace',
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ base, mutations, text, json }) => {
          const raw = BUILTIN_SCENARIOS.find((s) => s.id === base)?.raw as Json;
          const doc = mutations.reduce(mutate, raw);
          const file = 'fuzz-scenario.json';
          const body = damage(JSON.stringify(doc, null, 2), text);
          const out = path.join(dir, `case-${n++}`);
          fs.mkdirSync(out);
          const trace = path.join(out, 'trace.jsonl');
          const r = await runCli(['run', file, '--trace', trace, ...(json ? ['--json'] : [])], { [file]: body });
          expectWellBehaved(r, [0, 2], `run of ${base} with ${JSON.stringify(mutations).slice(0, 600)} text ${JSON.stringify(text)}`);
          // A refused file writes no trace, and a run writes exactly the trace: never a `.partial` or temp file.
          expectEntries(out, r.code === 0 ? ['trace.jsonl'] : []);
        }),
        fuzzParams(30),
      );
    },
    fuzzTimeout(240_000),
  );
});

function expectEntries(where: string, want: string[]): void {
  const got = entries(where);
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${where}: expected ${JSON.stringify(want)}, found ${JSON.stringify(got)}`);
}
