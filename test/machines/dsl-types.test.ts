/**
 * The chart DSL is typed by each machine's setup(): a guard or action name it does not implement,
 * params its implementation does not take, or an event the machine does not have is a compile
 * error. Every `@ts-expect-error` line below is checked by `tsc -p tsconfig.json` (part of
 * `npm test`): if the line compiled, tsc would report the directive as unused.
 */
import { describe, expect, it } from 'vitest';
import { action, blocked, decide, guard, op, wait } from '../../machines/physical-cpu/setup.js';
import { chartDsl, type StateConfig } from '../../machines/physical-cpu/dsl.js';
import type { VcpuTypes } from '../../machines/vcpu.machine.js';
import type { VmmTypes } from '../../machines/vmm.machine.js';
import type { VsockTypes } from '../../machines/vhost-vsock.machine.js';

describe('the physical CPU DSL checks names against setup()', () => {
  it('builds the states it is given with the names setup() implements', () => {
    expect(op('irq', 'idle', 'IRET', 'IRET')).toEqual({ on: { 'sched.irq': { target: 'idle', actions: ['IRET'] } }, description: 'IRET' });
    expect(decide('nmi', [{ if: 'panic_cpu free', to: 'a' }, { to: 'b' }])).toEqual({
      on: {
        'sched.nmi': [
          { guard: 'panic_cpu free', target: 'a', actions: undefined },
          { guard: undefined, target: 'b', actions: undefined },
        ],
      },
    });
    expect(guard('timer is', { name: 'task:callin' })).toEqual({ type: 'timer is', params: { name: 'task:callin' } });
  });

  it('refuses a misspelt guard or action, wrong params and unknown events (at compile time)', () => {
    const refused = (): unknown[] => [
      // @ts-expect-error: no action 'IRETT' in the physical CPU's setup()
      op('irq', 'idle', 'IRETT'),
      // @ts-expect-error: no guard 'panic_cpu freee'
      decide('nmi', [{ if: 'panic_cpu freee', to: 'a' }, { to: 'b' }]),
      // @ts-expect-error: a misspelt action in a branch
      decide('nmi', [{ to: 'b', do: 'claim panic cpu' }]),
      // @ts-expect-error: the wait's condition is a guard name
      wait('task', { until: 'AP called inn', to: 'next', watch: [], description: 'x' }),
      // @ts-expect-error: 'timer is' takes { name }, not { nam }
      guard('timer is', { nam: 'x' }),
      // @ts-expect-error: 'send' needs a delivery mode it knows
      action('send', { mode: 'broadcast', to: 'self' }),
      // @ts-expect-error: no event 'bus.nmmi' for a CPU
      blocked('x', { 'bus.nmmi': { target: 'y' } }),
      // @ts-expect-error: a parameterised guard named without its params
      decide('irq', [{ if: 'IRQ vector is', to: 'a' }]),
    ];
    expect(refused).toBeTypeOf('function');
  });
});

describe('the vCPU, VMM and vhost-vsock charts are typed the same way', () => {
  it('a state literal of each machine is checked against its setup()', () => {
    const vcpu = chartDsl<VcpuTypes, 'vcpu'>(() => 'sched.vcpu');
    const ok: StateConfig<VcpuTypes> = vcpu.op('vcpu', 'preRun', 'vcpu_load');
    const vmm: StateConfig<VmmTypes> = { on: { 'sched.vmm': [{ guard: 'call left', target: 'issue' }, { target: 'done' }] } };
    const vsock: StateConfig<VsockTypes> = { on: { ioctl: [{ guard: 'call binds the owner', target: 'owned', actions: 'apply ioctl' }] } };
    expect([ok, vmm, vsock].every((s) => s.on !== undefined)).toBe(true);
    const refused = (): unknown[] => [
      // @ts-expect-error: no action 'vcpu_laod'
      vcpu.op('vcpu', 'preRun', 'vcpu_laod'),
      // @ts-expect-error: 'guest insn is' takes an op of the guest program
      vcpu.guard('guest insn is', { op: 'jump' }),
      // @ts-expect-error: no guard 'calls left' for the VMM
      ((): StateConfig<VmmTypes> => ({ on: { 'sched.vmm': { guard: 'calls left', target: 'issue' } } }))(),
      // @ts-expect-error: the device's lifecycle edges are guarded by rules it implements
      ((): StateConfig<VsockTypes> => ({ on: { ioctl: { guard: 'lifecycle is', target: 'owned' } } }))(),
      // @ts-expect-error: no event 'sched.vcpu' for the vhost-vsock device
      ((): StateConfig<VsockTypes> => ({ on: { 'sched.vcpu': { target: 'owned' } } }))(),
    ];
    expect(refused).toBeTypeOf('function');
  });
});
