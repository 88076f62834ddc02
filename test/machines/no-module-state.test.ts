/**
 * No module-level mutable state under src/ or machines/: a simulation's world, a step's results and
 * a chart's memo are values passed in or returned, never a variable of the module that every run
 * of the process shares (one such, `currentWorld`, had every driver set it before each step). The
 * scan finds, in code (comments and strings blanked):
 *  - a top-level `let` or `var`;
 *  - a top-level `const` that the module changes afterwards: a property or element assigned, or a
 *    Map/Set/array method that changes it called on it;
 *  - a class's `static` field that is not `readonly`.
 * What remains is a short allow-list: caches of what pure functions of constant inputs give (the
 * same value whichever run asks first), and process-wide resources of the command line itself.
 * Each entry says why; an entry that no longer matches fails too, so the list stays true.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOnly, sources } from './source-scan.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** file:name → why this module-level state is allowed. */
const ALLOWED: Record<string, string> = {
  'src/sim/cpu-drivers.ts:sharedRunner': 'cache: the CPU chart compiled once (its tables depend only on the chart)',
  'src/state/hash.ts:stringHashes': 'cache: hash53 of a string, a pure function',
  'src/index.ts:validated': 'cache: the JSON of the scenario a machine source validates to (validateScenario is a pure function of it)',
  'src/sim/step.ts:references': "cache: the save a scenario's run starts in (a pure function of the scenario and mode)",
  'src/viz/chart-model.ts:pathIndexes': 'cache: a chart model indexed by path (WeakMap keyed by the immutable model)',
  'src/viz/actor-kinds.ts:physicalCpuChart': 'cache: the chart model of a machine definition, built on first use',
  'src/viz/actor-kinds.ts:vhostVsockChart': 'cache: the chart model of a machine definition, built on first use',
  'src/viz/actor-kinds.ts:vcpuChart': 'cache: the chart model of a machine definition, built on first use',
  'src/viz/actor-kinds.ts:vmmChart': 'cache: the chart model of a machine definition, built on first use',
  'src/viz/page/elk-loader.ts:loading': 'cache: the browser page loads its layout library once',
  'src/bench/paired.ts:gnuTime': 'cache: whether /usr/bin/time is GNU time, probed once per process',
  'src/cli/output-file.ts:onSignals': 'process: the signal handlers installed once per process',
  'src/cli/output-file.ts:live': 'process: the output files this process is writing (removed on a signal)',
  'src/cli/terminal.ts:CONTROL': 'a global RegExp whose lastIndex is reset before each use: no value outlives a call',
  'src/cli/terminal.ts:STDOUT_CONTROL': 'a global RegExp whose lastIndex is reset before each use: no value outlives a call',
  'src/explore/state-hash.ts:lo': "scratch: the running hash's low half, set at the start of each stateHash call: no value outlives a call",
  'src/explore/state-hash.ts:hi': "scratch: the running hash's high half, set at the start of each stateHash call: no value outlives a call",
};

const MUTATORS = 'set|add|delete|clear|push|pop|shift|unshift|splice|sort|reverse|fill|copyWithin';

/** Module-level mutable state in one source text: [name, line]. */
function moduleState(text: string): { name: string; line: number; why: string }[] {
  const code = codeOnly(text);
  const lines = code.split('\n');
  const found: { name: string; line: number; why: string }[] = [];
  lines.forEach((line, i) => {
    const decl = /^(?:export\s+)?(let|var|const)\s+([A-Za-z_$][\w$]*)/.exec(line);
    if (decl) {
      const [, kind, name] = decl as unknown as [string, string, string];
      if (kind !== 'const') {
        found.push({ name, line: i + 1, why: `top-level ${kind}` });
        return;
      }
      const member = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}(?:\\.[\\w$]+|\\[[^\\]]*\\])*(?:\\.[\\w$]+|\\[[^\\]]*\\])\\s*(?:[-+*/|&]?=(?!=)|\\+\\+|--)`);
      const call = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}\\.(?:${MUTATORS})\\(`);
      if (member.test(code) || call.test(code)) found.push({ name, line: i + 1, why: 'top-level const changed by the module' });
    }
    const stat = /^\s+(?:(?:private|public|protected)\s+)?static\s+(?!readonly\b)([A-Za-z_$][\w$]*)\s*[:=]/.exec(line);
    if (stat) found.push({ name: stat[1] as string, line: i + 1, why: 'static field that is not readonly' });
  });
  return found;
}

describe('no module-level mutable state', () => {
  it('the scan finds each kind it looks for (a scan that cannot find anything proves nothing)', () => {
    const sample = [
      'let world = null;',
      'export const lastRule = { hw: null };',
      'export function f(hw) { lastRule.hw = hw; }',
      'const seen = new Map();',
      'function g(k) { seen.set(k, 1); }',
      'const FIXED = new Map([[1, 2]]);',
      'function h() { return FIXED.get(1); }',
      'class C {',
      '  private static count = 0;',
      '  static readonly NAME = 1;',
      '}',
      '// let inComment = 1;',
    ].join('\n');
    expect(moduleState(sample).map((f) => f.name)).toEqual(['world', 'lastRule', 'seen', 'count']);
  });

  it('src/ and machines/ hold none beyond the documented caches and process resources', () => {
    const hits: string[] = [];
    const allowedSeen = new Set<string>();
    for (const dir of ['src', 'machines']) {
      for (const file of sources(join(ROOT, dir))) {
        const rel = relative(ROOT, file).split('\\').join('/');
        for (const f of moduleState(readFileSync(file, 'utf8'))) {
          const key = `${rel}:${f.name}`;
          if (key in ALLOWED) allowedSeen.add(key);
          else hits.push(`${rel}:${f.line}: ${f.name} (${f.why})`);
        }
      }
    }
    expect(hits).toEqual([]);
    expect(Object.keys(ALLOWED).filter((k) => !allowedSeen.has(k))).toEqual([]);
  });
});
