/**
 * The overview "fit" lays out (chart-layout.ts), run with ELK in Node on the physical CPU chart:
 * the way to the active states stays open, and the depth chosen is the deepest at which the whole
 * chart fits the view with state text at 9 px or more.
 */
import ELKModule from 'elkjs';
import { describe, expect, it } from 'vitest';
import { nodeAtPath, type ChartNode } from '../../src/viz/chart-model.js';
import { boldTextWidth, chartGeometry, elkGraph, fitScale, MIN_TEXT_PX, overviewCollapse, overviewLayout, STATE_FONT_PX, type ElkLike } from '../../src/viz/chart-layout.js';
import { chart } from './helpers.js';

const ELK = ((ELKModule as unknown as { default?: unknown }).default ?? ELKModule) as new () => ElkLike;
const minK = MIN_TEXT_PX / STATE_FONT_PX;
const at = (p: string) => (nodeAtPath(chart, p) as ChartNode).index;
const keep = [at('os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe'), at('os.nmi.dispatch')];

describe('the overview', () => {
  it('closes every compound state from the depth on, except the way to the active states', () => {
    const c = overviewCollapse(chart, [], 2, keep);
    for (const n of chart.nodes) {
      if (n.children.length === 0 || n.index === 0) continue;
      const onPath = keep.some((k) => {
        for (let a = (chart.nodes[k] as ChartNode).parent; a >= 0; a = (chart.nodes[a] as ChartNode).parent) if (a === n.index) return true;
        return false;
      });
      expect(c.has(n.index), n.path).toBe(!onPath && n.depth >= 2);
    }
    // A state closed by the base collapse stays closed unless it is on the way.
    const cbVmxoff = at('os.task.emergencyRestart.selfVirt.cbVmxoff');
    const kdump = at('os.task.kdump');
    const withBase = overviewCollapse(chart, [cbVmxoff, kdump], 9, keep);
    expect(withBase.has(cbVmxoff)).toBe(false);
    expect(withBase.has(kdump)).toBe(true);
  });

  it('picks the deepest depth that fits the view with legible text, and falls back to the shallowest', async () => {
    const elk = new ELK();
    const layout = async (d: number) => {
      const c = overviewCollapse(chart, [], d, []);
      return chartGeometry(chart, await elk.layout(elkGraph(chart, c)), c);
    };
    const [g1, g2, g3] = [await layout(1), await layout(2), await layout(3)];
    expect(g2.width * g2.height).toBeGreaterThan(g1.width * g1.height);
    expect(g3.width * g3.height).toBeGreaterThan(g2.width * g2.height);
    // A view where depth 2 fits at exactly the smallest legible zoom, and depth 3 does not.
    const w = (g2.width + 20) * minK + 1;
    const h = (g2.height + 20) * minK + 1;
    expect(fitScale(g3, w, h)).toBeLessThan(minK);
    const o = await overviewLayout(elk, chart, [], [], w, h);
    expect(o.depth).toBe(2);
    expect(o.fits).toBe(true);
    expect(fitScale(o.geometry, w, h)).toBeGreaterThanOrEqual(minK);
    // Too small for anything: the shallowest overview, with the way to the active states open.
    const tiny = await overviewLayout(elk, chart, [], keep, 200, 150);
    expect(tiny.depth).toBe(1);
    expect(tiny.fits).toBe(false);
    const drawn = new Set(tiny.geometry.nodes.map((n) => n.index));
    for (const k of keep) expect(drawn.has(k)).toBe(true);
  }, 120_000);

  it('sizes a leaf box for its bold label', async () => {
    const c = overviewCollapse(chart, [], 1, keep);
    const g = chartGeometry(chart, await new ELK().layout(elkGraph(chart, c)), c);
    for (const b of g.nodes) {
      const n = chart.nodes[b.index] as ChartNode;
      const text = b.closed ? `${n.key} ▸` : b.open && n.type === 'parallel' ? `${n.key} ∥` : n.key;
      // Leaves centre their label; open states draw their title 8 px in.
      expect(b.width, n.path || '(root)').toBeGreaterThanOrEqual(boldTextWidth(text) + (b.open ? 8 : 6));
    }
  }, 60_000);
});
