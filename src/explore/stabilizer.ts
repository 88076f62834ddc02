/**
 * The renamings of a state's tied CPUs that leave it as it is (its stabilizer), counted for its orbit
 * (symmetry.ts: the group's order over this one). The exchanges of two tied places that leave it
 * generate a subgroup H of the stabilizer: the renamings within each class of places that exchange
 * freely (if a↔b and b↔c leave it, so does a↔c = (a b)(b c)(a b)), a few keys to find. The stabilizer
 * is a union of cosets σH (σ fixes the state if and only if all of σH does), so only one renaming per
 * coset is keyed: none when every tied place exchanges freely with the others of its tie (R1 with 10
 * CPUs: 9 idle CPUs tied, 8 keys instead of 9! renamings).
 */
import { cosetRepresentatives, factorial, multinomial } from './renaming.js';

/** Past this many cosets to key, a stabilizer is not counted exactly (H's order stands for it). */
const MAX_STABILIZER_TRIES = 40320;

/**
 * The stabilizer's order among the renamings of `ties` (canonical places) after `perm`, of the state
 * whose key is `h`: `rehash` keys the state under a renaming, `exchange` under an exchange of two
 * tied places (it may remember more); `scratch` holds the exchanges.
 */
export function stabilizer(
  ties: readonly (readonly number[])[],
  perm: readonly number[],
  n: number,
  h: number,
  rehash: (perm: readonly number[]) => number,
  exchange: (perm: readonly number[]) => number,
  scratch: number[],
): { order: number; exact: boolean } {
  // Does exchanging places a and b, after perm, leave the state as it is?
  const exchanges = (a: number, b: number): boolean => {
    for (let i = 0; i < perm.length; i++) {
      const p = perm[i] as number;
      scratch[i] = p === a ? b : p === b ? a : p;
    }
    return exchange(scratch) === h;
  };
  let hOrder = 1;
  let cosets = 1;
  const classes: number[][][] = [];
  for (const tie of ties) {
    const own: number[][] = [];
    for (const x of tie) {
      const home = own.find((cls) => exchanges(cls[0] as number, x));
      if (home) home.push(x);
      else own.push([x]);
    }
    classes.push(own);
    for (const cls of own) hOrder *= factorial(cls.length);
    cosets *= multinomial(own.map((cls) => cls.length));
  }
  // (One pair tied, the common case: its exchange is keyed already.)
  if (cosets === 1 || (ties.length === 1 && (ties[0] as number[]).length === 2)) return { order: hOrder, exact: true };
  if (cosets > MAX_STABILIZER_TRIES) return { order: hOrder, exact: false };
  // Each other coset's renaming σ of the tied places, after perm: does it give the same key?
  let fixed = 0;
  for (const sigma of cosetRepresentatives(classes, n)) {
    let identity = true;
    for (let i = 0; i < sigma.length && identity; i++) identity = sigma[i] === i;
    // (The identity leaves every state as it is: no need to key it again.)
    if (identity || rehash(perm.map((p) => sigma[p] as number)) === h) fixed++;
  }
  return { order: hOrder * fixed, exact: true };
}
