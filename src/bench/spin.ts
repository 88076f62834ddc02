/**
 * Section 6 of `npm run bench`: shootdown's explorer beside SPIN on the same race. src/bench/data/spin/shootdown.pml is
 * an independent Promela model of race R2 (a task-context emergency restart on one CPU, a panic with kdump on
 * another, the others in VMX root with a loaded VMCS), per kernel era; SPIN turns it into a C verifier (pan)
 * that searches every interleaving. For each CPU count and era, pan and `shootdown explore R2` run
 * interleaved, each in a fresh process: the whole state space (pan with no property; shootdown with
 * `--all-violations`), then the time to the verdict on "no kernel BUG" (SPIN's P1; `--property
 * no-kernel-bug`), from nothing to the answer (spin + cc + pan; the whole shootdown process).
 * Runs only when `spin` and `cc` are on PATH; otherwise it says how to get them and is skipped.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, table } from './measure.js';
import { interleave, pairedSummary, ratioText, timeProcess, type ProcessRun } from './paired.js';

/** The model's ERA knob and the shootdown kernel preset of the same era (`shootdown kernels`). */
export const SPIN_ERAS: readonly { era: number; preset: string }[] = [
  { era: 0, preset: 'v5.10' },
  { era: 1, preset: 'v5.11' },
  { era: 2, preset: 'v6.2' },
  { era: 3, preset: 'v6.6' },
];

export interface PanResult {
  states: number;
  transitions: number;
  /** pan's own clock (0.01 s resolution). */
  elapsedS: number;
  errors: number;
}

/** The figures in pan's report. */
export function parsePan(text: string): PanResult {
  const num = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m?.[1]) throw new Error(`pan's report has no ${re.source}`);
    return Number(m[1]);
  };
  return {
    states: num(/(\d+) states, stored/),
    transitions: num(/(\d+) transitions \(= /),
    elapsedS: num(/elapsed time ([\d.e+-]+) seconds/),
    errors: num(/errors: (\d+)/),
  };
}

function onPath(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

interface ExploreJson {
  statesVisited: number;
  transitions: number;
  elapsedMs: number;
  complete: boolean;
  violations: { property: string }[];
}

/** One pan build: `spin -a` and `cc` in a fresh folder; returns the folder and the milliseconds it took. */
function buildPan(model: string, defines: string[]): { dir: string; ms: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-bench-spin-'));
  fs.copyFileSync(model, path.join(dir, 'shootdown.pml'));
  const a = timeProcess('spin', ['-o2', ...defines, '-a', 'shootdown.pml'], { cwd: dir });
  if (a.status !== 0) throw new Error(`spin -a ${defines.join(' ')} failed: ${a.stdout}${a.stderr}`);
  const c = timeProcess('cc', ['-O2', '-DSAFETY', '-w', '-o', 'pan', 'pan.c'], { cwd: dir });
  if (c.status !== 0) throw new Error(`cc pan.c failed: ${c.stderr}`);
  return { dir, ms: a.ms + c.ms };
}

/** pan's search time: its own clock, or the process's wall clock when the search took under one 10 ms tick. */
function panSearchMs(p: { run: ProcessRun; pan: PanResult }): number {
  return p.pan.elapsedS >= 0.01 ? p.pan.elapsedS * 1000 : p.run.ms;
}

function runPan(dir: string): { run: ProcessRun; pan: PanResult } {
  const run = timeProcess(path.join(dir, 'pan'), ['-m100000', '-E'], { cwd: dir });
  return { run, pan: parsePan(run.stdout) };
}

export function spinRows(out: (line?: string) => void, cli: string, reps: number, cpusList: number[]): void {
  out(`== 6. Beside SPIN: race R2 in an independent Promela model (src/bench/data/spin/shootdown.pml) and in shootdown ==`);
  if (!onPath('spin', ['-V']) || !onPath('cc', ['--version'])) {
    out('SPIN not installed: apt-get install spin (and a C compiler, cc); section skipped');
    out();
    return;
  }
  const model = fileURLToPath(new URL('../../../src/bench/data/spin/shootdown.pml', import.meta.url));
  const explore = (args: string[]): { run: ProcessRun; json: ExploreJson } => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-bench-'));
    try {
      // The whole space at every CPU count the section takes (R2 v6.6 has 1.6 M states at 4 CPUs): the
      // default bound of a million is for a user's first try, not for a comparison of whole searches.
      const run = timeProcess(process.execPath, [cli, 'explore', 'R2', ...args, '--max-states', '20000000', '--json', '--out', dir]);
      if (run.status !== 0 && run.status !== 1) throw new Error(`shootdown explore R2 ${args.join(' ')} exited with ${run.status}: ${run.stderr}`);
      return { run, json: JSON.parse(run.stdout) as ExploreJson };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const full: string[][] = [];
  const verdicts: string[][] = [];
  for (const cpus of cpusList) {
    for (const { era, preset } of SPIN_ERAS) {
      const defines = [`-DN=${cpus}`, `-DERA=${era}`, '-DLAT=1'];
      // The whole space: pan with no property (PROP=0, only the model's sanity checks) and shootdown with every
      // property, every violation recorded, so that neither stops early.
      const build = buildPan(model, [...defines, '-DPROP=0']);
      let pairs;
      try {
        pairs = interleave(reps, () => runPan(build.dir), () => explore(['--cpus', String(cpus), '--kernel', preset, '--all-violations']));
      } finally {
        fs.rmSync(build.dir, { recursive: true, force: true });
      }
      const pan = pairs.a[0]?.pan as PanResult;
      const sd = pairs.b[0]?.json as ExploreJson;
      // Per state: µs of search per state stored/visited, shootdown's over pan's (pan's clock ticks in 10 ms: a pair
      // whose pan took under a tick is timed by its wall clock instead).
      const panUs = pairs.a.map((p) => (panSearchMs(p) * 1000) / p.pan.states);
      const sdUs = pairs.b.map((p) => (p.json.elapsedMs * 1000) / p.json.statesVisited);
      const perState = pairedSummary(sdUs, panUs);
      const wall = pairedSummary(
        pairs.b.map((p) => p.run.ms),
        pairs.a.map((p) => p.run.ms + build.ms),
      );
      full.push([
        String(cpus),
        `E${era} / ${preset}`,
        `${fmt(pan.states)} / ${fmt(sd.statesVisited)}`,
        `${fmt(pan.transitions)} / ${fmt(sd.transitions)}`,
        `${fmt(median(pairs.a.map((p) => p.pan.states / (panSearchMs(p) / 1000))))} / ${fmt(median(pairs.b.map((p) => p.json.statesVisited / (p.json.elapsedMs / 1000))))}`,
        `${fmt(median(panUs), 2)} / ${fmt(median(sdUs), 2)}`,
        `${ratioText(perState.ratio, 1)} ${perState.ratio.median <= 2 ? 'PASS' : 'MISS'}`,
        `${fmt(build.ms)} + ${fmt(median(pairs.a.map((p) => p.run.ms)))} / ${fmt(median(pairs.b.map((p) => p.run.ms)))}`,
        ratioText(wall.ratio, 1),
        `${pan.errors === 0 ? 'ok' : `${pan.errors} errors`} / ${sd.complete ? 'complete' : 'INCOMPLETE'}`,
      ]);
      // Time to the verdict on "no kernel BUG": SPIN from the model (spin -a, cc, pan) and shootdown from its command.
      const v = interleave(
        reps,
        () => {
          const b = buildPan(model, [...defines, '-DPROP=1']);
          try {
            const r = runPan(b.dir);
            return { ms: b.ms + r.run.ms, violated: r.pan.errors > 0, states: r.pan.states };
          } finally {
            fs.rmSync(b.dir, { recursive: true, force: true });
          }
        },
        () => {
          const r = explore(['--cpus', String(cpus), '--kernel', preset, '--property', 'no-kernel-bug']);
          return { ms: r.run.ms, violated: r.json.violations.length > 0, states: r.json.statesVisited };
        },
      );
      const vs = pairedSummary(
        v.b.map((x) => x.ms),
        v.a.map((x) => x.ms),
      );
      const verdict = (x: { violated: boolean } | undefined) => (x?.violated ? 'BUG' : 'no BUG');
      verdicts.push([
        String(cpus),
        `E${era} / ${preset}`,
        `${verdict(v.a[0])} / ${verdict(v.b[0])}`,
        `${fmt(v.a[0]?.states ?? 0)} / ${fmt(v.b[0]?.states ?? 0)}`,
        `${fmt(vs.b.median)} (${fmt(vs.b.min)}–${fmt(vs.b.max)})`,
        `${fmt(vs.a.median)} (${fmt(vs.a.min)}–${fmt(vs.a.max)})`,
        ratioText(vs.ratio, 2),
      ]);
    }
  }
  out(`-- 6a. The whole state space, ${reps} pairs (pan, shootdown, pan, …); each cell is SPIN / shootdown --`);
  out(`   SPIN: spin -o2 -DN=<cpus> -DERA=<era> -DLAT=1 -DPROP=0 -a shootdown.pml; cc -O2 -DSAFETY -o pan pan.c; ./pan -m100000 -E`);
  out(`   shootdown: node dist/bin/shootdown.js explore R2 --cpus <cpus> --kernel <preset> --all-violations --json`);
  out(
    table(
      ['CPUs', 'era / preset', 'states', 'transitions', 'states/s (search)', 'µs/state (search)', 'µs/state: shootdown ÷ pan (goal ≤ 2×)', 'ms: build + pan / process', 'whole: shootdown ÷ SPIN', 'check'],
      full,
    ),
  );
  out(`(the two models cut the race at different grains, so their state counts differ; per state is what compares)`);
  out();
  out(`-- 6b. Time to the verdict on "no kernel BUG", ${reps} pairs: SPIN P1 (spin -a + cc + pan -E) vs shootdown explore R2 --property no-kernel-bug --json --`);
  out(table(['CPUs', 'era / preset', 'verdict', 'states to the verdict', 'SPIN ms', 'shootdown ms', 'shootdown ÷ SPIN'], verdicts));
  out();
}
