/**
 * Bench rows 1b–1d (main.ts): emergency restart with responders holding vCPUs in L2, VMs with vsock traffic shot
 * down, and the input-sized worst cases (a crowded CPU, a SysRq-b storm).
 */
import { fmt, median, PeakRss, table } from './measure.js';
import {
  benchScenario,
  checkEmergencyRestart,
  crowdedCpuRaw,
  sysrqStormRaw,
  timedEmergencyRestart,
  timedRun,
  vsockTrafficRaw,
  type TimedRun,
} from './scenarios.js';
import { envInt } from './env.js';

export function vcpuRow(peak: PeakRss, out: (line?: string) => void, reps: number): void {
  const cpus = Math.min(envInt('BENCH_VCPU_CPUS', 512), 8192);
  out(`== 1b. Emergency restart with ${cpus - 1} responders holding 2 vCPUs each in L2 (seed 1; median of ${reps}) ==`);
  const runs: TimedRun[] = [];
  for (let i = 0; i < reps; i++) runs.push(timedEmergencyRestart(cpus, { peak, vcpusPerCpu: 2 }));
  const o = runs[0]?.outcome;
  const inL2 = o ? o.vcpus.filter((v) => v.guestMode === 'l2').length : 0;
  const cleared = o ? o.vcpus.filter((v) => v.vmcs.every((x) => x.launch !== 'launched')).length : 0;
  out(
    table(
      ['CPUs', 'vCPUs', 'total ms', 'build', 'run', 'steps', 'steps/s (run)', 'peak RSS MiB', 'end', 'acked', 'vCPUs in L2', 'VMCSs clear', 'check'],
      [
        [
          fmt(cpus),
          fmt(o?.vcpus.length ?? 0),
          fmt(median(runs.map((r) => r.totalMs))),
          fmt(median(runs.map((r) => r.buildMs))),
          fmt(median(runs.map((r) => r.runMs))),
          fmt(o?.steps ?? 0),
          fmt(((o?.steps ?? 0) / median(runs.map((r) => r.runMs))) * 1000),
          fmt(Math.max(...runs.map((r) => r.peakRssMiB))),
          o?.end ?? '-',
          `${o?.shootdowns[0]?.acked.length ?? 0}/${cpus - 1}`,
          `${inL2}/${o?.vcpus.length ?? 0}`,
          `${cleared}/${o?.vcpus.length ?? 0}`,
          [...new Set(runs.flatMap(checkEmergencyRestart))].join('; ') || 'ok',
        ],
      ],
    ),
  );
  out();
}

/** Issue #4: VMs with vhost-vsock devices under traffic, shot down mid-stream. */
export function vsockRow(peak: PeakRss, out: (line?: string) => void, reps: number): void {
  const vms = Math.min(envInt('BENCH_VSOCK_VMS', 16), 1024);
  const packets = Math.min(envInt('BENCH_VSOCK_PACKETS', 4096), 4096);
  const restartNs = envInt('BENCH_VSOCK_RESTART_NS', 6_000);
  out(`== 1c. ${vms} VMs with a vsock device each, ${fmt(packets)} host packets per VM, SysRq-b at ${fmt(restartNs)} ns (seed 1; median of ${reps}) ==`);
  const runs: TimedRun[] = [];
  for (let i = 0; i < reps; i++) runs.push(timedRun(() => benchScenario(vsockTrafficRaw(vms, packets, restartNs)), { peak }));
  const o = runs[0]?.outcome;
  const sum = (f: (d: NonNullable<typeof o>['vsockDevices'][number]) => number) => (o ? o.vsockDevices.reduce((n, d) => n + f(d), 0) : 0);
  const sent = sum((d) => d.packets.sent);
  const delivered = sum((d) => d.packets.delivered);
  const lost = sum((d) => d.packets.dropped.filter((x) => x.reason === 'host-reset').reduce((n, x) => n + x.count, 0));
  const balanced = o ? o.vsockDevices.every((d) => d.packets.sent === d.packets.delivered + d.packets.queued + d.packets.dropped.reduce((n, x) => n + x.count, 0)) : false;
  const runMs = median(runs.map((r) => r.runMs));
  out(
    table(
      ['VMs', 'CPUs', 'total ms', 'run', 'steps', 'steps/s (run)', 'packets', 'delivered', 'lost in reset', 'packets/s (run)', 'peak RSS MiB', 'end', 'check'],
      [
        [
          fmt(vms),
          fmt(runs[0]?.cpus ?? 0),
          fmt(median(runs.map((r) => r.totalMs))),
          fmt(runMs),
          fmt(o?.steps ?? 0),
          fmt(((o?.steps ?? 0) / runMs) * 1000),
          fmt(sent),
          fmt(delivered),
          fmt(lost),
          fmt((sent / runMs) * 1000),
          fmt(Math.max(...runs.map((r) => r.peakRssMiB))),
          o?.end ?? '-',
          [o?.end === 'reset' ? '' : `end ${o?.end}`, balanced ? '' : 'packets do not balance', o?.violations.length ? `${o.violations.length} violations` : ''].filter(Boolean).join('; ') || 'ok',
        ],
      ],
    ),
  );
  out();
}

/**
 * The hardening issue's rows: a step's cost with many vCPUs on one CPU (the owner lookup), and what
 * N CPUs all sending NMI-to-all keep in flight (NMIs collapse per CPU, as its one NMI latch does).
 */
export function worstCaseRows(peak: PeakRss, out: (line?: string) => void, reps: number): void {
  const vcpus = Math.min(envInt('BENCH_CROWD_VCPUS', 400), 4096);
  const steps = envInt('BENCH_CROWD_STEPS', 1000);
  const cpus = Math.min(envInt('BENCH_STORM_CPUS', 2048), 8192);
  out(`== 1d. Input-sized worst cases: ${vcpus} vCPUs on one CPU for ${fmt(steps)} steps; ${fmt(cpus)} CPUs all doing SysRq-b at 0 (seed 1; one run each) ==`);
  const crowd = timedRun(() => benchScenario(crowdedCpuRaw(vcpus, steps)), { peak, maxSteps: steps });
  let inFlight = 0;
  let most = 0;
  const storm = timedRun(() => benchScenario(sysrqStormRaw(cpus)), {
    peak,
    sink: (r) => {
      if (r.t === 'send') inFlight += r.targets;
      else if (r.t === 'deliver') {
        inFlight -= 1;
        // A collapsed NMI ends right after its send: what waits is what is left once those have.
        if (r.reason?.startsWith('collapsed into')) return;
      }
      if (r.t !== 'send') most = Math.max(most, inFlight);
    },
  });
  const so = storm.outcome;
  out(
    table(
      ['case', 'total ms', 'run', 'steps', 'µs/step', 'records', 'most in flight', 'peak RSS MiB', 'end', 'check'],
      [
        [`${vcpus} vCPUs on CPU 1`, fmt(crowd.totalMs), fmt(crowd.runMs), fmt(crowd.outcome.steps), fmt((crowd.runMs * 1000) / crowd.outcome.steps, 1), fmt(crowd.records), '-', fmt(crowd.peakRssMiB), crowd.outcome.end, crowd.outcome.steps === steps ? 'ok' : `stopped at ${crowd.outcome.steps}`],
        [
          `${cpus} CPUs SysRq-b`,
          fmt(storm.totalMs),
          fmt(storm.runMs),
          fmt(so.steps),
          fmt((storm.runMs * 1000) / so.steps, 1),
          fmt(storm.records),
          fmt(most),
          fmt(storm.peakRssMiB),
          so.end,
          so.end === 'reset' && so.messages.inFlight === 0 ? 'ok' : `end ${so.end}, ${so.messages.inFlight} in flight`,
        ],
      ],
    ),
  );
  out(`(most in flight: deliveries sent and not yet made, at most one NMI per CPU and source; without collapsing ${fmt(cpus * (cpus - 1))})`);
  out();
}
