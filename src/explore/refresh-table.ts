/**
 * A guest thread's runnability, kept apart from the decisions that make the scheduler look at it
 * again (the transition cache, cached.ts). A vhost worker's step interrupts the vCPU, and the
 * scheduler then asks whether the vCPU and VMM threads can step: the answer is a function of a few
 * bits (the thread's CPU runs tasks, which vCPU pinned there is in `run`, whether the thread can
 * step: Guests.refreshInputs), but keyed into the worker's effect it multiplied each device state by
 * every combination of those bits. Here the answer is looked up by the bits the decision leaves, and
 * the effect is keyed on what the rest of the step read.
 *
 * The simulation reports each look (Simulation GuestRefresh: its inputs, their bits just after it,
 * the answer, the slots it read); the cache keeps one apart only when it was the thread's one look in
 * the step, made on the bits the step leaves, read nothing but the bits of its inputs, and the
 * effect rebuilt from the parts gives the real child (its pending items and footprint). The same
 * bits giving another answer is an internal error (the answer would not be a function of them).
 */
import { HashTable } from './hash-table.js';
import { Interned } from './interned.js';
import { bitOf } from './dependence.js';

/** What one look at a thread's runnability found, and what it read (for the footprint). */
export interface RefreshAnswer {
  runnable: boolean;
  /** The footprint bits (dependence.ts bitOf) of the slots it read through their bits. */
  slots: number;
  /** The CPUs among them (their watch masks go in the footprint, as for every CPU read). */
  cpus: Int32Array;
}

export class Refreshes {
  private readonly table = new HashTable(1 << 10);
  private readonly interned = new Interned<RefreshAnswer>();
  readonly answers: readonly RefreshAnswer[] = this.interned.values;
  /** Each thread slot's inputs (Guests.refreshInputs: the same every time), by slot. */
  private readonly inputs: (Int32Array | undefined)[] = [];
  /** The step item a look that found the thread runnable adds for it (learnt from the simulation), by slot; -1 unknown. */
  private readonly adds: number[] = [];

  constructor(
    /** How many slots (CPUs and guest actors) a state has. */
    private readonly width: number,
    private readonly cpuCount: number,
  ) {}

  /** The inputs of thread slot `s`, or undefined before its first look was kept. */
  inputsOf(s: number): Int32Array | undefined {
    return this.inputs[s];
  }

  /** The item a runnable thread `s` is given, or -1 if not seen yet. */
  addOf(s: number): number {
    return this.adds[s] ?? -1;
  }

  /**
   * Whether a look with `inputs` inputs can be kept here: its key (slot + width × three bits per
   * input) must stay an exact number, below 2^53. Many vCPUs pinned on one CPU make a look with
   * many inputs; it is then keyed into its decision's effect as before.
   */
  fits(inputs: number): boolean {
    return this.width * 8 ** inputs <= 2 ** 53;
  }

  /** The lookup key of slot `s` with these bits of its inputs (each below 8). */
  key(s: number, bits: (c: number) => number): number {
    const inputs = this.inputs[s] as Int32Array;
    let packed = 0;
    for (let k = 0; k < inputs.length; k++) packed = packed * 8 + (bits(inputs[k] as number) & 7);
    return this.keyOf(s, packed);
  }

  /** The same from the bits already packed (the first input's the most significant, three bits each). */
  keyOf(s: number, packed: number): number {
    return s + this.width * packed;
  }

  /** The answer (an index of `answers`) for that key, or -1. */
  get(key: number): number {
    return this.table.get(key);
  }

  /** Keep a look: thread `s` with `inputs` whose bits were `bits`, `runnable`, having read `reads` through their bits. */
  set(s: number, inputs: readonly number[], bits: readonly number[], runnable: boolean, reads: readonly number[]): void {
    if (!this.fits(inputs.length)) throw new Error(`internal error: guest thread slot ${s}'s runnability has ${inputs.length} inputs, too many for an exact key (transition cache)`);
    const known = this.inputs[s];
    if (!known) this.inputs[s] = Int32Array.from(inputs);
    else if (known.length !== inputs.length || known.some((c, k) => c !== inputs[k])) throw new Error(`internal error: guest thread slot ${s} changed its runnability inputs (transition cache)`);
    let slots = 0;
    for (const c of reads) slots |= bitOf(c);
    const cpus = reads.filter((c) => c < this.cpuCount).sort((a, b) => a - b);
    const text = `${runnable ? 1 : 0}|${slots}|${cpus.join(',')}`;
    const id = this.interned.id(text, () => ({ runnable, slots, cpus: Int32Array.from(cpus) }));
    const key = this.key(s, (c) => bits[inputs.indexOf(c)] as number);
    const was = this.table.get(key);
    if (was >= 0 && was !== id) throw new Error(`internal error: guest thread slot ${s}'s runnability is not a function of the bits of its inputs (transition cache)`);
    this.table.set(key, id);
  }

  /** Thread `s` was given item `d` by a look that found it runnable. */
  setAdd(s: number, d: number): void {
    const was = this.adds[s] ?? -1;
    if (was >= 0 && was !== d) throw new Error(`internal error: guest thread slot ${s} was given another step item (transition cache)`);
    this.adds[s] = d;
  }
}
