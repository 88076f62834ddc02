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
 *  4. Exploration (exploration.ts; 4e symmetry, symmetry-rows.ts); 5. the cold start of `shootdown run` (cold.ts); 6. beside SPIN (spin.ts).
 *
 * Every comparison runs its two sides interleaved in one process (A, B, A, B, …; paired.ts), never a ratio
 * of two single samples. Informational only: targets are printed as PASS/MISS and the process exits 0
 * either way.
 * Knobs (environment): BENCH_SIZES=4,64,512  BENCH_REPS=3  BENCH_PAIRS=7  BENCH_ENGINE_SIZES=512,8192
 * BENCH_BASELINE_EVENTS=500000  BENCH_SECTIONS=1,2,3,4,5,6 (which sections run)
 * BENCH_SOAK_STEPS=1000000  BENCH_SOAK_CPUS=512  BENCH_VCPU_CPUS=512  BENCH_VSOCK_VMS=16
 * BENCH_VSOCK_PACKETS=4096  BENCH_VSOCK_RESTART_NS=6000  BENCH_CROWD_VCPUS=400  BENCH_CROWD_STEPS=1000
 * BENCH_STORM_CPUS=2048  BENCH_EXPLORE_RUNS=5  BENCH_GUEST_RUNS=1 (0: skip 4c)  BENCH_SPIN_CPUS=2,3 (2 … 4)
 * BENCH_SPIN_PAIRS=3  BENCH_SYMMETRY_PAIRS=2 (0: skip 4e)  BENCH_SYMMETRY_KERNELS=v6.2,v6.6  BENCH_SYMMETRY_CPUS=4.
 */
import { runScenario } from '../sim/run.js';
import { runBaseline, type BaselineResult } from './baseline.js';
import { BIN, coldRows } from './cold.js';
import { interleave, pairedSummary, ratioText, spreadText, type PairedSummary } from './paired.js';
import { spinRows } from './spin.js';
import { canCollect, fmt, median, now, PeakRss, table } from './measure.js';
import { checkEmergencyRestart, emergencyRestart, timedEmergencyRestart, type TimedRun } from './scenarios.js';
import { exploration } from './exploration.js';
import { symmetryRows } from './symmetry-rows.js';
import { envInt, envList } from './env.js';
import { soak } from './soak.js';
import { vcpuRow, vsockRow, worstCaseRows } from './guest-rows.js';


const SIZES = envList('BENCH_SIZES', [4, 64, 512, 4096, 8192]);
const REPS = envInt('BENCH_REPS', 3);
/** Pairs of every interleaved comparison. */
const PAIRS = envInt('BENCH_PAIRS', 7);
const ENGINE_SIZES = envList('BENCH_ENGINE_SIZES', [512, 8192]);
const SECTIONS = new Set(envList('BENCH_SECTIONS', [1, 2, 3, 4, 5, 6]));
const SPIN_CPUS = envList('BENCH_SPIN_CPUS', [2, 3]).filter((n) => n >= 2 && n <= 4);
/** The command as a user runs it (package.json's bin): every whole-process row times it. */
const CLI = BIN;
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

async function main(): Promise<void> {
  const t0 = now();
  const peak = new PeakRss();
  out(`shootdown bench: node ${process.version}, ${process.platform}/${process.arch}, gc ${canCollect() ? 'exposed' : 'NOT exposed (run with --expose-gc)'}`);
  out(`sizes ${SIZES.join(', ')}; repeats ${REPS}; pairs ${PAIRS}; baseline ${fmt(BASELINE_EVENTS)} events; soak ${fmt(SOAK_STEPS)} steps at ${SOAK_CPUS} CPUs; sections ${[...SECTIONS].join(', ')}`);
  out();
  let sizes: SizeSummary[] = [];
  if (SECTIONS.has(1)) {
    sizes = scaling(peak);
    vcpuRow(peak, out, REPS);
    vsockRow(peak, out, REPS);
    worstCaseRows(peak, out, REPS);
  }
  const b = SECTIONS.has(2) ? baseline(peak) : null;
  if (SECTIONS.has(1) || b) targets(sizes, b);
  if (SECTIONS.has(3)) soak(peak, out, SOAK_STEPS, SOAK_CPUS);
  if (SECTIONS.has(4)) {
    exploration(peak, out);
    symmetryRows(out);
  }
  if (SECTIONS.has(5)) await coldRows(out, CLI, PAIRS);
  if (SECTIONS.has(6)) spinRows(out, CLI, Math.min(PAIRS, envInt('BENCH_SPIN_PAIRS', 3)), SPIN_CPUS);
  out(`bench done in ${fmt((now() - t0) / 1000, 1)} s`);
}

await main();
