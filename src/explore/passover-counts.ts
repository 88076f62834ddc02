/**
 * The pass-over bound (passover.ts) on the transition cache (cached.ts): the per-CPU counts of a
 * state interned as a number (one more part of the state's key and of its node), and what the
 * direct engine asks the simulation for, read from the interned CPU states instead:
 * - a CPU's execution context (Simulation.stepContext: whether its step is firmware's) and its
 *   position (Simulation.cpuPosition) are functions of its chart, so of the CPU state it is
 *   interned as (Tables.cpu interns by the chart's hash); each is noted when the state is first
 *   interned, with the simulation in it;
 * - so whether a delivery or a scripted action moved its CPU is the position of the CPU's state
 *   before against that of its state after, whether the decision was run or its effect applied
 *   from the cache (nothing the effect is keyed on needs to carry it).
 * The counts after a choice are passover.ts's, remembered by (counts, held CPUs, actor).
 */
import { HashTable } from './hash-table.js';
import { Interned } from './interned.js';
import { heldCpus, passOverAfter, passOverKey, runsActor } from './passover.js';

/** Held-CPU masks are remembered for machines this small (a bit per CPU, with the actor, in 31 bits). */
const MEMO_CPUS = 24;

export class PassOverCounts {
  private readonly counts = new Interned<Uint8Array>();
  /** (counts, held mask and actor) → counts after + 1, or 0 past the bound. */
  private readonly memo = new HashTable(1 << 10);
  /** By interned CPU state: its execution context and its position (an interned string's number). */
  private readonly contexts: string[] = [];
  private readonly positions: number[] = [];
  private readonly positionIds = new Map<string, number>();
  /** The held CPUs of the state being expanded (hold), as a list and as a mask. */
  private held: number[] = [];
  private heldMask = 0;
  /** The counts of a state where no CPU has waited: the root's (id 0). */
  readonly zero: number;

  constructor(
    private readonly cpuCount: number,
    private readonly bound: number,
  ) {
    this.zero = this.intern(new Uint8Array(cpuCount));
  }

  /** Note CPU state `id` as the simulation has it on CPU `cpu` now (the first time it is met). */
  note(id: number, cpu: number, sim: { stepContext(cpu: number): string; cpuPosition(cpu: number): string }): void {
    if (this.contexts[id] !== undefined) return;
    while (this.contexts.length < id) {
      this.contexts.push(undefined as unknown as string);
      this.positions.push(-1);
    }
    const position = sim.cpuPosition(cpu);
    let p = this.positionIds.get(position);
    if (p === undefined) this.positionIds.set(position, (p = this.positionIds.size));
    this.contexts[id] = sim.stepContext(cpu);
    this.positions[id] = p;
  }

  /** The CPUs held to the bound at a state whose ready options are `keys` and CPU states `cpus` (heldCpus). */
  hold(keys: readonly string[], cpus: Int32Array): void {
    this.held = heldCpus(keys, (c) => this.contextOf(cpus[c] as number));
    let mask = 0;
    for (const c of this.held) mask |= 1 << c;
    this.heldMask = this.cpuCount <= MEMO_CPUS ? mask : -1;
  }

  /** The counts after a choice acting on `actor` (-1: one that ran no CPU) from counts `from` at the state held last, or -1 past the bound. */
  after(from: number, actor: number): number {
    const memo = this.heldMask >= 0;
    const b = this.heldMask * 32 + (actor + 1);
    if (memo) {
      const known = this.memo.getPair(from, b);
      if (known >= 0) return known - 1;
    }
    const next = passOverAfter(this.counts.values[from] as Uint8Array, this.held, actor, this.bound);
    const id = next ? this.intern(next) : -1;
    if (memo) this.memo.setPair(from, b, id + 1);
    return id;
  }

  /**
   * Whether choice `key` ran its actor CPU, which went from CPU state `before` to `after`: always
   * for its own step, timer or guest thread; a delivery or scripted action if it moved the CPU; an
   * actor not held to the bound counts as run (as in the direct engine: its count is 0 either way).
   */
  ran(key: string, actor: number, before: number, after: number): boolean {
    return runsActor(key) || !this.held.includes(actor) || this.moved(before, after);
  }

  /** Whether a CPU going from state `before` to `after` moved (Simulation.cpuPosition changed). */
  moved(before: number, after: number): boolean {
    return this.positionOf(before) !== this.positionOf(after);
  }

  /** Interned counts' values (tests, messages). */
  valuesOf(id: number): Uint8Array {
    return this.counts.values[id] as Uint8Array;
  }

  private intern(counts: Uint8Array): number {
    return this.counts.id(passOverKey(counts), () => counts);
  }

  private contextOf(id: number): string {
    const c = this.contexts[id];
    if (c === undefined) throw new Error(`internal error: CPU state ${id} was interned without its context (pass-over bound)`);
    return c;
  }

  private positionOf(id: number): number {
    const p = this.positions[id];
    if (p === undefined || p < 0) throw new Error(`internal error: CPU state ${id} was interned without its position (pass-over bound)`);
    return p;
  }
}
