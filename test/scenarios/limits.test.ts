/**
 * Every size a scenario file names is bounded, with a message naming the field and the limit, and the
 * bound is checked before anything is spent on the value: an array too long is refused on its length
 * alone, without reading one element of it.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_WHEN_TRIGGERS,
  MAX_ERRORS,
  MAX_MESSAGE_LENGTH,
  MAX_PACKETS,
  MAX_PATTERN_ALTERNATIVES,
  MAX_PATTERN_LENGTH,
  MAX_SCENARIO_BYTES,
  MAX_SCRIPT_STEPS,
  MAX_TRAFFIC_COUNT,
  MAX_VCPUS,
  MAX_VCPUS_PER_VM,
  MAX_VMS,
} from '../../src/scenarios/limits.js';
import { parseScenarioText, validateScenario, type ScenarioError } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

function errorsOf(raw: unknown): ScenarioError[] {
  const result = validateScenario(raw, 'test', validationContext);
  return result.ok ? [] : result.errors;
}

/** An array that claims `length` elements and counts every element read. */
function hugeArray(length: number): { array: unknown[]; reads: () => number } {
  let reads = 0;
  const array = new Proxy([] as unknown[], {
    get(target, key, receiver) {
      if (key === 'length') return length;
      if (typeof key === 'string' && /^\d+$/.test(key)) {
        reads += 1;
        return { cpu: 0, do: 'reboot', at: 0 };
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { array, reads: () => reads };
}

const vcpu = { cpu: 1, guest: { l1: ['spin'] } };

describe('sizes from a scenario file are bounded before they are used', () => {
  it('a script longer than the limit is refused on its length, without reading a step', () => {
    const { array, reads } = hugeArray(1_000_000_000);
    expect(errorsOf({ name: 'x', machine: { cpus: 2 }, script: array })).toEqual([
      { path: 'script', message: `too many entries: 1000000000 (at most ${MAX_SCRIPT_STEPS})` },
    ]);
    expect(reads()).toBe(0);
  });

  it('VMs and the vCPUs of one VM: refused on the array length', () => {
    const vms = hugeArray(MAX_VMS + 1);
    expect(errorsOf({ name: 'x', machine: { cpus: 2 }, vms: vms.array })).toEqual([{ path: 'vms', message: `too many entries: ${MAX_VMS + 1} (at most ${MAX_VMS})` }]);
    expect(vms.reads()).toBe(0);
    const vcpus = hugeArray(MAX_VCPUS_PER_VM + 1);
    expect(errorsOf({ name: 'x', machine: { cpus: 2 }, vms: [{ vcpus: vcpus.array }] })).toEqual([
      {
        path: 'vms[0].vcpus',
        message:
          `too many vCPUs in VM 0: ${MAX_VCPUS_PER_VM + 1} (the model runs at most ${MAX_VCPUS_PER_VM} in one VM, the most x86 KVM allows with ` +
          'CONFIG_KVM_MAX_NR_VCPUS; a modelled kernel refuses each vCPU beyond its KVM_MAX_VCPUS, 288 before v5.15 and 1024 from v5.15, with -EINVAL)',
      },
    ]);
    expect(vcpus.reads()).toBe(0);
  });

  it('vCPUs of all VMs together', () => {
    const full = { vcpus: Array.from({ length: MAX_VCPUS_PER_VM }, () => vcpu) };
    const vms = [...Array.from({ length: MAX_VCPUS / MAX_VCPUS_PER_VM }, () => full), { vcpus: [vcpu] }];
    const errors = errorsOf({ name: 'x', machine: { cpus: 2 }, vms });
    expect(errors).toEqual([{ path: `vms[${MAX_VCPUS / MAX_VCPUS_PER_VM}].vcpus[0]`, message: `too many vCPUs: the VMs have at most ${MAX_VCPUS} together` }]);
  });

  it('a state pattern: its length and its alternatives', () => {
    const step = (enters: string) => ({ name: 'x', machine: { cpus: 2 }, script: [{ cpu: 0, do: 'reboot', when: { cpu: 1, enters } }] });
    const long = `${'**.'.repeat(MAX_PATTERN_LENGTH / 3)}idle`;
    expect(errorsOf(step(long))).toEqual([{ path: 'script[0].when.enters', message: `too long: ${long.length} characters (at most ${MAX_PATTERN_LENGTH})` }]);
    const many = Array.from({ length: MAX_PATTERN_ALTERNATIVES + 1 }, () => 'idle').join('|');
    expect(errorsOf(step(many))).toEqual([
      { path: 'script[0].when.enters', message: `too many alternatives: ${MAX_PATTERN_ALTERNATIVES + 1} (at most ${MAX_PATTERN_ALTERNATIVES})` },
    ]);
    // The report's pattern: 18 `**` and a name no state has, answered (and quickly: the matcher is linear).
    const stars = `${Array.from({ length: 18 }, () => '**').join('.')}.x`;
    expect(errorsOf(step(stars))).toEqual([
      { path: 'script[0].when.enters', message: expect.stringContaining(`no state named '${stars}' in the physical CPU machine`) as string },
    ]);
    // As many alternatives as allowed, all known: accepted.
    expect(errorsOf(step(Array.from({ length: MAX_PATTERN_ALTERNATIVES }, () => 'idle').join('|')))).toEqual([]);
  });

  it('script steps with a when trigger: at most MAX_WHEN_TRIGGERS (each is checked at every state change of its CPU)', () => {
    const when = (n: number) => ({
      name: 'whens',
      machine: { cpus: 4 },
      script: Array.from({ length: n }, (_, i) => ({ cpu: i % 4, do: 'stall', when: { cpu: i % 4, enters: 'task.idle' } })),
    });
    expect(errorsOf(when(MAX_WHEN_TRIGGERS))).toEqual([]);
    const errors = errorsOf(when(MAX_WHEN_TRIGGERS + 1));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe(`script[${MAX_WHEN_TRIGGERS}]`);
    expect(errors[0]?.message).toMatch(new RegExp(`more than ${MAX_WHEN_TRIGGERS} script steps with a 'when' trigger`));
  });

  it('a panic message longer than panic()’s buffer', () => {
    const message = 'm'.repeat(MAX_MESSAGE_LENGTH + 1);
    expect(errorsOf({ name: 'x', machine: { cpus: 2 }, script: [{ cpu: 0, do: 'panic', at: 0, message }] })).toEqual([
      { path: 'script[0].message', message: `too long: ${MAX_MESSAGE_LENGTH + 1} characters (at most ${MAX_MESSAGE_LENGTH})` },
    ]);
  });

  it('packets: per line, and over the whole scenario', () => {
    const send = (count: number) => ({ cpu: 0, do: 'vsock-send', at: 0, send: { cid: 3, op: 'RW', srcPort: 1, dstPort: 2, len: 0, count } });
    expect(errorsOf({ name: 'x', machine: { cpus: 2 }, script: [send(MAX_TRAFFIC_COUNT + 1)] })).toEqual([
      { path: 'script[0].send.count', message: `expected an integer from 1 to ${MAX_TRAFFIC_COUNT}` },
    ]);
    const steps = Math.floor(MAX_PACKETS / MAX_TRAFFIC_COUNT) + 1;
    const errors = errorsOf({ name: 'x', machine: { cpus: 2 }, script: Array.from({ length: steps }, () => send(MAX_TRAFFIC_COUNT)) });
    expect(errors).toEqual([{ path: '', message: `the guests' traffic and the script's vsock-send steps make ${steps * MAX_TRAFFIC_COUNT} packets in all (at most ${MAX_PACKETS})` }]);
  });

  it('a scenario text larger than the limit is refused before it is parsed', () => {
    const text = `{"name": "x", "description": "${'d'.repeat(MAX_SCENARIO_BYTES)}", "machine": {"cpus": 2}}`;
    const result = parseScenarioText(text, 'big.json', validationContext);
    expect(result).toEqual({ ok: false, errors: [{ path: '', message: `too large: ${text.length} characters (a scenario file has at most ${MAX_SCENARIO_BYTES})` }] });
  });
});

describe('errors are listed up to a limit, the rest counted', () => {
  it('a script of many bad steps: the first errors, then how many more', () => {
    const bad = 5000;
    const errors = errorsOf({ name: 'x', machine: { cpus: 2 }, script: Array.from({ length: bad }, () => ({ cpu: 0, do: 'dance', at: 0 })) });
    expect(errors).toHaveLength(MAX_ERRORS + 1);
    expect(errors[0]).toEqual({ path: 'script[0].do', message: expect.stringContaining("unknown action 'dance'") as string });
    expect(errors[MAX_ERRORS]).toEqual({ path: '', message: `… and ${bad - MAX_ERRORS} more errors (only the first ${MAX_ERRORS} are listed)` });
  });
});

describe('through the CLI: exit 2, the field path and the limit, nothing on stdout', () => {
  it('shootdown run on files of 500,000 and of 1,000,000 bad steps: refused on the step count, and on the size', async () => {
    const file = (n: number) => JSON.stringify({ name: 'x', machine: { cpus: 2 }, script: Array.from({ length: n }, () => ({ cpu: 0, do: 'dance', at: 0 })) });
    const t = memoryIo({ 'bad.json': file(500_000) });
    expect(await main(['run', 'bad.json'], t.cli)).toBe(2);
    expect(t.out()).toBe('');
    expect(t.err()).toContain(`bad.json: script: too many entries: 500000 (at most ${MAX_SCRIPT_STEPS})`);
    const text = file(1_000_000);
    const u = memoryIo({ 'huge.json': text });
    expect(await main(['run', 'huge.json'], u.cli)).toBe(2);
    expect(u.err()).toContain(`huge.json: too large: ${text.length} characters (a scenario file has at most ${MAX_SCENARIO_BYTES})`);
  });

  it('shootdown run on a file with a pattern of too many alternatives', async () => {
    const enters = Array.from({ length: 200_000 }, () => 'a').join('|');
    const t = memoryIo({ 'alts.json': JSON.stringify({ name: 'x', machine: { cpus: 2 }, script: [{ cpu: 0, do: 'reboot', when: { cpu: 1, enters } }] }) });
    expect(await main(['run', 'alts.json'], t.cli)).toBe(2);
    expect(t.err()).toContain(`alts.json: script[0].when.enters: too long: ${enters.length} characters (at most ${MAX_PATTERN_LENGTH})`);
  });
});
