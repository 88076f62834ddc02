/**
 * A scenario can start a CPU in the window after VMXOFF with its VMCSes still on loaded_vmcss_on_cpu
 * (VMXOFF does not VMCLEAR them; the emergency disable of v5.10–v6.2 leaves the list as it is): R2 case
 * (ii) as an initial state. The kdump NMI's VMCLEAR walk then #UDs on that CPU: a BUG in
 * kvm_spurious_fault() before the fixes that eat it.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';

function run(preset: string) {
  const raw = {
    name: 'r2-window-ii',
    machine: { cpus: 2, vendor: 'intel' },
    kernel: { preset },
    initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '0': { vmx: 'off', cr4Vmxe: true } } },
    options: { kdump: true, kdumpBringsUpAps: false },
    script: [{ cpu: 1, do: 'panic', at: 0 }],
  };
  const v = validateScenario(raw, raw.name, validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return runScenario(v.scenario, { seed: 1 }).outcome;
}

describe('starting in the window after VMXOFF, VMCSes still listed', () => {
  it('v5.10: the kdump NMI VMCLEARs the listed VMCS on CPU 0 with VMX off: #UD, kernel BUG', () => {
    const o = run('v5.10');
    expect(o.faults.map((f) => `${f.cpu} ${f.insn} ${f.fault} ${f.handling}`)).toContain('0 VMCLEAR #UD bug');
    expect(o.cpus[0]).toMatchObject({ vmx: 'off', cr4Vmxe: true });
  });

  it('v6.6: the same #UD is eaten', () => {
    expect(run('v6.6').faults.map((f) => `${f.cpu} ${f.insn} ${f.fault} ${f.handling}`)).toContain('0 VMCLEAR #UD eaten');
  });
});
