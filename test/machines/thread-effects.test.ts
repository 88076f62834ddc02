/**
 * The vCPU and VMM thread charts act on the world outside their actor only through their port's one
 * `out` (effects as values, in the step's outbox) and, for the vCPU, the one synchronous call
 * `hostInsn` (the VMX/SVM instruction runs on the thread's CPU within the step and its result picks
 * the branch). Besides the port, the vCPU's world holds the kernel memory `k`, read and written at
 * once as the CPU charts do (a step reads its own writes): `kvm_rebooting` read, the oops's die
 * counter taken with `nextDieCount`. The ports have no other member (checked by the compiler under
 * `npm test`, which runs tsc before vitest), and a scan of the charts' code (comments and strings
 * blanked) finds no other use of the port or the memory, the world indexed, no record written by
 * hand and no console: an action that emits a record or calls the host another way fails here.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOnly, sources } from './source-scan.js';
import type { VcpuPort, VcpuWorld } from '../../machines/vcpu/types.js';
import type { VmmPort, VmmWorld } from '../../machines/vmm.machine.js';
import { fakeWorld, startVcpu, vcpuInput } from '../kvm/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The members of each port and world: the compiler (tsc, under `npm test`) fails if a member is added
 * or removed; the test below only holds these lists to the names the scan allows.
 */
const VCPU_PORT = { out: true, hostInsn: true } satisfies Record<keyof VcpuPort, true>;
const VMM_PORT = { out: true } satisfies Record<keyof VmmPort, true>;
const VCPU_WORLD = { k: true, io: true } satisfies Record<keyof VcpuWorld, true>;
const VMM_WORLD = { io: true } satisfies Record<keyof VmmWorld, true>;

/**
 * Every way a chart's code reaches the world other than `io.out(…)` and `io.hostInsn(…)` (`allowed`),
 * with its line: another member of the port, the port passed around or indexed, a record written
 * with `emit`, the console.
 */
function portViolations(text: string, allowed: readonly string[]): { line: number; what: string }[] {
  const found: { line: number; what: string }[] = [];
  codeOnly(text)
    .split('\n')
    .forEach((code, i) => {
      for (const m of code.matchAll(/(?<![\w$])io(?![\w$])(\s*(?:\?\.|\.)\s*([\w$]+))?/g)) {
        const member = m[2];
        const rest = code.slice((m.index ?? 0) + m[0].length);
        // `io: VcpuPort` (the world's type), `{ io }` / `{ io } = world()` (the port taken from the world).
        const declared = member === undefined && (/^\s*:\s*(?:VcpuPort|VmmPort)\b/.test(rest) || /^\s*\}\s*=\s*world\(\)/.test(rest));
        if (declared) continue;
        if (member === undefined || !allowed.includes(member) || !/^\s*\(/.test(rest)) found.push({ line: i + 1, what: `io${m[1] ?? ''}` });
      }
      for (const m of code.matchAll(/(?<![\w$])(emit|console)(?![\w$])/g)) found.push({ line: i + 1, what: m[1] as string });
      // The world indexed (`world()['io']`) would go around both checks.
      for (const m of code.matchAll(/world\(\)\s*(?:\?\.)?\s*\[/g)) found.push({ line: i + 1, what: m[0].replace(/\s+/g, '') });
      // Kernel memory: its fields read (`k.state.…`) and the die counter taken; nothing else.
      for (const m of code.matchAll(/(?<![\w$])k\s*(?:\?\.|\.)\s*([\w$]+)/g)) {
        if (m[1] !== 'state' && m[1] !== 'nextDieCount') found.push({ line: i + 1, what: `k.${m[1]}` });
      }
    });
  return found;
}

/** The vCPU chart's files and the VMM thread's. */
const VCPU_FILES = ['machines/vcpu.machine.ts', ...sources(join(ROOT, 'machines', 'vcpu')).map((f) => relative(ROOT, f).split('\\').join('/'))];
const VMM_FILES = ['machines/vmm.machine.ts'];

describe('the vCPU and VMM thread charts act only through out() and hostInsn()', () => {
  it('their ports and worlds have exactly these members', () => {
    expect(Object.keys(VCPU_PORT).sort()).toEqual(['hostInsn', 'out']);
    expect(Object.keys(VMM_PORT)).toEqual(['out']);
    expect(Object.keys(VCPU_WORLD).sort()).toEqual(['io', 'k']);
    expect(Object.keys(VMM_WORLD)).toEqual(['io']);
  });

  it('the scan finds each way around the port it looks for (a scan that cannot find anything proves nothing)', () => {
    const sample = [
      "world().io.out({ kind: 'kvm event', vcpu: 0, what: 'x', data: {} });",
      "world().io.warn(0, 'f', 'WARNING');",
      'const { io } = world();',
      "io.out({ kind: 'died', vcpu: 0 });",
      'const port = world().io;',
      "io['kvmEvent'](0);",
      "host.emit({ t: 'console' });",
      'io.hostInsn(0, insn);',
      "console.log('x'); // io.warn in a comment",
      'const f = io.out;',
      'io?.vsock?.(0);',
      "world()['io'].warn(0);",
      "w.k.write('kvm_rebooting', 1, 0);",
      'const r = w.k.state.kvm_rebooting + w.k.nextDieCount(0);',
    ].join('\n');
    expect(portViolations(sample, ['out'])).toEqual([
      { line: 2, what: 'io.warn' },
      { line: 5, what: 'io' },
      { line: 6, what: 'io' },
      { line: 7, what: 'emit' },
      { line: 8, what: 'io.hostInsn' },
      { line: 9, what: 'console' },
      { line: 10, what: 'io.out' },
      { line: 11, what: 'io?.vsock' },
      { line: 12, what: 'world()[' },
      { line: 13, what: 'k.write' },
    ]);
  });

  it('no vCPU or VMM chart file reaches the world another way', () => {
    const hits = [
      ...VCPU_FILES.flatMap((f) => portViolations(readFileSync(join(ROOT, f), 'utf8'), ['out', 'hostInsn']).map((h) => `${f}:${h.line}: ${h.what}`)),
      ...VMM_FILES.flatMap((f) => portViolations(readFileSync(join(ROOT, f), 'utf8'), ['out']).map((h) => `${f}:${h.line}: ${h.what}`)),
    ];
    expect(VCPU_FILES).toContain('machines/vcpu/actions.ts');
    expect(hits).toEqual([]);
  });

  it("a KVM_RUN that ends in HLT is a list of values: the tracepoints, then the ioctl's return", () => {
    const world = fakeWorld();
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'nop' }, { op: 'hlt' }] }), world);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    world.effects.length = 0;
    v.kvmRun();
    expect(world.effects.map((e) => (e.kind === 'kvm event' ? e.what : e.kind))).toEqual(['kvm_entry', 'kvm_exit', 'kvm_userspace_exit', 'return']);
    expect(world.effects.at(-1)).toEqual({ kind: 'return', vcpu: 0, name: 'KVM_RUN', ret: { ok: true, value: 0 }, exit: 'HLT', device: null });
    expect(world.log).toEqual(['VMPTRLD 10000 → ok', 'VMLAUNCH → ok', 'vmexit → ok']);
  });

  it('an oops is its console lines, then the thread dying', () => {
    const world = fakeWorld();
    // T8 without its fix: KVM_RUN before KVM_SET_CPUID2 finds tdp_level 0 and kvm_mmu_load BUGs.
    const v = startVcpu(vcpuInput('intel', 'mainline', [], ['tdp-level-at-vcpu-create'], { l1: [{ op: 'hlt' }] }), world);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    world.effects.length = 0;
    v.kvmRun();
    expect(world.effects.map((e) => e.kind)).toEqual(['kvm oops', 'died']);
    expect(world.effects[0]).toMatchObject({ kind: 'kvm oops', vcpu: 0, lines: expect.arrayContaining(['RIP: 0010:kvm_mmu_load']) });
  });
});
