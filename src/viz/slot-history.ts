/** The history of one chart slot, as the viewer's trace model keeps it (trace-model.ts). */

/** One region (or the top level) of a CPU, as a list of (record index, chart node) changes; -1: not active. */
export class SlotHistory {
  at: number[] = [];
  node: number[] = [];

  set(at: number, node: number): void {
    const n = this.at.length;
    if (n > 0 && this.node[n - 1] === node) return;
    if (n > 0 && (this.at[n - 1] as number) >= at) {
      // Several changes at one record: the last one stands.
      this.at.length = this.node.length = n - 1;
      if (n > 1 && this.node[n - 2] === node) return;
    }
    this.at.push(at);
    this.node.push(node);
  }

  last(): number {
    return this.node.length ? (this.node[this.node.length - 1] as number) : -1;
  }

  /** Index of the last change at or before record `i`, or -1. */
  find(i: number): number {
    let lo = 0;
    let hi = this.at.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.at[mid] as number) <= i) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }
}
