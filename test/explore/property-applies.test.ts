/**
 * `explore --property NAME` refuses a property that cannot apply to the scenario (no run of it could
 * violate the property), naming why, instead of a "complete, no violation" that checked nothing; and
 * what the properties' definitions say cannot apply is never violated in a run of a built-in.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadScenario, withKernel } from '../../src/cli/scenario-args.js';
import { PRESETS } from '../../src/kernel/variants.js';
import { BUILTIN_SCENARIOS, RACE_SCENARIOS } from '../../src/scenarios/builtin.js';
import { runScenario } from '../../src/sim/run.js';
import { PROPERTY_NAMES, whyInapplicable } from '../../src/spec/index.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-property-applies-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function explore(args: string[], files: Record<string, string> = {}): Promise<{ code: number; out: string; err: string; out_dir: string }> {
  const t = memoryIo(files);
  const outDir = path.join(dir, `out-${args.join('-').replace(/[^a-z0-9-]/gi, '')}`);
  const code = await main(['explore', ...args, '--out', outDir], t.cli);
  return { code, out: t.out(), err: t.err(), out_dir: outDir };
}

const ONE_CPU = JSON.stringify({ name: 'one', machine: { cpus: 1 }, options: { kdump: false, panicTimeout: 0 }, script: [{ cpu: 0, do: 'panic', at: 0 }] });

describe('explore --property that cannot apply: exit 2, naming why, before the search', () => {
  it.each([
    [['R2', '--property', 'vsock-packets-balance'], {}, /^shootdown: --property vsock-packets-balance cannot apply to R2: the scenario has no vhost-vsock device/],
    [['R2', '--property', 'no-kernel-bug', '--property', 'vsock-credit-never-negative'], {}, /^shootdown: --property vsock-credit-never-negative cannot apply to R2: the scenario has no vhost-vsock device/],
    [['one.json', '--property', 'shootdown-acked'], { 'one.json': ONE_CPU }, /^shootdown: --property shootdown-acked cannot apply to one: the machine has one CPU/],
    [['one.json', '--property', 'reboot-completes'], { 'one.json': ONE_CPU }, /^shootdown: --property reboot-completes cannot apply to one: its script's panics wait forever/],
  ])('%j', async (args, files, message) => {
    const r = await explore(args, files);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(fs.existsSync(r.out_dir)).toBe(false);
  });

  it('a property that applies is searched as before', async () => {
    const vsock = await explore(['T-vsock-credit', '--property', 'vsock-packets-balance', '--max-states', '30']);
    expect(vsock.err).not.toMatch(/cannot apply/);
    expect(vsock.code).toBe(3);
    const one = await explore(['one.json', '--property', 'no-kernel-bug'], { 'one.json': ONE_CPU });
    expect(one.code).toBe(0);
  });
});

describe('what the definitions say cannot apply is never violated', () => {
  it('in any built-in on any preset (seed 1), and some property is said not to apply to some built-in', () => {
    let inapplicable = 0;
    for (const b of [...BUILTIN_SCENARIOS, ...RACE_SCENARIOS]) {
      for (const preset of PRESETS) {
        const scenario = withKernel(loadScenario(b.id, () => ''), preset.name, [], []);
        const never = PROPERTY_NAMES.filter((p) => whyInapplicable(p, scenario) !== null);
        inapplicable += never.length;
        if (never.length === 0) continue;
        const violated = runScenario(scenario, { seed: 1 }).outcome.violations.map((v) => v.property);
        expect(violated.filter((p) => (never as string[]).includes(p)), `${b.id} on ${preset.name}`).toEqual([]);
      }
    }
    expect(inapplicable).toBeGreaterThan(0);
  });
});
