/**
 * Bounded pass-over (ExploreOptions.maxPassOver): exploration without it lets the scheduler pass a
 * runnable CPU over for any number of other CPUs' steps, since untimed steps cost nothing. On hardware
 * CPUs that run go at comparable speeds, so a CPU left behind by many steps of another has stalled
 * (an SMI, a host preempting a vCPU, a machine check), and a result that needs such a stall is not a
 * kernel bug by itself (docs/model.md §11: R2 under v6.2, where CPU 0 waits through ~35 decisions
 * of the other CPUs between sending its NMIs and starting its own 1 s wait, so CPU 1's wait starts
 * and expires first). With a bound K, a state also counts, per CPU, the decisions taken in a row while that CPU's
 * own step was one of the options and the CPU ran nothing; a choice that would take a count past K is
 * not explored. The CPU runs something when it takes its own step, its timer expires, a guest thread
 * on it steps, or a delivery or scripted action moves it (a delivery held in the IRR or latched does
 * not: `Simulation.cpuPosition` is unchanged); that, or its step no longer being an option, sets its
 * count back to 0. A stall the scenario means is
 * explored in full: a scripted `stall` takes the CPU's step off the options, and a CPU in System
 * Management Mode (a scripted `smi`) is not held to the bound while the firmware runs.
 */

/** The CPU of a step option's key (`s<cpu>`, as `Simulation.choiceKeys` names CPU steps), or -1. */
function stepCpu(key: string): number {
  return key.charCodeAt(0) === 115 /* s */ ? Number(key.slice(1)) : -1;
}

/** The largest bound taken (a count is kept in a byte per CPU). */
export const MAX_PASS_OVER = 200;

/**
 * The CPUs a pass-over bound holds to at a state whose options are `keys`: those whose own step is an
 * option, unless that step is firmware's (System Management Mode: an SMI handler runs for as long as
 * the firmware takes, invisible to the kernel, which is the stall the bound otherwise rules out).
 */
export function heldCpus(keys: readonly string[], context: (cpu: number) => string): number[] {
  const held: number[] = [];
  for (const k of keys) {
    const c = stepCpu(k);
    if (c >= 0 && context(c) !== 'smm') held.push(c);
  }
  return held;
}

/**
 * The counts after a choice acting on CPU `actor` at a state with counts `counts` whose held CPUs are
 * `held`; null when a count would pass `bound`.
 */
export function passOverAfter(counts: Uint8Array, held: readonly number[], actor: number, bound: number): Uint8Array | null {
  const next = new Uint8Array(counts.length);
  for (const c of held) {
    if (c === actor || c >= counts.length) continue;
    const n = (counts[c] as number) + 1;
    if (n > bound) return null;
    next[c] = n;
  }
  return next;
}

/**
 * Whether choice `key` runs its actor CPU whatever it meets: its own step (`s<cpu>`), its timer
 * (`t<cpu>:…`), a guest thread's step on it (`v`, `u`, `w`). A delivery (`d`) or a scripted action
 * (`x`) runs it only if it moves it (an interrupt may be held, an NMI latched).
 */
export function runsActor(key: string): boolean {
  const k = key.charCodeAt(0);
  return k !== 100 /* d */ && k !== 120 /* x */;
}

/** The counts as part of a visited-set key. */
export function passOverKey(counts: Uint8Array): string {
  return counts.join(',');
}
