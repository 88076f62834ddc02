/**
 * Turns an untrusted scenario file into a `Scenario`, or into every problem found in it, each naming
 * its place in the file ('script[1].when.cpu'). Hand-written so that each message says exactly what
 * was expected there. Never throws.
 */
import type { Vendor } from '../hw/cpu-state.js';
import { readInitial } from './cpu-init.js';
import { readVms } from './vms.js';
import { parseJsonText } from './json-text.js';
import {
  Problems,
  fieldLoc,
  indexLoc,
  integerExpectation,
  readArray,
  readBoolean,
  readChoice,
  readInteger,
  readObject,
  readString,
  rootLoc,
  shown,
  type Field,
} from './reader.js';
import { MAX_CPUS, MAX_PACKETS, MAX_SCENARIO_BYTES, MAX_VCPUS, MAX_VMS } from './limits.js';
import type { ResetMethod, Scenario, ScenarioOptions, ScriptStep } from './types.js';
import type { ScenarioError, ValidationContext } from './validation-context.js';
import { DEFAULT_PANIC_MESSAGE, readScript } from './script-section.js';

export { DEFAULT_PANIC_MESSAGE, type ScenarioError, type ValidationContext };

export type ValidationResult = { ok: true; scenario: Scenario } | { ok: false; errors: ScenarioError[] };

export { MAX_CPUS } from './limits.js';

const VENDORS: readonly Vendor[] = ['intel', 'amd'];
const RESET_METHODS: readonly ResetMethod[] = ['acpi', 'kbd', 'efi', 'bios', 'cf9', 'triple'];

/** What an absent option means. Frozen: each scenario gets its own copy. */
export const DEFAULT_OPTIONS: Readonly<ScenarioOptions> = Object.freeze({
  kdump: false,
  kdumpBringsUpAps: true,
  crashKexecPostNotifiers: false,
  panicTimeout: 0,
  reset: Object.freeze({ method: 'acpi', initOnly: false }),
  kvmLoaded: true,
  debugList: true,
  rebootForce: false,
  panicOnOops: false,
  stepNs: 10,
  latencyNs: Object.freeze([100, 1000]) as [number, number],
  maxSteps: 1_000_000,
} satisfies ScenarioOptions);

const CPUS_EXPECTATION = integerExpectation(1, MAX_CPUS);

interface Machine {
  cpus: number | undefined;
  vendor: Vendor | undefined;
}

function readMachine(field: Field | undefined, out: Problems): Machine {
  if (field === undefined) return { cpus: undefined, vendor: undefined };
  const fields = readObject(field, ['cpus', 'vendor'], out, { cpus: CPUS_EXPECTATION });
  if (fields === undefined) return { cpus: undefined, vendor: undefined };
  const cpus = fields.get('cpus');
  const vendor = fields.get('vendor');
  return {
    cpus: cpus === undefined ? undefined : readInteger(cpus, 1, MAX_CPUS, out),
    vendor: vendor === undefined ? 'intel' : readChoice(vendor, 'vendor', VENDORS, out),
  };
}

function readSwitchList(field: Field, ctx: ValidationContext, out: Problems): { name: string; field: Field }[] {
  const items = readArray(field, out) ?? [];
  const names: { name: string; field: Field }[] = [];
  const first = new Map<string, string>();
  for (const item of items) {
    const name = readString(item, out);
    if (name === undefined) continue;
    if (!ctx.switches.includes(name)) {
      out.add(item.loc, `unknown kernel switch ${shown(name)} (see \`shootdown kernels\`)`);
      continue;
    }
    const earlier = first.get(name);
    if (earlier !== undefined) {
      out.add(item.loc, `${shown(name)} is listed twice (first at ${earlier})`);
      continue;
    }
    first.set(name, item.loc.path);
    names.push({ name, field: item });
  }
  return names;
}

function readKernel(field: Field | undefined, ctx: ValidationContext, out: Problems): Scenario['kernel'] {
  const kernel: Scenario['kernel'] = { preset: 'mainline', fix: [], noFix: [] };
  if (field === undefined) return kernel;
  const fields = readObject(field, ['preset', 'fix', 'noFix'], out);
  if (fields === undefined) return kernel;
  const preset = fields.get('preset');
  if (preset !== undefined) kernel.preset = readChoice(preset, 'preset', ctx.presets, out) ?? kernel.preset;
  const fix = fields.get('fix');
  const noFix = fields.get('noFix');
  const fixed = fix === undefined ? [] : readSwitchList(fix, ctx, out);
  const notFixed = noFix === undefined ? [] : readSwitchList(noFix, ctx, out);
  for (const { name, field: item } of notFixed) {
    const both = fixed.find((f) => f.name === name);
    if (both !== undefined) out.add(item.loc, `${shown(name)} is also in ${both.field.loc.path} (a switch cannot be both on and off)`);
  }
  kernel.fix = fixed.map((f) => f.name);
  kernel.noFix = notFixed.map((f) => f.name);
  return kernel;
}

const OPTION_KEYS = [
  'kdump',
  'kdumpBringsUpAps',
  'crashKexecPostNotifiers',
  'panicTimeout',
  'reset',
  'kvmLoaded',
  'debugList',
  'rebootForce',
  'panicOnOops',
  'stepNs',
  'latencyNs',
  'maxSteps',
] as const satisfies readonly (keyof ScenarioOptions)[];

const BOOLEAN_OPTIONS = ['kdump', 'kdumpBringsUpAps', 'crashKexecPostNotifiers', 'kvmLoaded', 'debugList', 'rebootForce', 'panicOnOops'] as const;
/** The integer options' ranges (the library's `maxSteps` is held to this one too). */
export const INTEGER_OPTIONS = { panicTimeout: [-3600, 3600], stepNs: [1, 1e9], maxSteps: [1, 1e8] } as const;
const MAX_LATENCY_NS = 1e9;

function readReset(field: Field, out: Problems): ScenarioOptions['reset'] {
  const reset = { ...DEFAULT_OPTIONS.reset };
  const fields = readObject(field, ['method', 'initOnly'], out);
  const method = fields?.get('method');
  if (method !== undefined) reset.method = readChoice(method, 'reset method', RESET_METHODS, out) ?? reset.method;
  const initOnly = fields?.get('initOnly');
  if (initOnly !== undefined) reset.initOnly = readBoolean(initOnly, out) ?? reset.initOnly;
  return reset;
}

/** undefined after reporting a problem. */
function readLatency(field: Field, out: Problems): [number, number] | undefined {
  const items = readArray(field, out, 'expected [min, max]');
  if (items === undefined) return undefined;
  const [min, max] = items;
  if (min === undefined || max === undefined || items.length > 2) {
    out.add(field.loc, 'expected [min, max]');
    return undefined;
  }
  const lo = readInteger(min, 0, MAX_LATENCY_NS, out);
  const hi = readInteger(max, 0, MAX_LATENCY_NS, out);
  if (lo === undefined || hi === undefined) return undefined;
  if (hi < lo) out.add(max.loc, `the maximum (${hi}) is less than the minimum (${lo})`);
  return [lo, hi];
}

function readOptions(field: Field | undefined, out: Problems): ScenarioOptions {
  const options: ScenarioOptions = { ...DEFAULT_OPTIONS, reset: { ...DEFAULT_OPTIONS.reset }, latencyNs: [...DEFAULT_OPTIONS.latencyNs] };
  if (field === undefined) return options;
  const fields = readObject(field, OPTION_KEYS, out);
  if (fields === undefined) return options;
  for (const key of BOOLEAN_OPTIONS) {
    const f = fields.get(key);
    if (f !== undefined) options[key] = readBoolean(f, out) ?? options[key];
  }
  for (const key of ['panicTimeout', 'stepNs', 'maxSteps'] as const) {
    const f = fields.get(key);
    const [min, max] = INTEGER_OPTIONS[key];
    if (f !== undefined) options[key] = readInteger(f, min, max, out) ?? options[key];
  }
  const reset = fields.get('reset');
  if (reset !== undefined) options.reset = readReset(reset, out);
  const latency = fields.get('latencyNs');
  if (latency !== undefined) options.latencyNs = readLatency(latency, out) ?? options.latencyNs;
  return options;
}

/**
 * Virtual time the kernel's timeouts can add to a run, per CPU: in each execution context (task, irq,
 * nmi) a CPU waits at most once in nmi_shootdown_cpus() (1 s) and in native_stop_other_cpus() (1 s, then
 * 10 ms), and the crash kernel's boot CPU waits mdelay(10) and up to 10 s per AP (do_boot_cpu()): 16.04 s,
 * doubled for margin. The panic timeout comes once a run: only panic_cpu reaches it.
 */
const TIMEOUT_NS_PER_CPU = 32_000_000_000;

/**
 * The run's clock is a JavaScript number: past 2^53−1 ns it is no longer exact, and its trace is
 * refused when read back. Each decision moves the clock by at most a step (stepNs) or a delivery
 * (latencyNs[1]); a timer by its timeout; a scripted step is due at its `at`. Their sum, at its
 * largest, stays a safe integer, or the field that makes it too large is named.
 */
function checkClock(options: ScenarioOptions, cpus: number, script: readonly ScriptStep[], top: Map<string, Field>, out: Problems): void {
  const perStep = Math.max(options.stepNs, options.latencyNs[1]);
  const timeouts = cpus * TIMEOUT_NS_PER_CPU + Math.max(0, options.panicTimeout) * 1_000_000_000;
  const steps = options.maxSteps * perStep;
  const limit = Number.MAX_SAFE_INTEGER;
  const optionsField = top.get('options');
  if (steps + timeouts > limit) {
    // maxSteps × stepNs (or the latency) alone: the bound that must give is the step budget.
    const fields = optionsField?.value as Record<string, unknown> | undefined;
    const key = fields && 'maxSteps' in fields ? 'maxSteps' : fields && 'stepNs' in fields && options.stepNs >= options.latencyNs[1] ? 'stepNs' : 'latencyNs';
    const loc = optionsField && fields && key in fields ? fieldLoc(optionsField.loc, key, Object.keys(fields).indexOf(key)) : rootLoc;
    const most = Math.floor((limit - timeouts) / perStep);
    out.add(
      loc,
      `${options.maxSteps} steps (maxSteps) of up to ${perStep} ns each (the larger of stepNs and latencyNs[1]) could take the run's clock past ${limit} ns (2^53−1, the largest exact integer): at most ${most} steps of ${perStep} ns`,
    );
    return;
  }
  const latest = script.reduce<ScriptStep | null>((m, s) => (s.trigger.kind === 'at' && (m === null || s.trigger.timeNs > (m.trigger as { timeNs: number }).timeNs) ? s : m), null);
  if (latest === null || latest.trigger.kind !== 'at') return;
  const room = limit - steps - timeouts;
  if (latest.trigger.timeNs <= room) return;
  const scriptField = top.get('script');
  const item = Array.isArray(scriptField?.value) ? (scriptField.value[latest.index] as Record<string, unknown>) : undefined;
  const loc = scriptField && item ? fieldLoc(indexLoc(scriptField.loc, latest.index), 'at', Object.keys(item).indexOf('at')) : rootLoc;
  out.add(
    loc,
    `${latest.trigger.timeNs} leaves too little virtual time for the run: after it, the steps (maxSteps ${options.maxSteps} × ${perStep} ns) and the kernel's timeouts could take the clock past ${limit} ns (2^53−1, the largest exact integer); at most ${room} here (or lower options.maxSteps)`,
  );
}

/**
 * The most steps a run of `scenario` may take with its clock exact: what checkClock allows
 * options.maxSteps, for a budget given apart from the file (the library's `maxSteps`).
 */
export function mostExactSteps(scenario: Scenario): { steps: number; perStep: number } {
  const { options } = scenario;
  const perStep = Math.max(options.stepNs, options.latencyNs[1]);
  const timeouts = scenario.machine.cpus * TIMEOUT_NS_PER_CPU + Math.max(0, options.panicTimeout) * 1_000_000_000;
  const latest = scenario.script.reduce((m, s) => (s.trigger.kind === 'at' ? Math.max(m, s.trigger.timeNs) : m), 0);
  return { steps: Math.max(0, Math.floor((Number.MAX_SAFE_INTEGER - timeouts - latest) / perStep)), perStep };
}

const TOP_KEYS = ['name', 'description', 'machine', 'initial', 'kernel', 'options', 'script', 'vms'];

function readScenario(raw: unknown, id: string, ctx: ValidationContext, out: Problems): Scenario | undefined {
  const top = readObject({ value: raw, loc: rootLoc }, TOP_KEYS, out, {
    name: 'expected a non-empty string',
    machine: `expected an object with 'cpus'`,
  });
  if (top === undefined) return undefined;
  const nameField = top.get('name');
  const name = nameField === undefined ? undefined : readString(nameField, out, true);
  const descriptionField = top.get('description');
  const description = descriptionField === undefined ? '' : readString(descriptionField, out);
  // The machine comes first: CPU ids elsewhere are checked against it, wherever it is in the file.
  const machine = readMachine(top.get('machine'), out);
  const initial = readInitial(top.get('initial'), machine.cpus, machine.vendor, out);
  const kernel = readKernel(top.get('kernel'), ctx, out);
  const options = readOptions(top.get('options'), out);
  const beforeVms = out.count;
  const { vcpus, vsock } = readVms(top.get('vms'), machine.cpus, machine.vendor ?? 'intel', out);
  // VMs refused in part leave fewer vCPUs and devices than the file names: the script's indexes are not
  // held to those counts, or their errors would hide the VMs' own (the cause) when they come first in the file.
  const vmsRefused = out.count > beforeVms;
  // A VM runs only with the KVM module loaded (/dev/kvm): the two say opposite things.
  const optionsField = top.get('options');
  if (vcpus.length > 0 && !options.kvmLoaded && optionsField !== undefined) {
    const at = Object.keys(optionsField.value as object).indexOf('kvmLoaded');
    out.add(fieldLoc(optionsField.loc, 'kvmLoaded', at), 'false, but the scenario has vms: their vCPUs run only with the KVM module loaded (/dev/kvm); leave it out or set it true');
  }
  const script = readScript(top.get('script'), machine.cpus, vmsRefused ? MAX_VCPUS : vcpus.length, vmsRefused ? MAX_VMS : vsock.length, ctx, out);
  // Every packet's fate is kept: bound their number over the whole scenario, not only per line.
  let packets = 0;
  for (const d of vsock) for (const t of d.guestTraffic) packets += t.count;
  for (const step of script) packets += step.send?.count ?? 0;
  if (packets > MAX_PACKETS) out.add(rootLoc, `the guests' traffic and the script's vsock-send steps make ${packets} packets in all (at most ${MAX_PACKETS})`);
  if (out.count === 0 && machine.cpus !== undefined) checkClock(options, machine.cpus, script, top, out);
  // KVM enabled virtualization on every CPU a vCPU runs on: VMXON (Intel) or EFER.SVME (AMD).
  for (const v of vcpus) {
    const init = initial[v.pcpu];
    if (!init) continue;
    if (machine.vendor === 'amd') init.svme = true;
    else if (init.vmx !== 'root') initial[v.pcpu] = { ...init, vmx: 'root', cr4Vmxe: true };
  }
  if (out.count > 0 || name === undefined || description === undefined || machine.cpus === undefined || machine.vendor === undefined) {
    return undefined;
  }
  return { id, name, description, machine: { cpus: machine.cpus, vendor: machine.vendor }, initial, kernel, options, script, vcpus, vsock };
}

export function validateScenario(raw: unknown, id: string, ctx: ValidationContext): ValidationResult {
  const out = new Problems();
  let scenario: Scenario | undefined;
  try {
    scenario = readScenario(raw, id, ctx, out);
  } catch (e) {
    // Only exotic values that no JSON text produces get here (a getter that throws, a revoked proxy).
    out.add(rootLoc, `could not read the scenario: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (scenario === undefined || out.count > 0) {
    if (out.count === 0) out.add(rootLoc, 'could not read the scenario');
    return { ok: false, errors: out.list() };
  }
  return { ok: true, scenario };
}

/** The scenario id for a file: its name without directories or the .json extension. */
function idFromSource(source: string): string {
  const base = source.split(/[\\/]/).pop() ?? source;
  return base.endsWith('.json') && base.length > '.json'.length ? base.slice(0, -'.json'.length) : base;
}

export function parseScenarioText(text: string, source: string, ctx: ValidationContext): ValidationResult {
  if (text.length > MAX_SCENARIO_BYTES) {
    return { ok: false, errors: [{ path: '', message: `too large: ${text.length} characters (a scenario file has at most ${MAX_SCENARIO_BYTES})` }] };
  }
  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    return { ok: false, errors: [{ path: '', message: `malformed JSON: line ${parsed.line}, column ${parsed.column}: ${parsed.reason}` }] };
  }
  return validateScenario(parsed.value, idFromSource(source), ctx);
}

export function formatError(source: string, e: ScenarioError): string {
  return e.path === '' ? `${source}: ${e.message}` : `${source}: ${e.path}: ${e.message}`;
}
