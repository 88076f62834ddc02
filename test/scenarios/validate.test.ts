import fc from 'fast-check';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.js';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord } from '../../src/trace/records.js';
import { readTrace } from '../../src/trace/file.js';
import { describe, expect, it } from 'vitest';
import type { Vendor } from '../../src/hw/cpu-state.js';
import { syntaxErrorOffset } from '../../src/scenarios/json-text.js';
import { fieldPath, indexPath } from '../../src/scenarios/reader.js';
import type { CpuInit, ScriptAction } from '../../src/scenarios/types.js';
import {
  formatError,
  parseScenarioText,
  validateScenario,
  type ScenarioError,
  type ValidationContext,
  type ValidationResult,
} from '../../src/scenarios/validate.js';

// A small stand-in for the real kernel presets, fix switches and physical CPU chart.
const STATE_PATHS = ['task.idle', 'disableVirt.afterVmxoff'];
const PRESETS = ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'];
const SWITCHES = ['eat-vmxoff-faults', 'emergency-virt-callback', 'crash-vmclear'];
const ctx: ValidationContext = {
  presets: PRESETS,
  switches: SWITCHES,
  isKnownState: (name) => STATE_PATHS.some((p) => p === name || p.endsWith(`.${name}`)),
  stateHint: (name) => STATE_PATHS.filter((p) => p.toLowerCase().includes(name.slice(0, 5).toLowerCase())),
};
const ACTIONS: ScriptAction[] = ['reboot', 'emergency-restart', 'panic', 'nmi-panic', 'irqs-off', 'irqs-on', 'stall', 'smi'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Raw = Record<string, unknown>;

/** The smallest valid file: four Intel CPUs, everything else defaulted. */
const minimal = (extra: Raw = {}): Raw => ({ name: 'test', machine: { cpus: 4 }, ...extra });

function errorsOf(raw: unknown): ScenarioError[] {
  const result = validateScenario(raw, 'test', ctx);
  return result.ok ? [] : result.errors;
}

function scenarioOf(raw: unknown) {
  const result = validateScenario(raw, 'test', ctx);
  if (!result.ok) throw new Error(`expected a valid scenario, got ${JSON.stringify(result.errors)}`);
  return result.scenario;
}

describe('malformed JSON', () => {
  it('names the line and column from the position V8 reports', () => {
    const result = parseScenarioText('{\n  "name": "x",\n  machine: {}\n}', 'bad.json', ctx);
    expect(result).toEqual({
      ok: false,
      errors: [{ path: '', message: 'malformed JSON: line 3, column 3: Expected double-quoted property name' }],
    });
  });

  it('finds the position itself when V8 only quotes the text ("Unexpected token")', () => {
    const result = parseScenarioText('{\n  "script": [1,\n  ]\n}', 'bad.json', ctx);
    expect(result).toEqual({ ok: false, errors: [{ path: '', message: "malformed JSON: line 3, column 3: Unexpected token ']'" }] });
  });

  it('points past the last character when the text ends early', () => {
    const result = parseScenarioText('{"name": "x",\n"machine": tr', 'bad.json', ctx);
    expect(result).toEqual({ ok: false, errors: [{ path: '', message: 'malformed JSON: line 2, column 14: Unexpected end of JSON input' }] });
  });

  it('reports an empty file', () => {
    expect(parseScenarioText('', 'empty.json', ctx)).toEqual({
      ok: false,
      errors: [{ path: '', message: 'malformed JSON: line 1, column 1: Unexpected end of JSON input' }],
    });
  });

  it('accepts a byte-order mark and names the scenario after the file', () => {
    const result = parseScenarioText('\uFEFF{"name": "x", "machine": {"cpus": 1}}', 'dir/sub\\t5-race.json', ctx);
    expect(result.ok && result.scenario.id).toBe('t5-race');
  });
});

describe('one test per kind of error, with its exact path and message', () => {
  it('unknown action', () => {
    expect(errorsOf(minimal({ script: [{ cpu: 0, do: 'halt', at: 0 }] }))).toEqual([
      {
        path: 'script[0].do',
        message: "unknown action 'halt' (known: reboot, emergency-restart, panic, nmi-panic, irqs-off, irqs-on, stall, smi, vsock-send)",
      },
    ]);
  });

  it('CPU id out of range in a step', () => {
    expect(errorsOf(minimal({ script: [{ cpu: 0, do: 'smi', at: 0 }, { cpu: 4, do: 'reboot', at: 5 }] }))).toEqual([
      { path: 'script[1].cpu', message: 'CPU 4 is out of range (the machine has 4 CPUs: 0-3)' },
    ]);
  });

  it('CPU id out of range in when.cpu', () => {
    const raw = minimal({ script: [{ cpu: 1, do: 'panic', when: { cpu: 9, enters: 'task.idle' } }] });
    expect(errorsOf(raw)).toEqual([{ path: 'script[0].when.cpu', message: 'CPU 9 is out of range (the machine has 4 CPUs: 0-3)' }]);
  });

  it('CPU id out of range in initial.cpus, and on a one-CPU machine', () => {
    expect(errorsOf(minimal({ initial: { cpus: { '7': { if: false } } } }))).toEqual([
      { path: 'initial.cpus.7', message: 'CPU 7 is out of range (the machine has 4 CPUs: 0-3)' },
    ]);
    expect(errorsOf({ name: 'x', machine: { cpus: 1 }, script: [{ cpu: 1, do: 'stall', at: 0 }] })).toEqual([
      { path: 'script[0].cpu', message: 'CPU 1 is out of range (the machine has 1 CPU: 0)' },
    ]);
  });

  it('initial.cpus keys that are not CPU ids, with odd keys quoted in the path', () => {
    expect(errorsOf(minimal({ initial: { cpus: { '07': {}, cpu1: {}, 'a.b': {}, '': {}, '-1': {} } } }))).toEqual([
      { path: 'initial.cpus.07', message: "'07' is not a CPU id (expected a decimal integer)" },
      { path: 'initial.cpus.cpu1', message: "'cpu1' is not a CPU id (expected a decimal integer)" },
      { path: 'initial.cpus["a.b"]', message: "'a.b' is not a CPU id (expected a decimal integer)" },
      { path: 'initial.cpus[""]', message: "'' is not a CPU id (expected a decimal integer)" },
      { path: 'initial.cpus.-1', message: "'-1' is not a CPU id (expected a decimal integer)" },
    ]);
  });

  it('CPU ids are only checked for form when machine.cpus is itself invalid', () => {
    const raw = {
      name: 'x',
      machine: { cpus: 0 },
      initial: { cpus: { '100': {}, x: {} } },
      script: [{ cpu: 100, do: 'smi', when: { cpu: -1, enters: 'idle' } }],
    };
    expect(errorsOf(raw)).toEqual([
      { path: 'machine.cpus', message: 'expected an integer from 1 to 8192' },
      { path: 'initial.cpus.x', message: "'x' is not a CPU id (expected a decimal integer)" },
      { path: 'script[0].when.cpu', message: 'expected a CPU id (a non-negative integer)' },
    ]);
  });

  it('unknown kernel switch, a switch listed twice, and one both fixed and not', () => {
    const raw = minimal({ kernel: { fix: ['eat-vmxoff-faults', 'eat-vmxoff-fault', 'crash-vmclear', 'crash-vmclear'], noFix: ['crash-vmclear'] } });
    expect(errorsOf(raw)).toEqual([
      { path: 'kernel.fix[1]', message: "unknown kernel switch 'eat-vmxoff-fault' (see `shootdown kernels`)" },
      { path: 'kernel.fix[3]', message: "'crash-vmclear' is listed twice (first at kernel.fix[2])" },
      { path: 'kernel.noFix[0]', message: "'crash-vmclear' is also in kernel.fix[2] (a switch cannot be both on and off)" },
    ]);
  });

  it('unknown preset', () => {
    expect(errorsOf(minimal({ kernel: { preset: 'v6.7' } }))).toEqual([
      { path: 'kernel.preset', message: "unknown preset 'v6.7' (known: v5.10, v5.11, v6.2, v6.6, mainline)" },
    ]);
  });

  it('unknown field, at the top and nested, listing the fields that exist there', () => {
    const raw = minimal({ scirpt: [], options: { reset: { method: 'cf9', force: true } } });
    expect(errorsOf(raw)).toEqual([
      { path: 'scirpt', message: 'unknown field (expected one of: name, description, machine, initial, kernel, options, script, vms)' },
      { path: 'options.reset.force', message: 'unknown field (expected one of: method, initOnly)' },
    ]);
    expect(errorsOf(minimal({ script: [{ cpu: 0, do: 'smi', at: 0, after: 3 }] }))).toEqual([
      { path: 'script[0].after', message: 'unknown field (expected one of: cpu, do, at, when, context, message, send)' },
    ]);
    expect(errorsOf(minimal({ initial: { all: { vmcs: 1 } } }))).toEqual([
      { path: 'initial.all.vmcs', message: 'unknown field (expected one of: vmx, loadedVmcs, if, svme, gif, cr4Vmxe)' },
    ]);
  });

  it.each<[string, Raw, string, string]>([
    ['name not a string', { name: 3 }, 'name', 'expected a non-empty string'],
    ['empty name', { name: '' }, 'name', 'expected a non-empty string'],
    ['description', { description: null }, 'description', 'expected a string'],
    ['machine', { machine: [4] }, 'machine', 'expected an object'],
    ['cpus as a string', { machine: { cpus: '4' } }, 'machine.cpus', 'expected an integer from 1 to 8192'],
    ['cpus fractional', { machine: { cpus: 2.5 } }, 'machine.cpus', 'expected an integer from 1 to 8192'],
    ['cpus too many', { machine: { cpus: 8193 } }, 'machine.cpus', 'expected an integer from 1 to 8192'],
    ['vendor', { machine: { cpus: 4, vendor: 'via' } }, 'machine.vendor', "unknown vendor 'via' (known: intel, amd)"],
    ['vendor type', { machine: { cpus: 4, vendor: 1 } }, 'machine.vendor', 'expected one of: intel, amd'],
    ['initial', { initial: [] }, 'initial', 'expected an object'],
    ['initial.cpus', { initial: { cpus: [{}] } }, 'initial.cpus', 'expected an object'],
    ['vmx', { initial: { all: { vmx: 'nonroot' } } }, 'initial.all.vmx', "unknown VMX state 'nonroot' (known: off, root)"],
    ['loadedVmcs', { initial: { cpus: { '1': { vmx: 'root', loadedVmcs: 65 } } } }, 'initial.cpus.1.loadedVmcs', 'expected an integer from 0 to 64'],
    ['if', { initial: { all: { if: 0 } } }, 'initial.all.if', 'expected true or false'],
    ['kernel', { kernel: 'v6.6' }, 'kernel', 'expected an object'],
    ['fix', { kernel: { fix: 'crash-vmclear' } }, 'kernel.fix', 'expected an array'],
    ['fix element', { kernel: { noFix: [null] } }, 'kernel.noFix[0]', 'expected a string'],
    ['options', { options: true }, 'options', 'expected an object'],
    ['kdump', { options: { kdump: 'yes' } }, 'options.kdump', 'expected true or false'],
    ['panicTimeout', { options: { panicTimeout: -3601 } }, 'options.panicTimeout', 'expected an integer from -3600 to 3600'],
    ['stepNs', { options: { stepNs: 0 } }, 'options.stepNs', 'expected an integer from 1 to 1000000000'],
    ['maxSteps', { options: { maxSteps: 1e8 + 1 } }, 'options.maxSteps', 'expected an integer from 1 to 100000000'],
    ['reset', { options: { reset: 'acpi' } }, 'options.reset', 'expected an object'],
    ['reset.method', { options: { reset: { method: 'pci' } } }, 'options.reset.method', "unknown reset method 'pci' (known: acpi, kbd, efi, bios, cf9, triple)"],
    ['latencyNs shape', { options: { latencyNs: [1, 2, 3] } }, 'options.latencyNs', 'expected [min, max]'],
    ['latencyNs type', { options: { latencyNs: 5 } }, 'options.latencyNs', 'expected [min, max]'],
    ['latencyNs element', { options: { latencyNs: [-1, 5] } }, 'options.latencyNs[0]', 'expected an integer from 0 to 1000000000'],
    ['latencyNs order', { options: { latencyNs: [500, 100] } }, 'options.latencyNs[1]', 'the maximum (100) is less than the minimum (500)'],
    ['script', { script: {} }, 'script', 'expected an array'],
    ['step', { script: ['reboot'] }, 'script[0]', 'expected an object'],
    ['step cpu', { script: [{ cpu: '0', do: 'smi', at: 0 }] }, 'script[0].cpu', 'expected a CPU id (a non-negative integer)'],
    ['step do', { script: [{ cpu: 0, do: 3, at: 0 }] }, 'script[0].do', 'expected one of: reboot, emergency-restart, panic, nmi-panic, irqs-off, irqs-on, stall, smi, vsock-send'],
    ['at', { script: [{ cpu: 0, do: 'smi', at: -1 }] }, 'script[0].at', 'expected an integer from 0 to 9007199254740991'],
    ['when', { script: [{ cpu: 0, do: 'smi', when: 'task.idle' }] }, 'script[0].when', 'expected an object'],
    ['enters', { script: [{ cpu: 0, do: 'smi', when: { cpu: 0, enters: '' } }] }, 'script[0].when.enters', 'expected a non-empty string'],
    ['context', { script: [{ cpu: 0, do: 'panic', at: 0, context: 'smm' }] }, 'script[0].context', "unknown context 'smm' (known: task, irq, nmi)"],
    ['message', { script: [{ cpu: 0, do: 'panic', at: 0, message: 42 }] }, 'script[0].message', 'expected a string'],
  ])('wrong type or value: %s', (_, patch, path, message) => {
    expect(errorsOf(minimal(patch))).toEqual([{ path, message }]);
  });

  it('missing required fields are reported where they are missing from', () => {
    expect(errorsOf({})).toEqual([
      { path: '', message: "missing required field 'name' (expected a non-empty string)" },
      { path: '', message: "missing required field 'machine' (expected an object with 'cpus')" },
    ]);
    expect(errorsOf({ name: 'x', machine: {} })).toEqual([
      { path: 'machine', message: "missing required field 'cpus' (expected an integer from 1 to 8192)" },
    ]);
    expect(errorsOf(minimal({ script: [{ at: 0 }, { cpu: 0, do: 'smi', when: {} }] }))).toEqual([
      { path: 'script[0]', message: "missing required field 'cpu' (expected a CPU id (a non-negative integer))" },
      {
        path: 'script[0]',
        message: "missing required field 'do' (expected one of: reboot, emergency-restart, panic, nmi-panic, irqs-off, irqs-on, stall, smi, vsock-send)",
      },
      { path: 'script[1].when', message: "missing required field 'cpu' (expected a CPU id (a non-negative integer))" },
      { path: 'script[1].when', message: "missing required field 'enters' (expected the name of a physical CPU state)" },
    ]);
  });

  it('a step with both at and when, and one with neither', () => {
    const raw = minimal({ script: [{ cpu: 0, do: 'smi', at: 5, when: { cpu: 1, enters: 'idle' } }, { cpu: 0, do: 'smi' }] });
    expect(errorsOf(raw)).toEqual([
      { path: 'script[0]', message: "has both 'at' and 'when' (expected exactly one)" },
      { path: 'script[1]', message: "missing 'at' or 'when' (expected exactly one)" },
    ]);
  });

  it('context and message only on the actions that take them', () => {
    const raw = minimal({
      script: [
        { cpu: 0, do: 'nmi-panic', at: 0, context: 'nmi', message: 'watchdog' },
        { cpu: 1, do: 'emergency-restart', at: 0, context: 'irq', message: 'SysRq' },
      ],
    });
    expect(errorsOf(raw)).toEqual([
      { path: 'script[0].context', message: "only allowed when 'do' is panic or emergency-restart" },
      { path: 'script[1].message', message: "only allowed when 'do' is panic or nmi-panic" },
    ]);
  });

  it('unknown trigger state, with and without suggestions', () => {
    const raw = minimal({
      script: [
        { cpu: 0, do: 'smi', when: { cpu: 1, enters: 'afterVmxof' } },
        { cpu: 0, do: 'smi', when: { cpu: 1, enters: 'zzz' } },
        { cpu: 0, do: 'smi', when: { cpu: 1, enters: 'afterVmxoff' } },
      ],
    });
    expect(errorsOf(raw)).toEqual([
      { path: 'script[0].when.enters', message: "no state named 'afterVmxof' in the physical CPU machine (did you mean: disableVirt.afterVmxoff?)" },
      { path: 'script[1].when.enters', message: "no state named 'zzz' in the physical CPU machine" },
    ]);
  });

  it('values in messages are escaped and cut short', () => {
    const long = `x\n${'y'.repeat(100)}`;
    expect(errorsOf(minimal({ kernel: { preset: long } }))[0]?.message).toBe(
      `unknown preset 'x\\n${'y'.repeat(54)}...' (known: v5.10, v5.11, v6.2, v6.6, mainline)`,
    );
  });
});

describe("virtual time: the run's clock stays a safe integer", () => {
  const tooLate = (raw: Raw) => {
    const [e] = errorsOf(raw);
    const most = /at most (\d+)/.exec(e?.message ?? '');
    return { error: e, most: most ? Number(most[1]) : NaN };
  };

  it('a script step so late that the run could take the clock past 2^53−1 ns is refused at its `at`, naming the largest allowed', () => {
    const raw = minimal({ options: { panicTimeout: 3600 }, script: [{ cpu: 0, do: 'smi', at: 5 }, { cpu: 1, do: 'panic', at: Number.MAX_SAFE_INTEGER }] });
    const { error, most } = tooLate(raw);
    expect(error?.path).toBe('script[1].at');
    expect(error?.message).toMatch(/leaves too little virtual time for the run/);
    expect(most).toBeLessThan(Number.MAX_SAFE_INTEGER);
    expect(errorsOf(minimal({ options: { panicTimeout: 3600 }, script: [{ cpu: 1, do: 'panic', at: most }] }))).toEqual([]);
    expect(errorsOf(minimal({ options: { panicTimeout: 3600 }, script: [{ cpu: 1, do: 'panic', at: most + 1 }] }))[0]?.path).toBe('script[0].at');
  });

  it('a step budget whose steps alone could pass 2^53−1 ns is refused at options.maxSteps', () => {
    const { error, most } = tooLate(minimal({ options: { maxSteps: 1e8, stepNs: 1e9 } }));
    expect(error?.path).toBe('options.maxSteps');
    expect(error?.message).toMatch(/could take the run's clock past 9007199254740991 ns/);
    expect(errorsOf(minimal({ options: { maxSteps: most, stepNs: 1e9 } }))).toEqual([]);
    // The latency counts as a step does.
    expect(tooLate(minimal({ options: { maxSteps: 1e8, latencyNs: [0, 1e9] } })).error?.path).toBe('options.maxSteps');
  });

  it('the latest `at` allowed runs to a trace the reader takes back (the panic timeout fires after it)', () => {
    const raw = (at: number) => ({ name: 'late', machine: { cpus: 2 }, options: { panicTimeout: 3600 }, script: [{ cpu: 0, do: 'panic', at }] });
    const first = validateScenario(raw(Number.MAX_SAFE_INTEGER), 'late', validationContext);
    const most = Number(/at most (\d+)/.exec(first.ok ? '' : (first.errors[0]?.message ?? ''))?.[1]);
    const r = validateScenario(raw(most), 'late', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const lines: string[] = [];
    const result = runScenario(r.scenario, { seed: 1, onRecord: (rec) => lines.push(formatRecord(rec)) });
    expect(result.outcome.end).toBe('reset');
    const read = readTrace(lines.join('\n') + '\n');
    expect(read.ok ? 'ok' : read.error).toBe('ok');
  });
});

describe('cross-field rules on the merged state of each CPU', () => {
  const amd = (initial: Raw): Raw => ({ name: 'x', machine: { cpus: 4, vendor: 'amd' }, initial });

  it.each<[string, Raw, string, string]>([
    ['loaded VMCSes on AMD', amd({ cpus: { '2': { loadedVmcs: 1 } } }), 'initial.cpus.2.loadedVmcs', 'loaded VMCSes need an Intel CPU (machine.vendor is "amd")'],
    ['VMX root with CR4.VMXE clear', minimal({ initial: { all: { vmx: 'root', cr4Vmxe: false } } }), 'initial.all.cr4Vmxe', 'a CPU in VMX root must have CR4.VMXE set (VMXON #UDs with CR4.VMXE=0)'],
    ['override enters VMX root over a clear CR4.VMXE', minimal({ initial: { all: { cr4Vmxe: false }, cpus: { '0': { vmx: 'root' } } } }), 'initial.cpus.0.vmx', 'a CPU in VMX root must have CR4.VMXE set (VMXON #UDs with CR4.VMXE=0)'],
    ['VMX on AMD', amd({ cpus: { '1': { vmx: 'root' } } }), 'initial.cpus.1.vmx', 'VMX root needs an Intel CPU (machine.vendor is "amd")'],
    ['CR4.VMXE on AMD', amd({ all: { cr4Vmxe: true } }), 'initial.all.cr4Vmxe', 'CR4.VMXE needs an Intel CPU (machine.vendor is "amd"; the bit is reserved on AMD)'],
    ['SVME on Intel', minimal({ initial: { all: { svme: true } } }), 'initial.all.svme', 'EFER.SVME needs an AMD CPU (machine.vendor is "intel")'],
    ['GIF clear on Intel', minimal({ initial: { cpus: { '0': { gif: false } } } }), 'initial.cpus.0.gif', 'GIF can only be cleared on an AMD CPU (machine.vendor is "intel")'],
    ['GIF clear without SVME', amd({ cpus: { '2': { gif: false } } }), 'initial.cpus.2.gif', 'a CPU with GIF clear must have EFER.SVME set (svme: true; CLGI #UDs without EFER.SVME)'],
    ['override clears SVME under a clear GIF', amd({ all: { svme: true, gif: false }, cpus: { '1': { svme: false } } }), 'initial.cpus.1.svme', 'a CPU with GIF clear must have EFER.SVME set (svme: true; CLGI #UDs without EFER.SVME)'],
  ])('%s', (_, raw, path, message) => {
    expect(errorsOf(raw)).toEqual([{ path, message }]);
  });

  it('a rule broken by `all` on every CPU is reported once', () => {
    expect(errorsOf({ name: 'x', machine: { cpus: 8192, vendor: 'amd' }, initial: { all: { loadedVmcs: 3 } } })).toEqual([
      { path: 'initial.all.loadedVmcs', message: 'loaded VMCSes need an Intel CPU (machine.vendor is "amd")' },
    ]);
  });

  it('VMX off with VMCSes still listed is the window after VMXOFF (R2 cases ii and iii): accepted', () => {
    // cpu_emergency_vmxoff() (v5.10–v6.2) turns VMX off without VMCLEARing loaded_vmcss_on_cpu.
    const raw = { name: 'x', machine: { cpus: 2 }, initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '0': { vmx: 'off', cr4Vmxe: true }, '1': { vmx: 'off' } } } };
    expect(errorsOf(raw)).toEqual([]);
    expect(scenarioOf(raw).initial.map((c) => [c.vmx, c.cr4Vmxe, c.loadedVmcs])).toEqual([
      ['off', true, 1],
      ['off', false, 1],
    ]);
  });

  it('`all` that every CPU overrides is not held against the file', () => {
    const raw = { name: 'x', machine: { cpus: 2 }, initial: { all: { loadedVmcs: 3 }, cpus: { '0': { vmx: 'root' }, '1': { vmx: 'root' } } } };
    expect(scenarioOf(raw).initial.map((c) => c.loadedVmcs)).toEqual([3, 3]);
  });

  it('an invalid field is reported once, not again by the rules that read it', () => {
    expect(errorsOf(minimal({ initial: { all: { vmx: 'on', loadedVmcs: 2 } } }))).toEqual([
      { path: 'initial.all.vmx', message: "unknown VMX state 'on' (known: off, root)" },
    ]);
  });

  it('vendor rules are skipped when the vendor itself is invalid', () => {
    expect(errorsOf({ name: 'x', machine: { cpus: 1, vendor: 'arm' }, initial: { all: { svme: true, vmx: 'root' } } })).toEqual([
      { path: 'machine.vendor', message: "unknown vendor 'arm' (known: intel, amd)" },
    ]);
  });
});

describe('normalisation', () => {
  it('fills every default', () => {
    expect(scenarioOf({ name: 'n', machine: { cpus: 2 } })).toEqual({
      id: 'test',
      name: 'n',
      description: '',
      machine: { cpus: 2, vendor: 'intel' },
      initial: [
        { vmx: 'off', loadedVmcs: 0, if: true, svme: false, gif: true, cr4Vmxe: false },
        { vmx: 'off', loadedVmcs: 0, if: true, svme: false, gif: true, cr4Vmxe: false },
      ],
      kernel: { preset: 'mainline', fix: [], noFix: [] },
      options: {
        kdump: false,
        kdumpBringsUpAps: true,
        crashKexecPostNotifiers: false,
        panicTimeout: 0,
        reset: { method: 'acpi', initOnly: false },
        kvmLoaded: true,
        debugList: true,
        rebootForce: false,
        panicOnOops: false,
        stepNs: 10,
        latencyNs: [100, 1000],
        maxSteps: 1_000_000,
      },
      script: [],
      vcpus: [],
      vsock: [],
    });
  });

  it('merges defaults, then `all`, then each CPU field by field; CR4.VMXE follows VMX unless given', () => {
    const raw = {
      name: 'n',
      machine: { cpus: 3 },
      initial: {
        all: { vmx: 'root', loadedVmcs: 2, if: false },
        cpus: { '1': { loadedVmcs: 0, vmx: 'off' }, '2': { cr4Vmxe: true, vmx: 'off', loadedVmcs: 0, if: true } },
      },
    };
    expect(scenarioOf(raw).initial).toEqual([
      { vmx: 'root', loadedVmcs: 2, if: false, svme: false, gif: true, cr4Vmxe: true },
      { vmx: 'off', loadedVmcs: 0, if: false, svme: false, gif: true, cr4Vmxe: false },
      { vmx: 'off', loadedVmcs: 0, if: true, svme: false, gif: true, cr4Vmxe: true },
    ]);
  });

  it('AMD CPUs stopped between CLGI and STGI', () => {
    const raw = { name: 'n', machine: { cpus: 2, vendor: 'amd' }, initial: { all: { svme: true }, cpus: { '1': { gif: false } } } };
    expect(scenarioOf(raw).initial.map((c) => [c.svme, c.gif])).toEqual([
      [true, true],
      [true, false],
    ]);
  });

  it('keeps the script in file order with each step’s index, trigger, context and message', () => {
    const raw = minimal({
      description: 'd',
      kernel: { preset: 'v6.6', fix: ['crash-vmclear'], noFix: ['eat-vmxoff-faults'] },
      options: { kdump: true, panicTimeout: -1, reset: { method: 'cf9' }, latencyNs: [0, 0] },
      script: [
        { cpu: 3, do: 'irqs-off', at: 0 },
        { do: 'panic', cpu: 0, when: { cpu: 3, enters: 'idle' }, context: 'nmi', message: 'hard LOCKUP' },
        { cpu: 1, do: 'emergency-restart', at: 500, context: 'irq' },
        { cpu: 2, do: 'nmi-panic', at: 7, message: '' },
      ],
    });
    const scenario = scenarioOf(raw);
    expect(scenario.description).toBe('d');
    expect(scenario.kernel).toEqual({ preset: 'v6.6', fix: ['crash-vmclear'], noFix: ['eat-vmxoff-faults'] });
    expect(scenario.options).toMatchObject({ kdump: true, panicTimeout: -1, reset: { method: 'cf9', initOnly: false }, latencyNs: [0, 0] });
    expect(scenario.script).toEqual([
      { index: 0, cpu: 3, action: 'irqs-off', trigger: { kind: 'at', timeNs: 0 }, context: 'task', message: 'shootdown scenario' },
      { index: 1, cpu: 0, action: 'panic', trigger: { kind: 'enters', cpu: 3, state: 'idle', actor: 'cpu' }, context: 'nmi', message: 'hard LOCKUP' },
      { index: 2, cpu: 1, action: 'emergency-restart', trigger: { kind: 'at', timeNs: 500 }, context: 'irq', message: 'shootdown scenario' },
      { index: 3, cpu: 2, action: 'nmi-panic', trigger: { kind: 'at', timeNs: 7 }, context: 'task', message: '' },
    ]);
  });

  it('every scenario gets its own copy of the defaults', () => {
    const a = scenarioOf(minimal());
    a.options.latencyNs[0] = 5;
    a.options.reset.method = 'kbd';
    expect(scenarioOf(minimal()).options).toMatchObject({ latencyNs: [100, 1000], reset: { method: 'acpi' } });
  });
});

describe('several errors at once', () => {
  it('are all reported, in the order they appear in the file', () => {
    const text = `{
      "script": [{ "cpu": 8, "do": "explode", "at": 1 }],
      "name": "",
      "machine": { "cpus": 4, "vendor": "amd" },
      "initial": { "cpus": { "1": { "vmx": "root" } } },
      "kernel": { "preset": "v4.19", "fix": ["nope"] },
      "options": { "stepNs": 0 }
    }`;
    const result = parseScenarioText(text, 'many.json', ctx);
    expect(result.ok ? [] : result.errors.map((e) => formatError('many.json', e))).toEqual([
      'many.json: script[0].cpu: CPU 8 is out of range (the machine has 4 CPUs: 0-3)',
      "many.json: script[0].do: unknown action 'explode' (known: reboot, emergency-restart, panic, nmi-panic, irqs-off, irqs-on, stall, smi, vsock-send)",
      'many.json: name: expected a non-empty string',
      'many.json: initial.cpus.1.vmx: VMX root needs an Intel CPU (machine.vendor is "amd")',
      "many.json: kernel.preset: unknown preset 'v4.19' (known: v5.10, v5.11, v6.2, v6.6, mainline)",
      "many.json: kernel.fix[0]: unknown kernel switch 'nope' (see `shootdown kernels`)",
      'many.json: options.stepNs: expected an integer from 1 to 1000000000',
    ]);
  });
});

describe('hostile input', () => {
  it('formats errors with and without a path', () => {
    expect(formatError('a.json', { path: '', message: 'm' })).toBe('a.json: m');
    expect(formatError('a.json', { path: 'machine.cpus', message: 'm' })).toBe('a.json: machine.cpus: m');
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', [{ name: 'x', machine: { cpus: 1 } }]],
    ['a string', 'name'],
    ['a number', 42],
    ['undefined', undefined],
  ])('the whole file is %s', (_, raw) => {
    expect(errorsOf(raw)).toEqual([{ path: '', message: 'expected an object' }]);
  });

  it('prototype keys are fields like any other, and inherited fields do not count', () => {
    const text = '{"name": "x", "machine": {"cpus": 2, "constructor": 1}, "__proto__": {"name": ""}, "initial": {"cpus": {"__proto__": {}, "toString": {}}}}';
    expect(parseScenarioText(text, 'p.json', ctx)).toEqual({
      ok: false,
      errors: [
        { path: 'machine.constructor', message: 'unknown field (expected one of: cpus, vendor)' },
        { path: '__proto__', message: 'unknown field (expected one of: name, description, machine, initial, kernel, options, script, vms)' },
        { path: 'initial.cpus.__proto__', message: "'__proto__' is not a CPU id (expected a decimal integer)" },
        { path: 'initial.cpus.toString', message: "'toString' is not a CPU id (expected a decimal integer)" },
      ],
    });
    expect(errorsOf(Object.create({ name: 'x', machine: { cpus: 1 } }))).toHaveLength(2);
  });

  it('a getter that throws becomes an error, not an exception', () => {
    const raw = Object.defineProperty({}, 'name', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(errorsOf(raw)).toEqual([{ path: '', message: 'could not read the scenario: boom' }]);
  });
});

// ---- Property tests ----

/** Every path in a value, as the validator writes them, with the value there. */
function pathsOf(value: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  out.set(path, value);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, indexPath(path, i), out));
  else if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) pathsOf((value as Raw)[key], fieldPath(path, key), out);
  }
  return out;
}

/** Like `pathsOf`, with the route to each value, so that it can be replaced. */
function nodesOf(value: unknown, route: (string | number)[] = [], path = ''): { route: (string | number)[]; path: string; value: unknown }[] {
  const here = [{ route, path, value }];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => nodesOf(v, [...route, i], indexPath(path, i))));
  if (typeof value === 'object' && value !== null) {
    return here.concat(...Object.keys(value).map((k) => nodesOf((value as Raw)[k], [...route, k], fieldPath(path, k))));
  }
  return here;
}

function replaced(root: unknown, route: (string | number)[], value: unknown): unknown {
  if (route.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of route.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  parent[route[route.length - 1]!] = value;
  return copy;
}

function allPathsReal(raw: unknown, result: ValidationResult): boolean {
  if (result.ok) return true;
  const paths = pathsOf(raw);
  return result.errors.length > 0 && result.errors.every((e) => paths.has(e.path));
}

function withoutUndefined(o: Record<string, unknown>): Raw {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** A CpuInit that is consistent on its own over the defaults; `full` gives every field. */
function cpuInitArb(vendor: Vendor, full: boolean): fc.Arbitrary<CpuInit> {
  const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => (full ? arb : maybe(arb));
  const vmxArb = vendor === 'intel' ? opt(fc.constantFrom('off' as const, 'root' as const)) : opt(fc.constant('off' as const));
  return vmxArb.chain((vmx) => {
    const root = vmx === 'root';
    const amdBits = opt(fc.boolean()).chain((svme) => fc.record({ svme: fc.constant(svme), gif: opt(svme === true ? fc.boolean() : fc.constant(true)) }));
    const intelBits = fc.record({ svme: opt(fc.constant(false)), gif: opt(fc.constant(true)) });
    return fc
      .record({
        loadedVmcs: opt(root ? fc.integer({ min: 0, max: 64 }) : fc.constant(0)),
        cr4Vmxe: opt(vendor === 'amd' ? fc.constant(false) : root ? fc.constant(true) : fc.boolean()),
        if: opt(fc.boolean()),
        bits: vendor === 'amd' ? amdBits : intelBits,
      })
      .map(({ bits, ...rest }) => withoutUndefined({ vmx, ...rest, ...bits }) as CpuInit);
  });
}

const STATE_NAMES = ['task.idle', 'idle', 'afterVmxoff', 'disableVirt.afterVmxoff'];

function stepArb(cpus: number): fc.Arbitrary<Raw> {
  const cpu = fc.integer({ min: 0, max: cpus - 1 });
  return fc
    .record({
      cpu,
      do: fc.constantFrom(...ACTIONS),
      trigger: fc.oneof(
        fc.record({ at: fc.integer({ min: 0, max: 1e12 }) }),
        fc.record({ when: fc.record({ cpu, enters: fc.constantFrom(...STATE_NAMES) }) }),
      ),
      context: maybe(fc.constantFrom('task', 'irq', 'nmi')),
      message: maybe(fc.string()),
    })
    .map(({ trigger, context, message, ...step }) =>
      withoutUndefined({
        ...step,
        ...trigger,
        context: step.do === 'panic' || step.do === 'emergency-restart' ? context : undefined,
        message: step.do === 'panic' || step.do === 'nmi-panic' ? message : undefined,
      }),
    );
}

const kernelArb = fc.record(
  {
    preset: fc.constantFrom(...PRESETS),
    switches: fc.shuffledSubarray(SWITCHES).chain((s) => fc.integer({ min: 0, max: s.length }).map((k) => ({ fix: s.slice(0, k), noFix: s.slice(k) }))),
  },
  { requiredKeys: [] },
).map(({ switches, ...kernel }) => ({ ...kernel, ...switches }));

const optionsArb = fc.record(
  {
    kdump: fc.boolean(),
    kdumpBringsUpAps: fc.boolean(),
    crashKexecPostNotifiers: fc.boolean(),
    panicTimeout: fc.integer({ min: -3600, max: 3600 }),
    reset: fc.record({ method: fc.constantFrom('acpi', 'kbd', 'efi', 'bios', 'cf9', 'triple'), initOnly: fc.boolean() }, { requiredKeys: [] }),
    kvmLoaded: fc.boolean(),
    debugList: fc.boolean(),
    rebootForce: fc.boolean(),
    panicOnOops: fc.boolean(),
    stepNs: fc.integer({ min: 1, max: 1e9 }),
    latencyNs: fc.tuple(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e9 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)]),
    maxSteps: fc.integer({ min: 1, max: 1e8 }),
  },
  { requiredKeys: [] },
  // The step budget with the steps' length kept within the run's clock (2^53−1 ns, less room for the
  // script's times and the timeouts): beyond it the file is refused at maxSteps.
).map((o) => {
  if (o.maxSteps === undefined) return o;
  const perStep = Math.max(o.stepNs ?? 10, o.latencyNs?.[1] ?? 1000);
  return { ...o, maxSteps: Math.max(1, Math.min(o.maxSteps, Math.floor(8e15 / perStep))) };
});

/** Valid raw scenario files: small machines, every section and option sometimes present. */
const validRawArb: fc.Arbitrary<Raw> = fc
  .record({ cpus: fc.integer({ min: 1, max: 6 }), vendor: fc.constantFrom('intel' as const, 'amd' as const), explicitVendor: fc.boolean() })
  .chain(({ cpus, vendor, explicitVendor }) =>
    fc
      .record(
        {
          name: fc.string({ minLength: 1 }),
          description: fc.string(),
          initial: fc.record(
            {
              all: cpuInitArb(vendor, false),
              cpus: fc
                .uniqueArray(fc.integer({ min: 0, max: cpus - 1 }), { maxLength: 3 })
                .chain((ids) => fc.tuple(...ids.map((id) => cpuInitArb(vendor, true).map((init) => [String(id), init] as const))))
                .map((entries) => Object.fromEntries(entries)),
            },
            { requiredKeys: [] },
          ),
          kernel: kernelArb,
          options: optionsArb,
          script: fc.array(stepArb(cpus), { maxLength: 5 }),
        },
        { requiredKeys: ['name'] },
      )
      .map((rest) => ({ ...rest, machine: vendor === 'amd' || explicitVendor ? { cpus, vendor } : { cpus } })),
  );

type Corruption = 'wrong-type' | 'out-of-range' | 'unknown-key';

/**
 * Breaks one place in a valid file; returns the broken file and the path an error must name. Every
 * field takes exactly one JSON type, so a value of another type is always wrong; `out-of-range` picks a
 * value of the right type that no field of that type accepts.
 */
function corrupt(raw: Raw, pick: number, kind: Corruption, variant: number): { raw: unknown; path: string } {
  const nodes = nodesOf(raw);
  const node = nodes[pick % nodes.length]!;
  const { route, path, value } = node;
  const last = route[route.length - 1];
  if (kind === 'unknown-key' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return { raw: replaced(raw, route, { ...value, bogus: 1 }), path: fieldPath(path, 'bogus') };
  }
  if (kind === 'out-of-range') {
    if (typeof value === 'number') return { raw: replaced(raw, route, [1.5, -4000, 2 ** 60][variant % 3]), path };
    if (typeof value === 'string' && last !== 'description' && last !== 'message') {
      return { raw: replaced(raw, route, last === 'name' ? '' : 'bogus-value'), path };
    }
  }
  const otherType = typeof value === 'string' ? 7 : typeof value === 'number' ? '7' : typeof value === 'boolean' ? 'yes' : Array.isArray(value) ? {} : [];
  return { raw: replaced(raw, route, variant % 2 === 0 ? null : otherType), path };
}

describe('properties', () => {
  it('valid files are accepted, one entry per CPU and one step per script entry', () => {
    fc.assert(
      fc.property(validRawArb, (raw) => {
        const result = validateScenario(raw, 'gen', ctx);
        if (!result.ok) throw new Error(JSON.stringify(result.errors));
        const machine = raw.machine as { cpus: number };
        expect(result.scenario.initial).toHaveLength(machine.cpus);
        expect(result.scenario.script.map((s) => s.index)).toEqual(((raw.script as unknown[] | undefined) ?? []).map((_, i) => i));
      }),
    );
  });

  it('a valid file with one corruption is rejected with an error at the corrupted place', () => {
    fc.assert(
      fc.property(validRawArb, fc.nat(), fc.constantFrom<Corruption>('wrong-type', 'out-of-range', 'unknown-key'), fc.nat(), (valid, pick, kind, variant) => {
        const { raw, path } = corrupt(valid, pick, kind, variant);
        const result = validateScenario(raw, 'gen', ctx);
        expect(result.ok).toBe(false);
        expect(result.ok ? [] : result.errors.map((e) => e.path)).toContain(path);
        expect(allPathsReal(raw, result)).toBe(true);
      }),
    );
  });

  it('arbitrary JSON never throws, and every error names a place that exists in the input', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        expect(allPathsReal(raw, validateScenario(raw, 'gen', ctx))).toBe(true);
      }),
    );
  });

  it('a valid file with arbitrary JSON put anywhere never throws, and errors name real places', () => {
    fc.assert(
      fc.property(validRawArb, fc.nat(), fc.jsonValue() as fc.Arbitrary<Json>, (valid, pick, value) => {
        const nodes = nodesOf(valid);
        const raw = replaced(valid, nodes[pick % nodes.length]!.route, value);
        expect(allPathsReal(raw, validateScenario(raw, 'gen', ctx))).toBe(true);
      }),
    );
  });

  it('any value at all, and any text, never throws', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }), (raw) => {
        const result = validateScenario(raw, 'gen', ctx);
        expect(result.ok || result.errors.length > 0).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const result = parseScenarioText(text, 'gen.json', ctx);
        expect(result.ok || result.errors.length > 0).toBe(true);
      }),
    );
  });

  it('the offset found by scanning agrees with V8 wherever V8 gives one', () => {
    fc.assert(
      fc.property(
        fc.json().chain((text) => fc.tuple(fc.constant(text), fc.nat({ max: text.length }), fc.constantFrom('', '}', ']', ',', ':', 'x', '"', '\\', '-', '.', '0', '\n', '\u0001'))),
        ([text, at, insert]) => {
          const broken = text.slice(0, at) + insert + text.slice(at);
          let v8 = '';
          try {
            JSON.parse(broken);
            return;
          } catch (e) {
            v8 = (e as Error).message;
          }
          const position = / at position (\d+)/.exec(v8)?.[1];
          if (position !== undefined) expect(syntaxErrorOffset(broken)).toBe(Number(position));
          else if (v8.startsWith('Unexpected end')) expect(syntaxErrorOffset(broken)).toBe(broken.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('vsock scenarios: bad input is a named error, never a crash', () => {
  const VSOCK = BUILTIN_SCENARIOS.filter((b) => b.id.startsWith('T1') || b.id.startsWith('T-vsock'));
  const full: ValidationContext = validationContext;

  it('arbitrary JSON put anywhere in a vsock built-in never throws; errors name real places; what still validates runs', () => {
    expect(VSOCK.length).toBeGreaterThanOrEqual(7);
    fc.assert(
      fc.property(fc.constantFrom(...VSOCK), fc.nat(), fc.jsonValue() as fc.Arbitrary<Json>, (b, pick, value) => {
        const nodes = nodesOf(b.raw);
        const raw = replaced(b.raw, nodes[pick % nodes.length]!.route, value);
        const result = validateScenario(raw, b.id, full);
        expect(allPathsReal(raw, result)).toBe(true);
        if (result.ok) {
          const { outcome } = runScenario({ ...result.scenario, options: { ...result.scenario.options, maxSteps: 3000 } }, { seed: 1 });
          expect(outcome.end).toBeDefined();
        }
      }),
      { numRuns: 200, seed: 20261121 },
    );
  });
});
