/**
 * The physical CPU's setup(): its types and its guard and action implementations (bound to the
 * world the events carry; the simulator provides its own), and the chart builders typed by them.
 * The flows (flows-*.ts) and the machine (physical-cpu.machine.ts) build their states with these
 * builders, so every guard and action name they use is checked against this setup().
 */
import { setup } from 'xstate';
import type { CpuContext, CpuEvent, CpuInput, Region } from './types.js';
import { makeGuards, ruleMemo, worldFromEvent, type WorldOf } from './guards.js';
import { makeActions } from './actions.js';
import { chartDsl, type Clock, type StateConfig, type Transition, type TypesOf } from './dsl.js';
import type { SwitchName } from '../../src/kernel/variants.js';

/** The guard and action implementations bound to one world (the simulator's memory and port). */
export function cpuImplementations(world: WorldOf) {
  // One memo of the hardware rules for both: a guard's question is asked again by its action.
  const rule = ruleMemo();
  return { guards: makeGuards(world, rule), actions: makeActions(world, rule) };
}

export const cpuSetup = setup({
  types: { context: {} as CpuContext, events: {} as CpuEvent, input: {} as CpuInput },
  ...cpuImplementations(worldFromEvent),
});

/** The context, events, guards and actions the physical CPU chart is typed by. */
export type CpuTypes = TypesOf<typeof cpuSetup>;
export type CpuState = StateConfig<CpuTypes>;
export type CpuTransition = Transition<CpuTypes>;

export const stepOf = (r: Region): `sched.${Region}` => `sched.${r}`;

const clock: Clock<CpuTypes> = {
  expired: 'timer.expired',
  beginWait: { type: 'begin wait' },
  arm: (name, ns) => ({ type: 'arm timer', params: { name, ns } }),
  armPanicTimeout: (name) => ({ type: 'arm panic timer', params: { name } }),
  cancel: (name) => ({ type: 'cancel timer', params: { name } }),
  timerIs: (name) => ({ type: 'timer is', params: { name } }),
};

export const { guard, action, op, decide, route, call, done, blocked, wait, sleep } = chartDsl<CpuTypes, Region>(stepOf, clock);

/** Whether a kernel switch is on (docs/model.md §6). */
export const feature = (name: SwitchName) => guard('feature', { name });
