/**
 * What-if branches of a run. Every nondeterministic choice of a run is one call of its chooser, and
 * a trace records each pick (the `choice` records, numbered from 0: the decisions). Replaying the
 * picks before decision K gives the state at K; the chooser's `n` there is the number of enabled
 * choices, and the scheduler's ready items (or the delivery a latency is chosen for) say what each
 * one is. A branch replays the picks before K, takes another option at K, and lets the run's own
 * seeded chooser make the rest: same scenario, kernel and seed, so `run --replay` reproduces it.
 *
 * Both work by wrapping the chooser: nothing in the simulation changes.
 */
import type { Scenario } from '../scenarios/types.js';
import type { BranchPoint, ChoiceKind, TraceRecord } from '../trace/records.js';
import { ReplayChooser, ReplayDivergence, SeededChooser, type Chooser, type ChooserState, type Pick } from './chooser.js';
import { Simulation, type SchedulingMode } from './simulation.js';
import { runScenarioInSlices, type RunResult } from './run.js';

/** The run a trace comes from: what a replay or a branch of it runs. */
export interface BranchBase {
  scenario: Scenario;
  seed: number;
  mode: SchedulingMode;
}

export interface ChoiceOption {
  /** The pick that takes it: 0 ≤ option < n. */
  option: number;
  /** For a scheduler choice, the item's key (`s1`: CPU1 steps, `d2<nmi:…`: a message lands on CPU2, …). */
  key?: string;
  text: string;
}

export interface DecisionChoices {
  decision: number;
  kind: ChoiceKind;
  /** How many choices were enabled. */
  n: number;
  /** The option the trace took. */
  taken: number;
  /** Virtual time of the decision, ns. */
  ns: number;
  /**
   * The options, in pick order: all of a scheduler choice's (at most MAX_LISTED), a sample of a
   * latency's (the shortest, the longest, the one taken and evenly spaced ones between).
   */
  options: ChoiceOption[];
}

/** A scheduler choice lists at most this many options (any option < n can still be taken). */
export const MAX_LISTED = 200;
/** How many of a latency choice's values are listed: hundreds of nanosecond steps say nothing more. */
const LATENCY_SAMPLES = 11;

function sampled(n: number, taken: number): number[] {
  const picks = new Set<number>([taken]);
  for (let k = 0; k < LATENCY_SAMPLES; k++) picks.add(Math.round((k * (n - 1)) / (LATENCY_SAMPLES - 1)));
  return [...picks].sort((a, b) => a - b);
}

/** A branch that cannot be run or kept, with the HTTP status the viewer's server answers it with (4xx). */
export class BranchError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Thrown by the probe to stop a replay at the decision it was asked about. */
class Reached extends Error {}

/** A chooser that counts the decisions (calls with n > 1) and calls `at` before making decision `target`. */
class ProbeChooser implements Chooser {
  private decisions = 0;

  constructor(
    private readonly inner: Chooser,
    private readonly target: number,
    private readonly at: (n: number, kind: ChoiceKind) => void,
  ) {}

  choose(n: number, kind: ChoiceKind): number {
    if (n > 1 && this.decisions++ === this.target) this.at(n, kind);
    return this.inner.choose(n, kind);
  }

  save(): ChooserState {
    return this.inner.save();
  }
}

/**
 * The picks of `prefix` before decision `decision`, `option` there, then what a seeded chooser of
 * `seed` draws. The seeded chooser draws at every decision, replayed ones too, so it stays where
 * the original seeded run had it: taking the option the trace took reproduces a seeded trace.
 */
export class BranchChooser implements Chooser {
  private readonly replay: ReplayChooser;
  private readonly seeded: SeededChooser;
  private decisions = 0;

  constructor(
    prefix: readonly Pick[],
    seed: number,
    private readonly decision: number,
    private readonly option: number,
  ) {
    this.replay = new ReplayChooser(prefix.slice(0, decision));
    this.seeded = new SeededChooser(seed);
  }

  choose(n: number, kind: ChoiceKind): number {
    if (n <= 1) return 0;
    const k = this.decisions++;
    const drawn = this.seeded.choose(n);
    if (k < this.decision) return this.replay.choose(n, kind);
    if (k === this.decision) {
      if (this.option >= n) throw new ReplayDivergence(`decision ${k} has ${n} choices, not ${this.option + 1}`);
      return this.option;
    }
    return drawn;
  }

  save(): ChooserState {
    throw new Error('a branch chooser is not saved');
  }
}

/** The words for one enabled scheduler item, from its key (see Simulation.choiceKeys) and where each actor is. */
function describeKey(key: string, scenario: Scenario, where: Map<string, string>): string {
  const at = (actor: string) => {
    const s = where.get(actor);
    return s ? ` (in ${s})` : '';
  };
  let m: RegExpExecArray | null;
  if ((m = /^s(\d+)$/.exec(key))) return `CPU${m[1]} steps${at(`cpu${m[1]}`)}`;
  if ((m = /^t(\d+):(.*)$/.exec(key))) return `timer ${m[2]} fires on CPU${m[1]}`;
  if ((m = /^x(\d+)$/.exec(key))) {
    const step = scenario.script.find((s) => s.index === Number(m?.[1]));
    return step ? `script[${step.index}] runs: ${step.action} on CPU${step.cpu}` : `script[${m[1]}] runs`;
  }
  if ((m = /^v(\d+)$/.exec(key))) return `vCPU${m[1]} thread steps${at(`vcpu${m[1]}`)}`;
  if ((m = /^u(\d+)$/.exec(key))) return `VMM thread of vCPU${m[1]} steps${at(`vmm${m[1]}`)}`;
  if ((m = /^w(\d+)$/.exec(key))) return `vhost worker of vsock device ${m[1]} runs${at(`vsock${m[1]}`)}`;
  if ((m = /^d(\d+)<([^:]*):([^:]*):([^:]*):(.*)$/.exec(key))) {
    const [, cpu, mode, vector, from, source] = m;
    const what = `${(mode ?? '').toUpperCase()}${vector ? ` vector 0x${Number(vector).toString(16)}` : ''}`;
    const sender = from === 'platform' ? 'the platform' : `CPU${from}`;
    return `${what} from ${sender} (${source}) lands on CPU${cpu}${at(`cpu${cpu}`)}`;
  }
  if ((m = /^d(\d+)<\?(\d+)$/.exec(key))) return `message #${m[2]} lands on CPU${m[1]}`;
  return key;
}

/**
 * The choices enabled at decision `decision` of a trace whose picks are `picks`: replays the picks
 * up to there and asks the simulation what its chooser is offered.
 */
export async function choicesAt(base: BranchBase, picks: readonly Pick[], decision: number): Promise<DecisionChoices> {
  const taken = picks[decision];
  if (!Number.isInteger(decision) || decision < 0 || !taken) {
    throw new BranchError(`decision ${decision}: the trace has ${picks.length} decisions (0 to ${picks.length - 1})`);
  }
  // Where each actor is, from the records so far; and the last message sent, for a latency choice.
  const where = new Map<string, string>();
  let lastSend: Extract<TraceRecord, { t: 'send' }> | null = null;
  let ns = 0;
  let found: DecisionChoices | null = null;
  let sim: Simulation | null = null;
  const chooser = new ProbeChooser(new ReplayChooser(picks), decision, (n, kind) => {
    if (n !== taken.n || kind !== taken.kind) throw new ReplayDivergence(`decision ${decision}: the trace chose a ${taken.kind} among ${taken.n}, this run is offered a ${kind} among ${n}`);
    let options: ChoiceOption[];
    if (kind === 'next') {
      const keys = (sim as Simulation).choiceKeys();
      options = keys.slice(0, MAX_LISTED).map((key, option) => ({ option, key, text: describeKey(key, base.scenario, where) }));
    } else {
      const [min] = base.scenario.options.latencyNs;
      // A message sent by a scripted action or a guest's effects is still held back (Simulation.around): it is the newest.
      const held = (sim as Simulation).heldRecords().filter((r): r is Extract<TraceRecord, { t: 'send' }> => r.t === 'send');
      if (held.length > 0) lastSend = held[held.length - 1] as Extract<TraceRecord, { t: 'send' }>;
      const msg = lastSend ? `${lastSend.mode.toUpperCase()} #${lastSend.msg} from ${lastSend.from === 'platform' ? 'the platform' : `CPU${lastSend.from}`} to ${lastSend.dest}` : 'the message';
      options = sampled(n, taken.pick).map((option) => ({ option, text: `${msg} takes ${min + option} ns to arrive` }));
    }
    found = { decision, kind, n, taken: taken.pick, ns, options };
    throw new Reached();
  });
  sim = new Simulation(base.scenario, { seed: base.seed, mode: base.mode, chooser });
  sim.trace$.subscribe((r) => {
    if ('ns' in r) ns = r.ns;
    if (r.t === 'step') where.set(`cpu${r.cpu}`, r.to);
    else if (r.t === 'gstep') where.set(`${r.actor}${r.vcpu}`, r.to);
    else if (r.t === 'send') lastSend = r;
  });
  sim.header();
  try {
    while (sim.run(4096) === null) await new Promise<void>((resolve) => setImmediate(resolve));
  } catch (e) {
    if (e instanceof Reached && found) return found;
    if (e instanceof ReplayDivergence) throw new BranchError(`the trace does not replay on ${base.scenario.id}: ${e.message}`);
    throw e;
  } finally {
    sim.stop();
  }
  throw new BranchError(`decision ${decision}: the run ended before it (the trace does not replay on ${base.scenario.id})`);
}

/**
 * The run that takes `option` at decision `decision` of the trace with `picks` and goes on with
 * the run's seeded chooser; its header carries the branch point, its records every pick. `pause`
 * is looked at every few steps (runScenarioInSlices): a rejected promise stops the run with its
 * error, which is how a caller bounds what the branch writes.
 */
export async function runBranch(base: BranchBase, picks: readonly Pick[], point: BranchPoint, onRecord: (r: TraceRecord) => void, pause?: () => Promise<void> | null): Promise<RunResult> {
  const at = picks[point.decision];
  if (!Number.isInteger(point.decision) || point.decision < 0 || !at) {
    throw new BranchError(`decision ${point.decision}: the trace has ${picks.length} decisions (0 to ${picks.length - 1})`);
  }
  if (!Number.isInteger(point.option) || point.option < 0 || point.option >= at.n) {
    throw new BranchError(`option ${point.option}: decision ${point.decision} has ${at.n} choices (0 to ${at.n - 1})`);
  }
  try {
    return await runScenarioInSlices(base.scenario, { seed: base.seed, mode: base.mode, branch: point, chooser: new BranchChooser(picks, base.seed, point.decision, point.option), onRecord }, undefined, pause);
  } catch (e) {
    if (e instanceof ReplayDivergence) throw new BranchError(`the trace does not replay on ${base.scenario.id}: ${e.message}`);
    throw e;
  }
}
