/**
 * The library as a user calls it: a machine value changed between `startMachine` and `stepMachine`
 * (README "As a library") is refused with a ScenarioInputError naming the part — its scenario
 * (validated again from `state.source` and compared), its save (each part by the codec that describes
 * it, the run's constants, CPU numbers within the machine) — and a value that passes the checks but
 * fails while it steps is that error too, never a raw TypeError. Bad options are refused like the CLI's.
 */
import { describe, expect, it } from 'vitest';
import { explore, run, ScenarioInputError, startMachine, stepMachine, type MachineValue } from 'shootdown';

const copy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Steps with the first choice until the run ends or `max` steps: the error it throws, if any. */
function stepAll(state: MachineValue, max = 3000): unknown {
  let s = state;
  try {
    for (let i = 0; i < max && s.choices > 0; i++) s = stepMachine(s, 0).state;
  } catch (e) {
    return e;
  }
  return null;
}

/** The value `id` starts as (after `steps` steps), to be changed. */
function value(id: string, kernel?: string, steps = 0): MachineValue {
  let s = startMachine(id, kernel ? { kernel } : {}).state;
  for (let i = 0; i < steps && s.choices > 0; i++) s = stepMachine(s, 0).state;
  return copy(s);
}

type Edit = (v: Record<string, any>) => void;

function refused(state: MachineValue, message: RegExp): void {
  const e = stepAll(state, 1);
  expect(e).toBeInstanceOf(ScenarioInputError);
  expect((e as Error).message).toMatch(message);
}

describe('the scenario part of a machine value is checked again', () => {
  // Several machines and kernels: the checks are not T5's.
  const machines: [string, string | undefined][] = [
    ['T5', undefined],
    ['T1', 'v5.10'],
    ['T14', 'v6.6'],
    ['T-vsock-restart', undefined],
    ['R2', 'v5.11'],
  ];
  const edits: [string, Edit, RegExp][] = [
    ['a script step on a CPU the machine lacks', (v) => (v.scenario.script[0].cpu = v.scenario.machine.cpus + 95), /^stepMachine: state\.scenario\.script\[0\]\.cpu: \d+, where state\.source makes \d+/],
    ['a key no scenario has (`do` in the validated form)', (v) => (v.scenario.script[0].do = 'bogus'), /^stepMachine: state\.scenario\.script\[0\]\.do: not a part of the scenario state\.source makes/],
    ['an unknown vendor', (v) => (v.scenario.machine.vendor = 'via'), /^stepMachine: state\.scenario\.machine\.vendor: "via", where state\.source makes "(intel|amd)"/],
    ['the kernel switches', (v) => (v.scenario.kernel.fix = ['no-such-switch']), /^stepMachine: state\.scenario\.kernel\.fix/],
    ['the source: an unknown switch', (v) => (v.source.kernel.fix = ['no-such-switch']), /^stepMachine: state\.source: unknown kernel switch 'no-such-switch'/],
    ['the source: missing', (v) => delete v.source, /^stepMachine: state\.source is missing/],
  ];
  for (const [id, kernel] of machines) {
    it.each(edits)(`${id}${kernel ? ` (${kernel})` : ''}: %s`, (_what, edit, message) => {
      const v = value(id, kernel) as unknown as Record<string, any>;
      edit(v);
      refused(v as unknown as MachineValue, message);
    });
  }

  it('a source given as a scenario value is validated again, with the path of the field', () => {
    const raw = { name: 'two', machine: { cpus: 2 }, script: [{ cpu: 1, do: 'reboot', at: 0 }] };
    const v = copy(startMachine(raw).state) as unknown as Record<string, any>;
    v.source.scenario.script[0].cpu = 7;
    refused(v as unknown as MachineValue, /^stepMachine: state\.source: two: script\[0\]\.cpu: CPU 7 is out of range/);
    // The caller's object changed after the start: the value keeps what was started.
    const mine = copy(raw);
    const started = startMachine(mine).state;
    mine.script[0]!.cpu = 7;
    expect(stepAll(started)).toBeNull();
  });
});

describe("the save's shape is checked before it is restored", () => {
  const edits: [string, string, number, Edit, RegExp][] = [
    ['T5', 'memory emptied', 0, (v) => (v.saved.memory = {}), /^stepMachine: state\.saved\.memory\.\w+: /],
    ['T5', 'a CPU number out of the machine', 0, (v) => (v.saved.memory.crashing_cpu = v.scenario.machine.cpus), /^stepMachine: state\.saved\.memory\.crashing_cpu: expected a CPU number from 0 to \d+ \(or -1\)/],
    ['R2', 'a cpumask of another size', 0, (v) => (v.saved.memory.online = [1]), /^stepMachine: state\.saved\.memory\.online: a cpumask of 1 CPUs, where the machine has \d+/],
    ['T1', 'a CPU context part of the wrong kind', 3, (v) => (v.saved.cpus[1].context.hw = 5), /^stepMachine: state\.saved\.cpus\[1\]\.context\.hw: expected an object \(CpuHw\), got 5/],
    ['T1', "a CPU's number (a constant of the run)", 0, (v) => (v.saved.cpus[1].context.id = 0), /^stepMachine: state\.saved\.cpus\[1\]\.context\.id: not the run's/],
    ['T-vsock-restart', "a VMM thread's script (the scenario's, not the save's)", 5, (v) => (v.saved.guests.vmms[0].context.calls = [{ ioctl: 'VHOST_SET_MEM_TABLE', arg: { regions: [] } }]), /^stepMachine: state\.saved\.guests\.vmms\[0\]\.context\.calls: not the run's/],
    ['T-vsock-restart', 'a part of the wrong kind in a device', 5, (v) => (v.saved.guests.devices[0].context.device.vqs = 1), /^stepMachine: state\.saved\.guests\.devices\[0\]\.context\.device\.vqs: expected a list of 2 virtqueues, got 1/],
    // A queue's index files it in the device's list: 1e9 made a sparse list that long, and its text a string past the heap.
    ['T-vsock-credit', "a virtqueue's index out of range", 25, (v) => (v.saved.guests.devices[0].context.device.vqs[1].index = 1e9), /^stepMachine: state\.saved\.guests\.devices\[0\]\.context\.device\.vqs\[1\]\.index: expected 1, got 1000000000/],
    ['T-vsock-credit', "a virtqueue's ring size past 16 bits", 25, (v) => (v.saved.guests.devices[0].context.device.vqs[0].num = 70000), /^stepMachine: state\.saved\.guests\.devices\[0\]\.context\.device\.vqs\[0\]\.num: expected an integer from 0 to 65535, got 70000/],
    ['T5', 'an agenda item of no kind', 0, (v) => v.saved.agenda.ready.push({ kind: 'bogus', seq: 9, time: 0 }), /^stepMachine: state\.saved\.agenda\.ready\[\d+\]\.kind: expected one of/],
    ['T5', 'a part no save has', 0, (v) => (v.saved.extra = 1), /^stepMachine: state\.saved\.extra: not a part of a save/],
    ['T5', 'a seed the generator does not have', 0, (v) => (v.options.seed = 2 ** 40), /^stepMachine: state\.options\.seed: expected a whole number from 0 to 4294967295/],
  ];
  it.each(edits)('%s: %s', (id, _what, steps, edit, message) => {
    const v = value(id, undefined, steps) as unknown as Record<string, any>;
    edit(v);
    refused(v as unknown as MachineValue, message);
  });

  it('a value that passes the checks but fails while it steps is a ScenarioInputError saying so, with the cause', () => {
    // A list the device's data path keeps (a JSON part no codec describes further) made a number.
    const v = value('T-vsock-credit', undefined, 30) as unknown as Record<string, any>;
    v.saved.guests.devices[0].context.dp.dropped = 5;
    const e = stepAll(v as unknown as MachineValue);
    expect(e).toBeInstanceOf(ScenarioInputError);
    expect((e as Error).message).toMatch(/^stepMachine: the state does not make sense as a machine: stepping it failed \(TypeError: .*\): was it changed since it was made\?$/);
    expect((e as Error & { cause?: unknown }).cause).toBeInstanceOf(TypeError);
  });

  it('no single part of a save changed to another kind of value gets past as a raw error', () => {
    const junk: unknown[] = ['x', -5, 1e9, {}, null, [], true];
    let r = 7;
    const rnd = (n: number) => (r = (r * 1103515245 + 12345) % 2147483648) % n;
    const leaves = (x: unknown, path: string[], out: string[][]): string[][] => {
      if (typeof x === 'object' && x !== null) for (const k of Object.keys(x)) leaves((x as Record<string, unknown>)[k], [...path, k], out);
      else out.push(path);
      return out;
    };
    for (const id of ['T5', 'T14', 'T-vsock-credit']) {
      const base = value(id, undefined, 25);
      const paths = leaves(base.saved, [], []);
      for (let t = 0; t < 40; t++) {
        const v = copy(base) as unknown as { saved: Record<string, any> };
        const path = paths[rnd(paths.length)] as string[];
        let at: Record<string, any> = v.saved;
        for (const k of path.slice(0, -1)) at = at[k];
        at[path.at(-1) as string] = junk[rnd(junk.length)];
        const e = stepAll(v as unknown as MachineValue, 40);
        if (e !== null) expect(e, `${id} saved.${path.join('.')}`).toBeInstanceOf(ScenarioInputError);
      }
    }
  }, 300_000);
});

describe('options are checked as the CLI checks its flags', () => {
  it.each([
    ['run with options null', () => run('T5', null as never), /^options: expected an object, got null/],
    ['run with a seed above 2^32-1', () => run('T5', { seed: 2 ** 32 }), /^seed: expected an integer from 0 to 4294967295, got 4294967296/],
    ['startMachine with a seed above 2^32-1', () => startMachine('T5', { seed: 1e20 }), /^seed: expected an integer from 0 to 4294967295/],
    ['explore with a seed above 2^32-1', () => explore('R1', { seed: 2 ** 33 }), /^seed: expected an integer from 0 to 4294967295/],
    ['fix as a string', () => run('T5', { fix: 'abc' as never }), /^fix: expected a list of kernel switch names, got "abc"/],
    ['noFix with a number', () => run('T5', { noFix: [1] as never }), /^noFix\[0\]: expected a kernel switch name, got 1/],
    ['kernel as a number', () => startMachine('T5', { kernel: 5 as never }), /^kernel: expected a preset name, got 5/],
    ['properties as a string', () => explore('R1', { properties: 'no-kernel-bug' as never }), /^properties: expected a list of property names/],
  ])('%s', (_what, call, message) => {
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(message);
  });
});
