/**
 * The point of no return of a counterexample: the earliest decision after which every way the run
 * can go on violates the property. For each prefix of the counterexample's decisions (k = 0 … its
 * length) the prefix is replayed with the property's observer watching, and the continuations from
 * the state it reaches are searched exhaustively (depth first, on the same simulation the explorer
 * runs, each state keyed by the machine's state and the observer's): the prefix is *doomed* when
 * every continuation that ends violates the property; one that ends without a violation is a way
 * out.
 *
 * Doomed is monotone along the counterexample: the continuations from prefix k+1 are some of those
 * from prefix k, so doomed at k implies doomed at k+1, and a binary search over k is sound. Only the
 * prefixes that end on a real choice (more than one option) and the empty one are searched: a forced
 * decision leaves no other way, so the prefix before it is doomed exactly when the one after it is.
 * The answer's two ends are both established: k is doomed (searched, or it reaches the
 * counterexample's own violating end through forced decisions alone) and the prefix before it was
 * searched and has a way out — or, when a bound stopped that search, the answer says so.
 *
 * Bounded: each search stops after `maxStates` distinct states, at the explorer's depth bound, or
 * at the deadline; a continuation that comes back to a state on its own path (the observer
 * unchanged) never ends and has no verdict. Each of these makes that prefix *unknown*, never a
 * guess: the answer is then "doomed from step X on; earlier, unknown".
 *
 * Violations only accumulate: an observer never takes back what it found (src/spec/observer.ts),
 * so a path is cut at its first violation of the property.
 */
import type { Scenario } from '../scenarios/types.js';
import { Simulation, type Capture } from '../sim/simulation.js';
import type { Observer } from '../spec/index.js';
import type { TraceRecord } from '../trace/records.js';
import { messageLabel } from '../hw/vectors.js';
import { describeRecord } from '../trace/describe-record.js';
import { Harness } from './harness.js';
import { HeapWatch } from './options.js';

/** The default bounds of each prefix's search (`--pnr-max-states`), in defaults.ts with the explorer's. */
export { DEFAULT_PNR_MAX_STATES, DEFAULT_PNR_MAX_STATES_GUESTS } from './defaults.js';

export interface PnrOptions {
  /** Distinct states one prefix's search may visit. */
  maxStates: number;
  /** Decisions per run at most, counted from the start (the explorer's --max-depth). */
  maxDepth: number;
  /** performance.now() after which every search stops (what is left of --max-time). */
  deadline?: number;
}

export type PnrBound = 'max-states' | 'max-depth' | 'max-time' | 'memory' | 'loop';

export interface PointOfNoReturn {
  property: string;
  /** Decisions from the start (forced ones included, as a counterexample's length counts them) after which every continuation violates. */
  step: number;
  /** The choice that sealed it: the `i` of the trace's choice record (choices of more than one option); null when every run violates from the start. */
  decision: number | null;
  /** What happened at it, in the trace's words, and what the search could and could not tell. */
  description: string;
  /** True: step − 1 has a way out, so `step` is the earliest. False: a bound stopped an earlier prefix's search (`unknownAt`), and the point may lie earlier. */
  complete: boolean;
  /** When not complete: the last prefix searched without an answer, and the bound that stopped it. */
  unknownAt?: { step: number; bound: PnrBound };
  /** Distinct states searched over all prefixes. */
  states: number;
}

type Verdict = { doomed: true; states: number } | { doomed: false; escape: string[]; states: number } | { unknown: PnrBound; states: number };

/** A stable text of an observer's state (its own fields; Maps and Sets as sorted lists): part of a state's key. */
export function observerKey(o: Observer): string {
  return JSON.stringify(o, (_k, v: unknown) => {
    if (v instanceof Map) return ['Map', ...[...v.entries()].map((e) => JSON.stringify(e)).sort()];
    if (v instanceof Set) return ['Set', ...[...v].map((e) => JSON.stringify(e)).sort()];
    return v;
  });
}

const violated = (observers: readonly Observer[]): boolean => observers.some((o) => o.violations().length > 0);

interface Frame {
  /** The state after poll(), its choices still to take. */
  capture: Capture;
  observers: Observer[];
  n: number;
  next: number;
  key: string;
  keys: string[];
  depth: number;
}

/**
 * Every continuation from the harness's current state (at `depth` decisions from the start, with
 * `observers` having seen the prefix): doomed, a way out (its choice keys), or unknown.
 */
function search(h: Harness, observers: Observer[], depth: number, opts: PnrOptions): Verdict {
  if (violated(observers)) return { doomed: true, states: 0 };
  const visited = new Set<string>();
  const onPath = new Set<string>();
  let bound: PnrBound | null = null;
  const stack: Frame[] = [];
  // Polls the state the simulation is in (after a decision): a frame to expand, or a verdict.
  const enter = (obs: Observer[], at: number, key: string): 'escape' | 'doomed' | 'cut' | Frame => {
    h.fork(obs);
    const n = h.sim.poll();
    const after = h.current;
    if (n === 0) return violated(after) ? 'doomed' : 'escape';
    if (violated(after)) return 'doomed';
    if (at >= opts.maxDepth) {
      bound ??= 'max-depth';
      return 'cut';
    }
    return { capture: h.sim.capture(), observers: after, n, next: 0, key, keys: h.sim.choiceKeys(), depth: at };
  };
  const rootKey = `${h.sim.stateHash()}|${observerKey(observers[0] as Observer)}`;
  visited.add(rootKey);
  const root = enter(observers, depth, rootKey);
  if (root === 'escape') return { doomed: false, escape: [], states: 1 };
  if (root === 'doomed') return { doomed: true, states: 1 };
  if (root === 'cut') return { unknown: bound ?? 'max-depth', states: 1 };
  stack.push(root);
  onPath.add(rootKey);
  let checked = 0;
  const heap = new HeapWatch();
  while (stack.length > 0) {
    const f = stack[stack.length - 1] as Frame;
    if (f.next >= f.n) {
      stack.pop();
      onPath.delete(f.key);
      continue;
    }
    if (opts.deadline !== undefined && (checked++ & 63) === 0 && performance.now() >= opts.deadline) return { unknown: 'max-time', states: visited.size };
    if (heap.full()) return { unknown: 'memory', states: visited.size };
    const pick = f.next++;
    h.sim.restoreCapture(f.capture);
    h.fork(f.observers);
    h.decide(pick);
    const obs = h.current;
    if (violated(obs)) continue;
    const key = `${h.sim.stateHash()}|${observerKey(obs[0] as Observer)}`;
    if (onPath.has(key)) {
      // Back to a state of its own path with the observer as it was: a run that never ends.
      bound ??= 'loop';
      continue;
    }
    if (visited.has(key)) continue;
    if (visited.size >= opts.maxStates) return { unknown: 'max-states', states: visited.size };
    visited.add(key);
    const child = enter(obs, f.depth + 1, key);
    if (child === 'escape') return { doomed: false, escape: [...stack.map((s) => s.keys[s.next - 1] as string)], states: visited.size };
    if (child === 'doomed' || child === 'cut') continue;
    stack.push(child);
    onPath.add(key);
  }
  return bound ? { unknown: bound, states: visited.size } : { doomed: true, states: visited.size };
}

/**
 * Decision `index` of a run (`picks` from the start): its options' keys and CPUs, and the records it
 * wrote, in full (the trace's records; exploration runs lean, without steps and instructions).
 */
function decisionAt(scenario: Scenario, picks: readonly { pick: number; n: number }[], index: number): { keys: string[]; actors: number[]; records: TraceRecord[] } {
  const sim = new Simulation(scenario, { seed: 0, mode: 'untimed', engine: 'compiled', maxSteps: Number.MAX_SAFE_INTEGER });
  const records: TraceRecord[] = [];
  let keep = false;
  sim.trace$.subscribe((r) => {
    if (keep && r.t !== 'choice') records.push(r);
  });
  sim.header();
  for (let d = 0; d < index; d++) {
    sim.poll();
    sim.decide((picks[d] as { pick: number }).pick);
  }
  sim.poll();
  const keys = sim.choiceKeys();
  const actors = keys.map((_, i) => sim.choiceActor(i));
  keep = true;
  sim.decide((picks[index] as { pick: number }).pick);
  return { keys, actors, records };
}

/** What a choice key (Simulation.choiceKeys) stands for, in words. */
export function choiceWords(key: string, actor: number): string {
  const m = /^([stxvuwd])(\d+)(.*)$/.exec(key);
  if (!m) return key;
  const [, kind, id, rest] = m as unknown as [string, string, string, string];
  switch (kind) {
    case 's':
      return `CPU ${id} takes its next step`;
    case 't':
      return `CPU ${id}'s timer ${rest.slice(1)} expires`;
    case 'x':
      return `scripted action ${id}${actor >= 0 ? ` on CPU ${actor}` : ''} runs`;
    case 'v':
      return `vCPU ${id} runs`;
    case 'u':
      return `the VMM thread of vCPU ${id} runs`;
    case 'w':
      return `vhost-vsock worker ${id} runs`;
    default: {
      // d<cpu><mode:vector:from:source
      const d = /^<(\w+):(\d*):([^:]*):/.exec(rest);
      if (!d) return `CPU ${id} takes a message`;
      const vector = d[2] === '' ? null : Number(d[2]);
      const from = d[3] === 'platform' ? 'the platform' : `CPU ${d[3]}`;
      return `CPU ${id} takes the ${messageLabel(d[1] as string, vector)} from ${from}`;
    }
  }
}

/** Records of the sealing decision quoted in a description at most. */
const MAX_DESCRIBED = 6;

const BOUND_WORDS: Record<PnrBound, string> = {
  'max-states': 'ran out of its state budget (raise it with --pnr-max-states N)',
  'max-depth': 'met runs cut at the depth bound (--max-depth)',
  'max-time': 'ran out of time (--max-time)',
  memory: 'filled three-quarters of the JavaScript heap (lower --pnr-max-states N)',
  loop: 'met a continuation that can loop forever without ending, which has no verdict',
};

/** The prefixes of one run, replayed on one harness that watches one property. */
class Prefixes {
  readonly h: Harness;
  private readonly start: Capture;
  private readonly afterHeader: Observer[];

  constructor(
    scenario: Scenario,
    property: string,
    private readonly picks: readonly { pick: number; n: number }[],
  ) {
    this.h = new Harness(scenario, [property]);
    const fresh = this.h.freshObservers();
    if (fresh.length !== 1) throw new Error(`internal error: no observer for property '${property}'`);
    this.h.attach(fresh);
    this.h.sim.header();
    this.start = this.h.sim.capture();
    this.afterHeader = this.h.current;
  }

  /**
   * Replays the first k decisions from the start; the observer sees every record of the prefix
   * (copy on write: the observers after the header stay as they are). Returns the observers after it.
   */
  replay(k: number): Observer[] {
    const h = this.h;
    h.sim.restoreCapture(this.start);
    h.fork(this.afterHeader);
    for (let d = 0; d < k; d++) {
      const n = h.sim.poll();
      const p = this.picks[d] as { pick: number; n: number };
      if (n !== p.n) throw new Error(`internal error: replaying the counterexample, decision ${d} has ${n} options, not ${p.n}`);
      h.decide(p.pick);
    }
    return h.current;
  }
}

/**
 * Whether every continuation after the first k decisions of a run violates the property: 'doomed',
 * 'way out' (one ends without violating it), or the bound that left it unknown. One prefix, no
 * binary search: what `pointOfNoReturn` decides from, for checking it.
 */
export function prefixVerdict(scenario: Scenario, property: string, picks: readonly { pick: number; n: number }[], k: number, opts: PnrOptions): 'doomed' | 'way out' | PnrBound {
  const prefixes = new Prefixes(scenario, property, picks);
  const v = search(prefixes.h, prefixes.replay(k), k, opts);
  return 'unknown' in v ? v.unknown : v.doomed ? 'doomed' : 'way out';
}

/**
 * The point of no return of one counterexample (`picks`: every decision from the start, forced
 * ones included). Null when the counterexample's own end does not violate the property (never for
 * what the explorer reports).
 */
export function pointOfNoReturn(scenario: Scenario, property: string, picks: readonly { pick: number; n: number }[], opts: PnrOptions): PointOfNoReturn | null {
  const prefixes = new Prefixes(scenario, property, picks);
  const h = prefixes.h;
  const replayFrom = (k: number): Observer[] => prefixes.replay(k);

  // The prefixes worth searching: the start, and each one that ends on a real choice.
  const candidates = [0];
  for (let k = 1; k <= picks.length; k++) if ((picks[k - 1] as { n: number }).n > 1) candidates.push(k);
  let states = 0;
  const verdicts = new Map<number, Verdict>();
  const verdict = (k: number): Verdict => {
    let v = verdicts.get(k);
    if (!v) {
      const observers = replayFrom(k);
      v = search(h, observers, k, opts);
      states += v.states;
      verdicts.set(k, v);
    }
    return v;
  };

  // The counterexample's end violates the property; the decisions after the last candidate are
  // forced, so that candidate is doomed as well.
  let hi: number;
  const endObservers = replayFrom(picks.length);
  h.fork(endObservers);
  if (violated(endObservers) || (h.sim.poll() === 0 && violated(h.current))) hi = candidates.length - 1;
  else {
    const last = candidates.length - 1;
    const v = verdict(candidates[last] as number);
    if (!('doomed' in v) || !v.doomed) return null;
    hi = last;
  }
  // Binary search for the first doomed candidate; `lo` is the last one known not to be (−1: none searched).
  let lo = -1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const v = verdict(candidates[mid] as number);
    if ('doomed' in v && v.doomed) hi = mid;
    else lo = mid;
  }
  const step = candidates[hi] as number;
  const below = lo >= 0 ? verdicts.get(candidates[lo] as number) : undefined;
  const unknown = below && 'unknown' in below ? { step: candidates[lo] as number, bound: below.unknown } : undefined;

  let decision: number | null = null;
  let description: string;
  if (step === 0) {
    description = `from the start: every run violates ${property}, whatever the scheduler chooses`;
  } else {
    decision = picks.slice(0, step).filter((p) => p.n > 1).length - 1;
    const p = picks[step - 1] as { pick: number; n: number };
    const { keys, actors, records } = decisionAt(scenario, picks, step - 1);
    const actor = actors[p.pick] as number;
    const words = records.map((r) => ('cpu' in r && typeof r.cpu === 'number' ? `CPU ${r.cpu}: ${describeRecord(r)}` : describeRecord(r)));
    const did = words.slice(0, MAX_DESCRIBED).join('; ') + (words.length > MAX_DESCRIBED ? `; … (${words.length - MAX_DESCRIBED} more records)` : '');
    const taken = keys[p.pick] as string;
    let instead = '';
    if (below && 'escape' in below) {
      // The way out from the prefix below goes through the forced decisions up to this choice, then takes another option here.
      const alt = below.escape[step - 1 - (candidates[lo] as number)];
      if (alt !== undefined && alt !== taken) {
        const altIndex = keys.indexOf(alt);
        instead = `; the other way, ${choiceWords(alt, actors[altIndex] ?? -1)}, still had a run without it`;
      }
    }
    description =
      `choice ${decision} (decision ${step} of the run, ${p.n} options): ${choiceWords(taken, actor)}${did ? ` — ${did}` : ''}; ` +
      `from here every continuation violates ${property}${instead}`;
  }
  if (unknown) {
    const from = unknown.step === 0 ? 'the start' : `the state after decision ${unknown.step}`;
    description += `. Whether an earlier decision already sealed it is unknown: the search from ${from} ${BOUND_WORDS[unknown.bound]}`;
  }
  return { property, step, decision, description, complete: unknown === undefined, ...(unknown ? { unknownAt: unknown } : {}), states };
}
