/** "Did you mean …?" for a mistyped command, scenario, preset, switch, property or option. */

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (prev2[j - 2] as number) + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) return limit + 1;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * The candidate `word` most likely meant, or null: the nearest by edit distance (case ignored),
 * when the distance is small for the word's length (a third of it, at least 1 and at most 4); a
 * candidate that starts with the word, or that the word starts with, counts when nothing is nearer.
 */
export function closest(word: string, candidates: Iterable<string>): string | null {
  const w = word.toLowerCase();
  if (w.length === 0) return null;
  const limit = Math.max(1, Math.min(4, Math.floor(w.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  let prefix: string | null = null;
  for (const c of candidates) {
    const l = c.toLowerCase();
    if (l === w) return c;
    const d = editDistance(w, l, limit);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
    if (prefix === null && w.length >= 3 && (l.startsWith(w) || w.startsWith(l))) prefix = c;
  }
  return best ?? prefix;
}

/** ` (did you mean 'x'?)` for an error line, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>, quoteWith: (s: string) => string = (s) => `'${s}'`): string {
  const c = closest(word, candidates);
  return c === null ? '' : ` (did you mean ${quoteWith(c)}?)`;
}
