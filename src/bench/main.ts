/**
 * `npm run bench`: how fast and how big the simulator is, against the raw speed of its stack.
 *
 *  1. Emergency restart with NMI shootdown for 4 … 8192 CPUs (median of 3), phase by phase; then the compiled
 *     chart runner against XState's interpreter (engine 'actors') on the same scenario, interleaved pairs.
 *  2. The simulator against the raw baseline of docs/architecture.md §4 (8,192 tiny XState actors behind one
 *     RxJS Subject), interleaved pairs: each side's median and range, and the range of the per-pair ratio.
 *  1b. 511 responders with 2 vCPUs each in L2 (issue #3); 1c. VMs with vsock traffic shot down (issue #4).
 *  1d. Input-sized worst cases: 400 vCPUs on one CPU; 2,048 CPUs all doing SysRq-b at once.
 *  3. A 1,000,000-step soak with the trace streamed to a file: memory must not grow with steps.
 *  4. Exploration (exploration.ts); 5. the cold start of `shootdown run` (cold.ts); 6. beside SPIN (spin.ts).
 *
 * Every comparison runs its two sides interleaved in one process (A, B, A, B, …; paired.ts), never a ratio
 * of two single samples. Informational only: targets are printed as PASS/MISS and the process exits 0
 * either way.
 * Knobs (environment): BENCH_SIZES=4,64,512  BENCH_REPS=3  BENCH_PAIRS=7  BENCH_ENGINE_SIZES=512,8192
 * BENCH_BASELINE_EVENTS=500000  BENCH_SECTIONS=1,2,3,4,5,6 (which sections run)
 * BENCH_SOAK_STEPS=1000000  BENCH_SOAK_CPUS=512  BENCH_VCPU_CPUS=512  BENCH_VSOCK_VMS=16
 * BENCH_VSOCK_PACKETS=4096  BENCH_VSOCK_RESTART_NS=6000  BENCH_CROWD_VCPUS=400  BENCH_CROWD_STEPS=1000
 * BENCH_STORM_CPUS=2048  BENCH_EXPLORE_RUNS=5  BENCH_GUEST_RUNS=1 (0: skip 4c)  BENCH_SPIN_CPUS=2,3 (2 … 4)
 * BENCH_SPIN_PAIRS=3.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScenario } from '../sim/run.js';
import { runBaseline, type BaselineResult } from './baseline.js';
import { coldRows } from './cold.js';
import { interleave, pairedSummary, ratioText, spreadText, type PairedSummary } from './paired.js';
import { spinRows } from './spin.js';
import { canCollect, collect, fmt, heapUsedMiB, median, now, PeakRss, rssMiB, table } from './measure.js';
import { benchScenario, checkEmergencyRestart, crowdedCpuRaw, emergencyRestart, sysrqStormRaw, timedEmergencyRestart, timedRun, vsockTrafficRaw, type TimedRun } from './scenarios.js';
import { TraceFile } from './trace-file.js';
import { exploration } from './exploration.js';

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined ? Number.NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function envList(name: string, fallback: number[]): number[] {
  const v = process.env[name];
  if (v === undefined) return fallback;
  const list = v.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0 && n <= 8192);
  return list.length > 0 ? list : fallback;
}

const SIZES = envList('BENCH_SIZES', [4, 64, 512, 4096, 8192]);
const REPS = envInt('BENCH_REPS', 3);
/** Pairs of every interleaved comparison. */
const PAIRS = envInt('BENCH_PAIRS', 7);
const ENGINE_SIZES = envList('BENCH_ENGINE_SIZES', [512, 8192]);
const SECTIONS = new Set(envList('BENCH_SECTIONS', [1, 2, 3, 4, 5, 6]));
const SPIN_CPUS = envList('BENCH_SPIN_CPUS', [2, 3]).filter((n) => n >= 2 && n <= 4);
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const BASELINE_ACTORS = 8192;
const BASELINE_EVENTS = envInt('BENCH_BASELINE_EVENTS', 500_000);
const SOAK_STEPS = envInt('BENCH_SOAK_STEPS', 1_000_000);
const SOAK_CPUS = Math.min(envInt('BENCH_SOAK_CPUS', 512), 8192);

const TARGET_MS = 1000;
const TARGET_MIB = 512;
const TARGET_RATIO = 0.5;
/** "Close to linear": ms per CPU at the largest size at most this many times that at the reference size. */
const LINEAR_SLACK = 1.5;
const LINEAR_REFERENCE = 512;

const out = (s = ''): void => {
  process.stdout.write(s + '\n');
};

interface SizeSummary {
  cpus: number;
  runs: TimedRun[];
  totalMs: number;
  validateMs: number;
  buildMs: number;
  runMs: number;
  stopMs: number;
  steps: number;
  records: number;
  peakRssMiB: number;
  problems: string[];
}

function summarize(cpus: number, runs: TimedRun[]): SizeSummary {
  const first = runs[0];
  if (!first) throw new Error('no runs');
  const steps = new Set(runs.map((r) => r.outcome.steps));
  const problems = [...new Set(runs.flatMap(checkEmergencyRestart))];
  if (steps.size > 1) problems.push(`steps differ between repeats: ${[...steps].join(', ')}`);
  return {
    cpus,
    runs,
    totalMs: median(runs.map((r) => r.totalMs)),
    validateMs: median(runs.map((r) => r.validateMs)),
    buildMs: median(runs.map((r) => r.buildMs)),
    runMs: median(runs.map((r) => r.runMs)),
    stopMs: median(runs.map((r) => r.stopMs)),
    steps: first.outcome.steps,
    records: first.records,
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    problems,
  };
}

function scaling(peak: PeakRss): SizeSummary[] {
  out(`== 1. Emergency restart with NMI shootdown (every CPU in VMX root, 1 loaded VMCS; seed 1; median of ${REPS}) ==`);
  // Sanity: the bench's phase-timed path is runScenario's path.
  const viaRun = runScenario(emergencyRestart(64), { seed: 1 }).outcome;
  const viaBench = timedEmergencyRestart(64, { peak }).outcome;
  out(
    `check: runScenario and the phase-timed path agree at 64 CPUs: ` +
      (viaRun.steps === viaBench.steps && viaRun.end === viaBench.end ? `yes (${viaRun.steps} steps, ${viaRun.end})` : `NO (${viaRun.steps}/${viaRun.end} vs ${viaBench.steps}/${viaBench.end})`),
  );
  const sizes: SizeSummary[] = [];
  for (const cpus of SIZES) {
    const runs: TimedRun[] = [];
    for (let i = 0; i < REPS; i++) runs.push(timedEmergencyRestart(cpus, { peak }));
    const s = summarize(cpus, runs);
    sizes.push(s);
    out(
      `  ${String(cpus).padStart(4)} CPUs: total ${runs.map((r) => fmt(r.totalMs)).join(' / ')} ms` +
        ` (run ${runs.map((r) => fmt(r.runMs)).join(' / ')}, stop ${runs.map((r) => fmt(r.stopMs)).join(' / ')})`,
    );
  }
  out();
  out(
    table(
      ['CPUs', 'total ms', 'ms/CPU', 'validate', 'build', 'run', 'stop', 'steps', 'records', 'steps/s (run)', 'steps/s (total)', 'µs/step', 'peak RSS MiB', 'end', 'acked', 'check'],
      sizes.map((s) => {
        const o = s.runs[0]?.outcome;
        return [
          fmt(s.cpus),
          fmt(s.totalMs),
          fmt(s.totalMs / s.cpus, 3),
          fmt(s.validateMs, 1),
          fmt(s.buildMs),
          fmt(s.runMs),
          fmt(s.stopMs),
          fmt(s.steps),
          fmt(s.records),
          fmt(s.steps / (s.runMs / 1000)),
          fmt(s.steps / (s.totalMs / 1000)),
          fmt((s.runMs * 1000) / s.steps, 1),
          fmt(s.peakRssMiB),
          o?.end ?? '?',
          `${o?.shootdowns[0]?.acked.length ?? 0}/${s.cpus - 1}`,
          s.problems.length === 0 ? 'ok' : 'FAIL',
        ];
      }),
    ),
  );
  out(`(engine: the compiled chart runner, the simulator's default; phases are medians in ms: validate = validateScenario;`);
  out(` build = new Simulation + subscribe + header (every CPU's chart in its initial state);`);
  out(` run = sim.run(); stop = sim.stop(); total = median of the per-repeat sums. Peak RSS: ${peak.source}, max over repeats.)`);
  for (const s of sizes) for (const p of s.problems) out(`  PROBLEM at ${s.cpus} CPUs: ${p}`);
  out();
  engines(peak);
  return sizes;
}

/**
 * The same scenario on the two engines, interleaved: the compiled chart runner (the default) and XState's
 * interpreter (engine 'actors': one actor per CPU, createActor/send, in one actor system).
 */
function engines(peak: PeakRss): void {
  const sizes = ENGINE_SIZES.filter((n) => n <= Math.max(...SIZES));
  if (sizes.length === 0) return;
  out(`-- 1a. The same scenario on both engines, ${PAIRS} pairs each (runner, interpreter, runner, …) --`);
  const rows: string[][] = [];
  for (const cpus of sizes) {
    const r = interleave(
      PAIRS,
      () => timedEmergencyRestart(cpus, { peak }),
      () => timedEmergencyRestart(cpus, { peak, engine: 'actors' }),
    );
    const run = pairedSummary(
      r.b.map((x) => x.runMs),
      r.a.map((x) => x.runMs),
    );
    const total = pairedSummary(
      r.b.map((x) => x.totalMs),
      r.a.map((x) => x.totalMs),
    );
    const steps = new Set([...r.a, ...r.b].map((x) => x.outcome.steps));
    const problems = [...new Set([...r.a, ...r.b].flatMap(checkEmergencyRestart))];
    if (steps.size > 1) problems.push(`steps differ: ${[...steps].join(', ')}`);
    rows.push([
      fmt(cpus),
      fmt(r.a[0]?.outcome.steps ?? 0),
      spreadText(run.b, (n) => fmt(n)),
      spreadText(run.a, (n) => fmt(n)),
      ratioText(run.ratio, 1),
      spreadText(total.b, (n) => fmt(n)),
      spreadText(total.a, (n) => fmt(n)),
      ratioText(total.ratio, 1),
      fmt(((run.b.median * 1000) / (r.a[0]?.outcome.steps ?? 1)), 1),
      fmt(((run.a.median * 1000) / (r.a[0]?.outcome.steps ?? 1)), 1),
      problems.length === 0 ? 'ok' : problems.join('; '),
    ]);
  }
  out(
    table(
      ['CPUs', 'steps', 'runner run ms', 'interpreter run ms', 'interpreter ÷ runner (run)', 'runner total ms', 'interpreter total ms', 'interpreter ÷ runner (total)', 'runner µs/step', 'interpreter µs/step', 'check'],
      rows,
    ),
  );
  out(`(runner: the compiled chart runner, src/sim/chart-runner.ts, the simulator's default; interpreter: XState's own,`);
  out(` engine 'actors', createActor/send per CPU; the same machine definitions. ms as median (min–max); ratios per pair.)`);
  out();
}

interface BaselinePairs {
  cpus: number;
  steps: number;
  /** Simulator steps/s (run phase) ÷ baseline events/s, per pair. */
  run: PairedSummary;
  /** Simulator steps / total wall ÷ baseline events/s, per pair. */
  endToEnd: PairedSummary;
  baseline: BaselineResult[];
}

/**
 * The simulator against the raw stack, interleaved: the 8192-CPU emergency restart of section 1 (steps/s
 * of its run phase) and the baseline of docs/architecture.md §4 (events/s), one after the other, PAIRS times.
 */
function baseline(peak: PeakRss): BaselinePairs {
  const cpus = Math.max(...SIZES);
  out(`== 2. The simulator against the raw XState-on-RxJS baseline (docs/architecture.md §4), ${PAIRS} pairs (simulator, baseline, simulator, …) ==`);
  out(`A: shootdown's Simulation, ${fmt(cpus)}-CPU emergency restart (section 1), on the compiled chart runner (src/sim/chart-runner.ts): steps/s`);
  out(`B: XState's interpreter, createActor/send: ${fmt(BASELINE_ACTORS)} actors (idle <-ping-> busy) behind one RxJS Subject, one subscription`);
  out(`   and a Map lookup (src/bench/baseline.ts), ${fmt(BASELINE_EVENTS)} events: events/s`);
  // One short warm-up of each so the JIT has seen both paths.
  runBaseline(BASELINE_ACTORS, Math.min(BASELINE_EVENTS, 50_000), peak);
  timedEmergencyRestart(Math.min(cpus, 512), { peak });
  const r = interleave(
    PAIRS,
    () => timedEmergencyRestart(cpus, { peak }),
    () => runBaseline(BASELINE_ACTORS, BASELINE_EVENTS, peak),
  );
  const steps = r.a[0]?.outcome.steps ?? 0;
  const simRun = r.a.map((x) => x.outcome.steps / (x.runMs / 1000));
  const simTotal = r.a.map((x) => x.outcome.steps / (x.totalMs / 1000));
  const base = r.b.map((x) => x.eventsPerSec);
  const run = pairedSummary(simRun, base);
  const endToEnd = pairedSummary(simTotal, base);
  out(
    table(
      ['side: what it runs', 'per second: median (min–max)', 'peak RSS MiB'],
      [
        [`A, run: compiled chart runner, ${fmt(cpus)} CPUs, ${fmt(steps)} steps, sim.run()`, spreadText(run.a, (n) => fmt(n)), fmt(Math.max(...r.a.map((x) => x.peakRssMiB)))],
        ['A, end to end: the same, steps ÷ (validate + build + run + stop)', spreadText(endToEnd.a, (n) => fmt(n)), '-'],
        [`B: XState interpreter, createActor/send, ${fmt(BASELINE_ACTORS)} actors, RxJS Subject`, spreadText(run.b, (n) => fmt(n)), fmt(Math.max(...r.b.map((x) => x.peakRssMiB)))],
      ],
    ),
  );
  out(`A run ÷ B per pair: ${ratioText(run.ratio)}; A end to end ÷ B: ${ratioText(endToEnd.ratio)}`);
  out(`(per pair: ${run.ratios.map((x) => x.toFixed(2)).join(', ')})`);
  out();
  return { cpus, steps, run, endToEnd, baseline: r.b };
}

function targets(sizes: SizeSummary[], b: BaselinePairs | null): void {
  out('== Targets (informational: the exit code is 0 either way) ==');
  const largest = sizes.reduce<SizeSummary | undefined>((m, s) => (m === undefined || s.cpus > m.cpus ? s : m), undefined);
  const ref = sizes.find((s) => s.cpus === LINEAR_REFERENCE);
  const rows: string[][] = [];
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  if (largest) {
    const n = fmt(largest.cpus);
    rows.push([`${n} CPUs wall time (build+run+stop)`, `${fmt(largest.totalMs)} ms`, `< ${fmt(TARGET_MS)} ms`, verdict(largest.totalMs < TARGET_MS)]);
    rows.push([`${n} CPUs peak RSS`, `${fmt(largest.peakRssMiB)} MiB`, `< ${TARGET_MIB} MiB`, verdict(largest.peakRssMiB < TARGET_MIB)]);
    if (ref && ref !== largest) {
      const growth = largest.totalMs / largest.cpus / (ref.totalMs / ref.cpus);
      const exponent = Math.log(largest.totalMs / ref.totalMs) / Math.log(largest.cpus / ref.cpus);
      rows.push([
        `ms/CPU at ${n} vs at ${ref.cpus} (time ~ CPUs^${exponent.toFixed(2)})`,
        `x${growth.toFixed(2)}`,
        `<= x${LINEAR_SLACK}`,
        verdict(growth <= LINEAR_SLACK),
      ]);
      const runGrowth = largest.runMs / largest.cpus / (ref.runMs / ref.cpus);
      rows.push([`  same, run phase only`, `x${runGrowth.toFixed(2)}`, `<= x${LINEAR_SLACK}`, verdict(runGrowth <= LINEAR_SLACK)]);
    }
  }
  if (b) {
    rows.push([
      `steps/s at ${fmt(b.cpus)} (run phase) ÷ baseline events/s, ${b.run.pairs} pairs`,
      ratioText(b.run.ratio),
      `>= ${TARGET_RATIO}`,
      verdict(b.run.ratio.median >= TARGET_RATIO),
    ]);
    rows.push([`  same, end to end (steps ÷ total wall)`, ratioText(b.endToEnd.ratio), `>= ${TARGET_RATIO}`, verdict(b.endToEnd.ratio.median >= TARGET_RATIO)]);
  }
  out(table(['target', 'measured', 'goal', 'verdict'], rows));
  out();
  out(table(['CPUs', 'total ms/CPU', 'run ms/CPU', 'build ms/CPU', 'stop ms/CPU', 'steps/CPU'], sizes.map((s) => [
    fmt(s.cpus),
    fmt(s.totalMs / s.cpus, 3),
    fmt(s.runMs / s.cpus, 3),
    fmt(s.buildMs / s.cpus, 3),
    fmt(s.stopMs / s.cpus, 3),
    fmt(s.steps / s.cpus, 2),
  ])));
  out();
}

function soak(peak: PeakRss): void {
  out(`== 3. Soak: >= ${fmt(SOAK_STEPS)} scheduler steps, trace streamed to a file as JSON lines ==`);
  out(
    `(no built-in scenario runs that long: every spin/wait is a blocked state and each script step fires once; so the ` +
      `${fmt(SOAK_CPUS)}-CPU emergency restart runs again and again, a fresh Simulation each time, all traces into one file)`,
  );
  const file = new TraceFile(join(tmpdir(), `shootdown-bench-soak-${process.pid}.jsonl`));
  const checkpoints: { steps: number; runs: number; rss: number; heap: number }[] = [];
  const checkpoint = (steps: number, runs: number) => {
    collect();
    checkpoints.push({ steps, runs, rss: rssMiB(), heap: heapUsedMiB() });
  };
  let steps = 0;
  let runs = 0;
  let runMs = 0;
  let wallMs = 0;
  let maxRss = 0;
  const problems = new Set<string>();
  const every = Math.max(1, Math.floor(SOAK_STEPS / 4));
  let nextCheckpoint = every;
  try {
    checkpoint(0, 0);
    peak.reset();
    while (steps < SOAK_STEPS) {
      const t0 = now();
      const r = timedEmergencyRestart(SOAK_CPUS, { peak, gcBefore: false, sink: (rec) => file.write(rec) });
      wallMs += now() - t0;
      runMs += r.runMs;
      steps += r.outcome.steps;
      runs += 1;
      for (const p of checkEmergencyRestart(r)) problems.add(p);
      maxRss = Math.max(maxRss, rssMiB());
      if (steps >= nextCheckpoint || steps >= SOAK_STEPS) {
        const t1 = now();
        file.flush();
        wallMs += now() - t1;
        checkpoint(steps, runs);
        while (nextCheckpoint <= steps) nextCheckpoint += every;
      }
    }
    const t2 = now();
    file.flush();
    wallMs += now() - t2;
  } finally {
    file.remove();
  }
  out(
    table(
      ['after steps', 'runs', 'RSS MiB (after gc)', 'heap used MiB (after gc)'],
      checkpoints.map((c) => [fmt(c.steps), fmt(c.runs), fmt(c.rss, 1), fmt(c.heap, 1)]),
    ),
  );
  const start = checkpoints[0];
  const warm = checkpoints[1];
  const end = checkpoints[checkpoints.length - 1];
  out();
  out(
    table(
      ['steps', 'runs', 'records', 'file MiB', 'wall ms', 'steps/s (wall)', 'steps/s (run phase)', 'peak RSS MiB', 'max RSS between runs'],
      [[fmt(steps), fmt(runs), fmt(file.records), fmt(file.bytes / 1024 / 1024, 1), fmt(wallMs), fmt(steps / (wallMs / 1000)), fmt(steps / (runMs / 1000)), fmt(peak.peak()), fmt(maxRss)]],
    ),
  );
  if (start && warm && end) {
    const growth = end.heap - warm.heap;
    out(
      `RSS start ${fmt(start.rss, 1)} MiB, end ${fmt(end.rss, 1)} MiB (after gc); heap used after the first quarter ` +
        `${fmt(warm.heap, 1)} MiB, at the end ${fmt(end.heap, 1)} MiB: ${growth <= Math.max(8, warm.heap * 0.1) ? 'PASS' : 'MISS'} flat memory ` +
        `(growth ${fmt(growth, 1)} MiB over ${fmt(end.steps - warm.steps)} steps)`,
    );
  }
  out(`trace file ${file.path}: ${fmt(file.records)} records, ${fmt(file.bytes)} bytes written, deleted`);
  out(problems.size === 0 ? `every soak run reset with all ${SOAK_CPUS - 1} responders acked` : `PROBLEMS: ${[...problems].join('; ')}`);
  out();
}

/** Issue #3: 512 CPUs, 2 vCPUs each in L2, emergency restart. */
function vcpuRow(peak: PeakRss): void {
  const cpus = Math.min(envInt('BENCH_VCPU_CPUS', 512), 8192);
  out(`== 1b. Emergency restart with ${cpus - 1} responders holding 2 vCPUs each in L2 (seed 1; median of ${REPS}) ==`);
  const runs: TimedRun[] = [];
  for (let i = 0; i < REPS; i++) runs.push(timedEmergencyRestart(cpus, { peak, vcpusPerCpu: 2 }));
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
function vsockRow(peak: PeakRss): void {
  const vms = Math.min(envInt('BENCH_VSOCK_VMS', 16), 1024);
  const packets = Math.min(envInt('BENCH_VSOCK_PACKETS', 4096), 4096);
  const restartNs = envInt('BENCH_VSOCK_RESTART_NS', 6_000);
  out(`== 1c. ${vms} VMs with a vsock device each, ${fmt(packets)} host packets per VM, SysRq-b at ${fmt(restartNs)} ns (seed 1; median of ${REPS}) ==`);
  const runs: TimedRun[] = [];
  for (let i = 0; i < REPS; i++) runs.push(timedRun(() => benchScenario(vsockTrafficRaw(vms, packets, restartNs)), { peak }));
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
function worstCaseRows(peak: PeakRss): void {
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

async function main(): Promise<void> {
  const t0 = now();
  const peak = new PeakRss();
  out(`shootdown bench: node ${process.version}, ${process.platform}/${process.arch}, gc ${canCollect() ? 'exposed' : 'NOT exposed (run with --expose-gc)'}`);
  out(`sizes ${SIZES.join(', ')}; repeats ${REPS}; pairs ${PAIRS}; baseline ${fmt(BASELINE_EVENTS)} events; soak ${fmt(SOAK_STEPS)} steps at ${SOAK_CPUS} CPUs; sections ${[...SECTIONS].join(', ')}`);
  out();
  let sizes: SizeSummary[] = [];
  if (SECTIONS.has(1)) {
    sizes = scaling(peak);
    vcpuRow(peak);
    vsockRow(peak);
    worstCaseRows(peak);
  }
  const b = SECTIONS.has(2) ? baseline(peak) : null;
  if (SECTIONS.has(1) || b) targets(sizes, b);
  if (SECTIONS.has(3)) soak(peak);
  if (SECTIONS.has(4)) exploration(peak, out);
  if (SECTIONS.has(5)) await coldRows(out, CLI, PAIRS);
  if (SECTIONS.has(6)) spinRows(out, CLI, Math.min(PAIRS, envInt('BENCH_SPIN_PAIRS', 3)), SPIN_CPUS);
  out(`bench done in ${fmt((now() - t0) / 1000, 1)} s`);
}

await main();
