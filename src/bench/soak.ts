/** Bench section 3: a long soak with the trace streamed to a file, memory checked at checkpoints (main.ts). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, fmt, heapUsedMiB, now, PeakRss, rssMiB, table } from './measure.js';
import { checkEmergencyRestart, timedEmergencyRestart } from './scenarios.js';
import { TraceFile } from './trace-file.js';
export function soak(peak: PeakRss, out: (line?: string) => void, soakSteps: number, soakCpus: number): void {
  out(`== 3. Soak: >= ${fmt(soakSteps)} scheduler steps, trace streamed to a file as JSON lines ==`);
  out(
    `(no built-in scenario runs that long: every spin/wait is a blocked state and each script step fires once; so the ` +
      `${fmt(soakCpus)}-CPU emergency restart runs again and again, a fresh Simulation each time, all traces into one file)`,
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
  const every = Math.max(1, Math.floor(soakSteps / 4));
  let nextCheckpoint = every;
  try {
    checkpoint(0, 0);
    peak.reset();
    while (steps < soakSteps) {
      const t0 = now();
      const r = timedEmergencyRestart(soakCpus, { peak, gcBefore: false, sink: (rec) => file.write(rec) });
      wallMs += now() - t0;
      runMs += r.runMs;
      steps += r.outcome.steps;
      runs += 1;
      for (const p of checkEmergencyRestart(r)) problems.add(p);
      maxRss = Math.max(maxRss, rssMiB());
      if (steps >= nextCheckpoint || steps >= soakSteps) {
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
  out(problems.size === 0 ? `every soak run reset with all ${soakCpus - 1} responders acked` : `PROBLEMS: ${[...problems].join('; ')}`);
  out();
}

/** Issue #3: 512 CPUs, 2 vCPUs each in L2, emergency restart. */
