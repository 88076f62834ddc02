/**
 * The physical CPU's part of the machine state, described once: its architectural state
 * (src/hw/cpu-state.ts), its chart's context (machines/physical-cpu/types.ts), and the chart's
 * configuration (its active leaves). The simulation's per-CPU key and hash, and exploration's
 * interned CPU states, are derived from these codecs.
 */
import type { CpuHw, CpuMode } from '../hw/cpu-state.js';
import type { CpuContext, Region } from '../../machines/physical-cpu/types.js';
import { array, bool, cpuAddr, cpuId, int, members, notA, nullable, numberKeyed, oneOf, string, type Codec } from './codec.js';
import { constant, ignored, replacedWhole, struct, type StructCodec } from './struct.js';

export const CPU_MODE = struct<CpuMode>('CpuMode', {
  cr0Pe: bool(),
  v86: bool(),
  compat: bool(),
  cpl: oneOf([0, 1, 2, 3] as const),
  featureControlOk: bool(),
});

/*
 * Symmetry: the VMXON and VMCS region addresses (vmxonPtr, currentVmcs, vmcsLaunch's keys, the
 * context's loadedVmcss) are per-CPU regions (VMXON_REGION_BASE + id * 0x1000, and so on in
 * simulation.ts): role 'cpu-addr', renamed with their CPU (src/explore/symmetry.ts).
 */
export const CPU_HW = struct<CpuHw>('CpuHw', {
  vendor: members({ intel: true, amd: true }),
  mode: replacedWhole(CPU_MODE),
  if: bool(),
  nmiBlocked: bool(),
  nmiLatched: oneOf([0, 1] as const),
  inSmm: bool(),
  nmiBlockedBeforeSmm: bool(),
  ifBeforeSmm: bool(),
  smiLatched: oneOf([0, 1] as const),
  activity: members({ running: true, hlt: true, shutdown: true, 'wait-for-sipi': true }),
  vmx: members({ off: true, root: true, nonroot: true }),
  cr4Vmxe: bool(),
  vmxonPtr: nullable(cpuAddr()),
  currentVmcs: nullable(cpuAddr()),
  vmcsLaunch: numberKeyed(members({ clear: true, launched: true }), 'cpu-addr'),
  svme: bool(),
  gif: bool(),
  vmHsavePa: int(),
  svmGuest: bool(),
  lapicEnabled: bool(),
  initPending: bool(),
  irr: array(int()),
});

const perRegion = <V>(codec: () => Codec<V>) =>
  struct<Record<Region, V>>('per region', { task: codec(), irq: codec(), nmi: codec(), smm: codec() });
const action = nullable(members({ panic: true, 'emergency-restart': true }));

export const CPU_CONTEXT = struct<CpuContext>('CpuContext', {
  id: constant('the CPU number: the CPU\'s place in the state, not part of it'),
  // The chart replaces hw wholesale in every assignment (src/hw/ rules return a new object).
  hw: replacedWhole(CPU_HW),
  ctx: array(members({ task: true, irq: true, nmi: true, smm: true, guest: true })),
  savedIf: array(bool()),
  loadedVmcss: array(cpuAddr()),
  walk: perRegion(int),
  features: constant('the kernel variant\'s switches: the scenario\'s, the same on every CPU in every state'),
  opts: constant('the kernel command line and scenario options: the same in every state'),
  stalled: bool(),
  panicMsg: replacedWhole(perRegion(string)),
  nmiSource: members({ kernel: true, watchdog: true, platform: true, script: true }),
  nmiHandled: bool(),
  nmiAction: action,
  nmiActionMsg: string(),
  irqAction: action,
  irqActionMsg: string(),
  irqVector: int(),
  waitStart: ignored(
    'the virtual time a kernel wait began: only the waitedNs of kernel records depends on it, which no property reads; ' +
      'two paths reach the same wait at different times',
    int(),
  ),
  // The next AP the crash kernel brings up: one past the last CPU once all are up.
  nextAp: { ...cpuId(), check: (v, path, env) => (typeof v === 'number' && Number.isInteger(v) && v >= -1 && v <= env.cpus ? null : notA(path, `a CPU number from 0 to ${env.cpus} (or -1)`, v)) },
  rebootQueued: bool(),
});

/** One CPU's chart state: its active leaves (node numbers, document order) and its context. */
export interface CpuChartState {
  leaves: number[];
  context: CpuContext;
}

export const CPU_STATE: StructCodec<CpuChartState> = struct<CpuChartState>('CPU', {
  leaves: array(int()),
  context: CPU_CONTEXT,
});
