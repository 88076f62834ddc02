/**
 * `import … from 'shootdown'`, resolved through package.json `exports` (the package refers to
 * itself by name, as a user's project would), into the built dist/ with its type declarations:
 * the README's example is this folder's readme-example.test.ts, word for word; runs and explored
 * counterexamples replay through the CLI; bad input throws an error that names it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { explore, kernels, run, scenarios, ScenarioInputError, PROPERTY_NAMES, startMachine, stepMachine, type RunResult } from 'shootdown';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-library-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the package', () => {
  it('resolves to the built entry point with its declarations', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: { '.': { types: string; default: string } } };
    expect(fs.existsSync(path.join(root, pkg.exports['.'].types))).toBe(true);
    expect(import.meta.resolve('shootdown')).toBe(new URL(pkg.exports['.'].default, `file://${root}/`).href);
  });

  it("README's library example is readme-example.test.ts, word for word", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const example = fs.readFileSync(path.join(here, 'readme-example.test.ts'), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```\n');
  });
});

describe('run', () => {
  it('a built-in, with a kernel choice: the outcome and a trace that `shootdown run --replay` reproduces', async () => {
    const r: RunResult = run('T5', { kernel: 'v5.10', seed: 3 });
    expect(r.scenario.kernel.preset).toBe('v5.10');
    expect(r.outcome.faults.some((f) => f.insn === 'VMCLEAR' && f.handling === 'bug')).toBe(true);
    expect(r.violations.map((v) => v.property)).toContain('no-kernel-bug');
    const file = path.join(dir, 't5.jsonl');
    fs.writeFileSync(file, r.traceText());
    const t = memoryIo();
    await main(['run', '--replay', file, '--json'], t.cli);
    expect(t.err()).not.toMatch(/diverged/);
    expect((JSON.parse(t.out()) as { outcome: { faults: unknown } }).outcome.faults).toEqual(r.outcome.faults);
  });

  it('a scenario value in the scenario file format', () => {
    const r = run({
      name: 'two-cpu-panic',
      machine: { cpus: 2, vendor: 'intel' },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      options: { kdump: true },
      script: [{ cpu: 0, do: 'panic', at: 0 }],
    });
    expect(r.outcome.end).toBe('kexec');
  });

  it.each([
    ['an unknown built-in', () => run('T99'), /unknown built-in scenario 'T99'/],
    ['an invalid scenario value, naming the field', () => run({ name: 'x', machine: { cpus: 0 } }), /machine/],
    ['an unknown kernel preset', () => run('T5', { kernel: 'v4.0' }), /unknown preset 'v4.0'/],
    ['an unknown switch', () => run('T5', { fix: ['no-such-fix'] }), /unknown kernel switch 'no-such-fix'/],
    ['a bad seed', () => run('T5', { seed: -1 }), /seed/],
    ['an unknown property', () => explore('R2', { properties: ['fast'] }), /unknown property 'fast'/],
  ])('throws ScenarioInputError for %s', (_name, call, message) => {
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(message);
  });
});

describe('explore', () => {
  it('each violation comes with its run, which `shootdown run --replay` reproduces', async () => {
    const found = explore('R2', { kernel: 'v5.10', properties: ['no-kernel-bug'] });
    const v = found.violations[0];
    expect(v?.property).toBe('no-kernel-bug');
    const file = path.join(dir, 'r2.jsonl');
    fs.writeFileSync(file, (v?.trace ?? []).join('\n') + '\n');
    const t = memoryIo();
    await main(['run', '--replay', file, '--json'], t.cli);
    expect(t.err()).not.toMatch(/diverged/);
    const replayed = JSON.parse(t.out()) as { outcome: { violations: { property: string; message: string }[] } };
    expect(replayed.outcome.violations).toContainEqual(expect.objectContaining({ property: 'no-kernel-bug', message: v?.message }));
  });
});

describe('startMachine and stepMachine', () => {
  it('step a built-in as a JSON value, the first choice each time, to the end of the run', () => {
    const first = startMachine('T1', { seed: 2 });
    let state = first.state;
    const records = [...first.records];
    let steps = 0;
    while (state.choices > 0) {
      const next = stepMachine(JSON.parse(JSON.stringify(state)) as typeof state, 0);
      records.push(...next.records);
      state = next.state;
      steps += 1;
    }
    expect(records[0]?.t).toBe('header');
    expect(records.at(-1)).toMatchObject({ t: 'end', steps });
    expect(() => stepMachine(state, 0)).toThrow('the run is over');
    expect(() => startMachine('T1', { mode: 'fast' as 'timed' })).toThrow(ScenarioInputError);
  });

  it('refuses a value that is not a machine, naming the part, rather than crash or run another machine', () => {
    const t1 = startMachine('T1', { seed: 2 }).state;
    const t14 = startMachine('T14', { seed: 2 }).state;
    const r1 = startMachine('R1', { seed: 2 }).state;
    const copy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
    const edited = (f: (v: Record<string, any>) => void) => {
      const v = copy(t1) as unknown as Record<string, any>;
      f(v);
      return v as unknown as typeof t1;
    };
    const cases: [typeof t1, RegExp][] = [
      [null as unknown as typeof t1, /stepMachine: the state is null/],
      [edited((v) => delete v.saved), /state\.saved is missing/],
      [edited((v) => (v.saved = {})), /state\.saved\.version: expected 1, got undefined/],
      [edited((v) => (v.saved.engine = 'bogus')), /state\.saved\.engine/],
      [edited((v) => (v.saved.version = 999)), /state\.saved\.version: expected 1, got 999/],
      [edited((v) => delete v.options), /state\.options is missing/],
      [edited((v) => (v.options.seed = 'x')), /state\.options\.seed/],
      [edited((v) => (v.options.mode = 'fast')), /state\.options\.mode/],
      [edited((v) => delete v.choices), /state\.choices: expected a whole number/],
      [edited((v) => delete v.scenario), /state\.scenario is missing/],
      [edited((v) => delete v.saved.agenda), /state\.saved\.agenda: expected an object \(agenda\), got nothing/],
      [edited((v) => (v.choices = v.choices + 1)), /state\.choices is \d+, but its state has \d+ choices/],
      // T1's 4-CPU save under R1's 2-CPU scenario; T14 without its guests.
      [{ ...copy(r1), saved: copy(t1.saved) }, /state\.saved\.cpus: the scenario has 2 CPUs, the save 4/],
      [{ ...copy(t14), saved: { ...copy(t14.saved), guests: undefined } } as typeof t14, /state\.saved\.guests: missing: the scenario has guests/],
    ];
    for (const [value, message] of cases) {
      expect(() => stepMachine(value, 0)).toThrow(ScenarioInputError);
      expect(() => stepMachine(value, 0)).toThrow(message);
    }
    // The value itself still steps.
    expect(stepMachine(copy(t1), 0).state.saved).toBeTypeOf('object');
  });
});

describe('scenarios and kernels', () => {
  it('list what `shootdown list` and `shootdown kernels` print', async () => {
    const list = memoryIo();
    await main(['list'], list.cli);
    // The races (R1, R2…) are for `shootdown explore`, which takes them by name; `list` shows the cases.
    for (const s of scenarios.filter((x) => x.kind === 'case')) expect(list.out()).toContain(`${s.id} `);
    expect(scenarios.filter((x) => x.kind === 'race').map((x) => x.id)).toContain('R2');
    const k = memoryIo();
    await main(['kernels'], k.cli);
    for (const p of kernels.presets) expect(k.out()).toContain(p.name);
    for (const s of kernels.switches) expect(k.out()).toContain(s.name);
    expect(kernels.presets.map((p) => p.name)).toContain(kernels.default);
    expect(PROPERTY_NAMES).toContain('no-kernel-bug');
  });
});
