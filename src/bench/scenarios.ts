/** The bench's workload: one simulated emergency restart, timed phase by phase. */
import { validationContext } from '../sim/catalog.js';
import { OutcomeCollector, type Outcome } from '../sim/outcome.js';
import { Simulation } from '../sim/simulation.js';
import { validateScenario } from '../scenarios/validate.js';
import type { Scenario } from '../scenarios/types.js';
import type { TraceRecord } from '../trace/records.js';
import type { EngineName } from '../sim/cpu-drivers.js';
import { collect, now, type PeakRss } from './measure.js';

export const MAX_STEPS = 10_000_000;

/** Emergency restart (SysRq-b) on CPU 0 with every CPU in VMX root holding one loaded VMCS. */
export function emergencyRestartRaw(cpus: number): Record<string, unknown> {
  return {
    name: `bench-emergency-restart-${cpus}`,
    machine: { cpus },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { maxSteps: MAX_STEPS },
    script: [{ cpu: 0, do: 'emergency-restart', at: 0 }],
  };
}

/**
 * The issue #3 row: emergency restart on CPU 0 while every other CPU holds `perCpu` vCPUs whose L1
 * has entered L2. Each vCPU's L2 then exits to its VMM on port I/O: KVM leaves it in guest mode
 * (L2) with vmcs01 and vmcs02 on the CPU's loaded-VMCS list, and the thread gives the CPU to the
 * next one. (A vCPU spinning in L2 would keep its CPU for good: the model has no host preemption.
 * Scenario T-L2 covers vCPUs running L2 in hardware when the NMI lands.)
 */
export function vcpusInL2Raw(cpus: number, perCpu: number): Record<string, unknown> {
  const vcpus: Record<string, unknown>[] = [];
  for (let cpu = 1; cpu < cpus; cpu++) {
    for (let k = 0; k < perCpu; k++) {
      vcpus.push({
        cpu,
        id: vcpus.length,
        guest: { l1: ['vmlaunch', { jmp: 0 }], l2: ['io', 'spin'] },
        vmm: [{ ioctl: 'KVM_CREATE_VCPU' }, { ioctl: 'KVM_SET_CPUID2' }, { ioctl: 'KVM_RUN' }],
      });
    }
  }
  return {
    name: `bench-emergency-restart-${cpus}-vcpus-l2`,
    machine: { cpus },
    options: { maxSteps: MAX_STEPS },
    vms: [{ vcpus }],
    script: [{ cpu: 0, do: 'emergency-restart', at: 100_000 }],
  };
}

/**
 * The issue #4 row: `vms` VMs, each a vCPU (CPU 1+v) with a vhost-vsock device whose worker has a
 * CPU of its own (CPU 1+vms+v); a host task on the last CPU connects to each guest and writes
 * `packets` packets of 256 bytes to it, each guest sends its own; at `restartNs` SysRq-b on CPU 0
 * shoots everything down mid-stream.
 */
export function vsockTrafficRaw(vms: number, packets: number, restartNs: number): Record<string, unknown> {
  const sender = 2 * vms + 1;
  const script: Record<string, unknown>[] = [];
  const list = Array.from({ length: vms }, (_, v) => v);
  for (const v of list) {
    script.push({ at: 2_000, cpu: sender, do: 'vsock-send', send: { cid: 3 + v, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } });
    script.push({ at: 4_000, cpu: sender, do: 'vsock-send', send: { cid: 3 + v, op: 'RW', srcPort: 7000, dstPort: 6000, len: 256, count: packets } });
  }
  script.push({ at: restartNs, cpu: 0, do: 'emergency-restart' });
  return {
    name: `bench-vsock-${vms}-vms`,
    machine: { cpus: 2 * vms + 2 },
    options: { maxSteps: MAX_STEPS },
    vms: list.map((v) => ({
      vsock: {
        cid: 3 + v,
        worker: 1 + vms + v,
        rxBuffers: 64,
        hostListen: [5000],
        guestListen: [6000],
        guestTraffic: [
          { op: 'REQUEST', srcPort: 1024, dstPort: 5000 },
          { op: 'RW', srcPort: 1024, dstPort: 5000, len: 256, count: 32 },
        ],
      },
      vcpus: [{ cpu: 1 + v, guest: { l1: ['vsock-ready', 'vsock-send', 'io', 'vsock-send', 'spin'] } }],
    })),
    script,
  };
}

/**
 * The hardening issue's quadratic case: `vcpus` vCPUs pinned to CPU 1, each running L1 code that
 * exits to its VMM on port I/O and goes round again; the run stops after `steps` scheduler steps.
 */
export function crowdedCpuRaw(vcpus: number, steps: number): Record<string, unknown> {
  return {
    name: `bench-crowded-cpu-${vcpus}-vcpus`,
    machine: { cpus: 2 },
    options: { maxSteps: steps },
    vms: [{ vcpus: Array.from({ length: vcpus }, () => ({ cpu: 1, guest: { l1: ['io', { jmp: 0 }] } })) }],
  };
}

/** Every CPU does SysRq-b at 0: each sends the shootdown NMI to all the others (N² deliveries). */
export function sysrqStormRaw(cpus: number): Record<string, unknown> {
  return {
    name: `bench-sysrq-storm-${cpus}`,
    machine: { cpus },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { maxSteps: MAX_STEPS },
    script: Array.from({ length: cpus }, (_, cpu) => ({ cpu, do: 'emergency-restart', at: 0 })),
  };
}

export function emergencyRestart(cpus: number, vcpusPerCpu = 0): Scenario {
  const raw = vcpusPerCpu > 0 ? vcpusInL2Raw(cpus, vcpusPerCpu) : emergencyRestartRaw(cpus);
  const v = validateScenario(raw, `bench-er-${cpus}`, validationContext);
  if (!v.ok) throw new Error(`bench scenario for ${cpus} CPUs is invalid: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return v.scenario;
}

export interface TimedRun {
  cpus: number;
  validateMs: number;
  /** new Simulation (every CPU's chart in its initial state), subscribe, header. */
  buildMs: number;
  /** sim.run(): the scheduler loop. */
  runMs: number;
  /** sim.stop(): closing the interconnect and the trace. */
  stopMs: number;
  totalMs: number;
  records: number;
  peakRssMiB: number;
  outcome: Outcome;
}

export interface TimedRunOptions {
  peak: PeakRss;
  /** Full GC and peak reset before the run (not timed). */
  gcBefore?: boolean;
  /** Also give every record to this (e.g. a trace file). */
  sink?: (r: TraceRecord) => void;
  /** How the CPU charts run (default: the simulator's default, the compiled runner). */
  engine?: EngineName;
  /** vCPUs in L2 on every CPU but the initiator (the issue #3 row). */
  vcpusPerCpu?: number;
  /** Stop after this many steps (default MAX_STEPS). */
  maxSteps?: number;
}

/** What runScenario does, with each phase timed on its own. */
export function timedEmergencyRestart(cpus: number, opts: TimedRunOptions): TimedRun {
  return timedRun(() => emergencyRestart(cpus, opts.vcpusPerCpu ?? 0), opts);
}

/** A scenario built from `raw` (validated: bench input is ours, so an error is a bug of ours). */
export function benchScenario(raw: Record<string, unknown>): Scenario {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(`bench scenario ${String(raw.name)} is invalid: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return v.scenario;
}

/** Build and run a scenario the way runScenario does, each phase timed. */
export function timedRun(build: () => Scenario, opts: TimedRunOptions): TimedRun {
  const { peak, sink } = opts;
  if (opts.gcBefore !== false) {
    collect();
    peak.reset();
  }
  const t0 = now();
  const scenario = build();
  const cpus = scenario.machine.cpus;
  const t1 = now();
  const sim = new Simulation(scenario, { seed: 1, maxSteps: opts.maxSteps ?? MAX_STEPS, ...(opts.engine ? { engine: opts.engine } : {}) });
  const collector = new OutcomeCollector();
  let records = 0;
  sim.trace$.subscribe((r) => {
    collector.observe(r);
    sink?.(r);
    records += 1;
    if ((records & 0x3fff) === 0) peak.sample();
  });
  sim.header();
  const t2 = now();
  sim.run();
  const t3 = now();
  peak.sample();
  sim.stop();
  const t4 = now();
  return {
    cpus,
    validateMs: t1 - t0,
    buildMs: t2 - t1,
    runMs: t3 - t2,
    stopMs: t4 - t3,
    totalMs: t4 - t0,
    records,
    peakRssMiB: peak.peak(),
    outcome: collector.outcome(),
  };
}

/** Problems with a run's outcome: it must reset with every other CPU acking the shootdown NMI. */
export function checkEmergencyRestart(run: TimedRun): string[] {
  const problems: string[] = [];
  const o = run.outcome;
  if (o.end !== 'reset') problems.push(`end is '${o.end}', expected 'reset'`);
  const sd = o.shootdowns[0];
  if (!sd) problems.push('no shootdown');
  else if (sd.acked.length !== run.cpus - 1) problems.push(`${sd.acked.length} of ${run.cpus - 1} responders acked`);
  if (o.violations.length > 0) problems.push(`${o.violations.length} spec violation(s)`);
  return problems;
}
