/**
 * The `initial` section: what KVM and the workload left on each CPU before the scenario starts.
 * `all` applies to every CPU and a per-CPU entry overrides it field by field; the merged state of each
 * CPU must be one the hardware can actually be in.
 */
import type { Vendor } from '../hw/cpu-state.js';
import type { CpuInit } from './types.js';
import {
  cpuOutOfRange,
  readBoolean,
  readChoice,
  readEntries,
  readInteger,
  readObject,
  shown,
  type Field,
  type Loc,
  type Problems,
} from './reader.js';

type FullInit = Required<CpuInit>;
type InitKey = keyof FullInit;

const INIT_KEYS: readonly InitKey[] = ['vmx', 'loadedVmcs', 'if', 'svme', 'gif', 'cr4Vmxe'];

/** KVM keeps at most this many VMCSes per CPU in a scenario; more adds nothing to the races modelled. */
export const MAX_LOADED_VMCS = 64;

/** Where a CPU's value for one field came from: 0 the default, 1 `all`, 2 the CPU's own entry. */
type Level = 0 | 1 | 2;

interface Slot<V> {
  value: V;
  level: Level;
  /** Absent for defaults. */
  loc?: Loc;
  /** The file gave a value here that was already reported as invalid: rules about it are not checked. */
  invalid: boolean;
}

type Given = { [K in InitKey]?: Slot<FullInit[K]> };
type Merged = { [K in InitKey]: Slot<FullInit[K]> };

/** A CpuInit object from the file, keeping where each field was; invalid fields are reported and marked. */
function readCpuInit(field: Field, level: Level, out: Problems): Given | undefined {
  const fields = readObject(field, INIT_KEYS, out);
  if (fields === undefined) return undefined;
  const given: Given = {};
  for (const [key, f] of fields) {
    const slot = <V>(value: V | undefined, fallback: V): Slot<V> =>
      value === undefined ? { value: fallback, level, loc: f.loc, invalid: true } : { value, level, loc: f.loc, invalid: false };
    switch (key as InitKey) {
      case 'vmx':
        given.vmx = slot(readChoice(f, 'VMX state', ['off', 'root'] as const, out), 'off');
        break;
      case 'loadedVmcs':
        given.loadedVmcs = slot(readInteger(f, 0, MAX_LOADED_VMCS, out), 0);
        break;
      case 'if':
      case 'svme':
      case 'gif':
      case 'cr4Vmxe':
        given[key as 'if' | 'svme' | 'gif' | 'cr4Vmxe'] = slot(readBoolean(f, out), false);
        break;
    }
  }
  return given;
}

function merge(all: Given, own: Given): Merged {
  const pick = <K extends InitKey>(key: K, fallback: FullInit[K]): Slot<FullInit[K]> =>
    (own[key] as Slot<FullInit[K]> | undefined) ?? (all[key] as Slot<FullInit[K]> | undefined) ?? { value: fallback, level: 0, invalid: false };
  const vmx = pick('vmx', 'off');
  return {
    vmx,
    loadedVmcs: pick('loadedVmcs', 0),
    if: pick('if', true),
    svme: pick('svme', false),
    gif: pick('gif', true),
    // KVM sets CR4.VMXE just before VMXON, so a CPU in VMX root has it unless the file says otherwise.
    cr4Vmxe: pick('cr4Vmxe', vmx.value === 'root'),
  };
}

/**
 * Which of two fields to blame for a broken rule: the one given closest to the CPU (its own entry over
 * `all` over the default), and `first` when both come from the same place.
 */
function blame(first: Slot<unknown>, second: Slot<unknown>): Loc | undefined {
  return second.level > first.level ? second.loc : first.loc;
}

/** The rules a merged CPU state must satisfy; `vendor` is undefined when machine.vendor is invalid. */
function checkMerged(m: Merged, vendor: Vendor | undefined, out: Problems): void {
  const report = (loc: Loc | undefined, message: string): void => {
    if (loc !== undefined) out.add(loc, message);
  };
  const valid = (...slots: Slot<unknown>[]): boolean => slots.every((s) => !s.invalid);

  // KVM's loaded_vmcss_on_cpu list only holds VMCSes that were VMPTRLDed (in VMX operation), but VMXOFF
  // leaves the list as it is: the emergency virtualization disable of v5.10–v6.2 (cpu_emergency_vmxoff)
  // turns VMX off without VMCLEARing the list, so `vmx: "off"` with VMCSes listed is the window of R2
  // case (ii) (CR4.VMXE still set) or (iii) (cleared). Only Intel CPUs have VMCSes.
  if (vendor === 'amd' && valid(m.loadedVmcs) && m.loadedVmcs.value > 0) {
    report(m.loadedVmcs.loc, 'loaded VMCSes need an Intel CPU (machine.vendor is "amd")');
  }
  // SDM, VMXON: #UD if CR4.VMXE = 0; and CR4.VMXE is fixed to 1 while in VMX operation.
  if (valid(m.vmx, m.cr4Vmxe) && m.vmx.value === 'root' && !m.cr4Vmxe.value) {
    report(blame(m.cr4Vmxe, m.vmx), 'a CPU in VMX root must have CR4.VMXE set (VMXON #UDs with CR4.VMXE=0)');
  }
  // APM Vol. 3, CLGI: #UD if EFER.SVME = 0. (On Intel there is no GIF to clear: said below instead.)
  if (vendor !== 'intel' && valid(m.gif, m.svme) && !m.gif.value && !m.svme.value) {
    report(blame(m.gif, m.svme), 'a CPU with GIF clear must have EFER.SVME set (svme: true; CLGI #UDs without EFER.SVME)');
  }
  if (vendor === 'amd') {
    if (valid(m.vmx) && m.vmx.value === 'root') report(m.vmx.loc, 'VMX root needs an Intel CPU (machine.vendor is "amd")');
    // APM Vol. 2, CR4: bit 13 is reserved on AMD processors, and MOV to CR4 setting it #GPs.
    if (valid(m.cr4Vmxe) && m.cr4Vmxe.value && m.cr4Vmxe.level > 0) {
      report(m.cr4Vmxe.loc, 'CR4.VMXE needs an Intel CPU (machine.vendor is "amd"; the bit is reserved on AMD)');
    }
  } else if (vendor === 'intel') {
    if (valid(m.svme) && m.svme.value) report(m.svme.loc, 'EFER.SVME needs an AMD CPU (machine.vendor is "intel")');
    if (valid(m.gif) && !m.gif.value) report(m.gif.loc, 'GIF can only be cleared on an AMD CPU (machine.vendor is "intel")');
  }
}

function values(m: Merged): FullInit {
  return {
    vmx: m.vmx.value,
    loadedVmcs: m.loadedVmcs.value,
    if: m.if.value,
    svme: m.svme.value,
    gif: m.gif.value,
    cr4Vmxe: m.cr4Vmxe.value,
  };
}

// Canonical decimal only: "07" or "+7" would let two keys name one CPU.
const CPU_KEY = /^(0|[1-9][0-9]*)$/;

/**
 * The `initial` section, merged into one entry per CPU. `cpus` and `vendor` are undefined when the
 * machine section gave no valid value for them; the checks that need them are then skipped, and the
 * result is only meaningful if no problem was reported.
 */
export function readInitial(field: Field | undefined, cpus: number | undefined, vendor: Vendor | undefined, out: Problems): FullInit[] {
  let all: Given = {};
  const own = new Map<number, Given>();
  const fields = field === undefined ? new Map<string, Field>() : readObject(field, ['all', 'cpus'], out);
  if (fields === undefined) return [];

  const allField = fields.get('all');
  if (allField !== undefined) all = readCpuInit(allField, 1, out) ?? {};

  const cpusField = fields.get('cpus');
  const entries = cpusField === undefined ? [] : (readEntries(cpusField, out) ?? []);
  for (const { key, field: entry } of entries) {
    if (!CPU_KEY.test(key)) {
      out.add(entry.loc, `${shown(key)} is not a CPU id (expected a decimal integer)`);
      continue;
    }
    const id = Number(key);
    if (cpus !== undefined && id >= cpus) {
      out.add(entry.loc, cpuOutOfRange(key, cpus));
      continue;
    }
    const given = readCpuInit(entry, 2, out);
    if (given !== undefined) own.set(id, given);
  }

  // Every CPU without an entry of its own has the same state: check it once.
  const shared = merge(all, {});
  if (cpus === undefined || own.size < cpus) checkMerged(shared, vendor, out);
  for (const given of own.values()) checkMerged(merge(all, given), vendor, out);

  if (cpus === undefined) return [];
  const result: FullInit[] = [];
  for (let id = 0; id < cpus; id++) {
    const given = own.get(id);
    result.push(values(given === undefined ? shared : merge(all, given)));
  }
  return result;
}
