/**
 * Lays a chart out with ELK (layered, hierarchical): compound and parallel states are ELK nodes
 * with children, transitions are edges placed in the innermost node that holds both ends, and the
 * result is turned into absolute geometry the page draws as SVG. ELK itself is passed in, so the
 * page can lazy-load its 1.5 MB bundle and the tests can run it in Node.
 */
import { type ChartModel, type ChartNode, commonAncestor, visibleGraph } from './chart-model.js';

export interface ElkLabel {
  text?: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
}

export interface ElkPoint {
  x: number;
  y: number;
}

export interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: { startPoint: ElkPoint; endPoint: ElkPoint; bendPoints?: ElkPoint[] }[];
  container?: string;
}

export interface ElkNode {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  labels?: ElkLabel[];
  children?: ElkNode[];
  edges?: ElkEdge[];
  layoutOptions?: Record<string, string>;
}

export interface ElkLike {
  layout(graph: ElkNode): Promise<ElkNode>;
}

export interface NodeBox {
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Drawn with its children (open compound or parallel state). */
  open: boolean;
  /** A compound or parallel state drawn closed. */
  closed: boolean;
}

export interface EdgePath {
  source: number;
  target: number;
  labels: string[];
  kinds: string[];
  points: ElkPoint[];
  label: { x: number; y: number; width: number; height: number } | null;
}

export interface ChartGeometry {
  width: number;
  height: number;
  nodes: NodeBox[];
  edges: EdgePath[];
}

/** Text metrics without a DOM: an average glyph width of the page's 9 px edge labels. */
export const LABEL_CHAR_W = 5.4;
const NODE_H = 26;
const HEADER_H = 22;
/** The font size of state labels and titles on the chart (viewer.css `.state .label`, `.state.open .title`). */
export const STATE_FONT_PX = 11;
/** The smallest on-screen size of a state's text that still reads: the overview stops opening states here. */
export const MIN_TEXT_PX = 9;

/**
 * Bold glyph widths in em/100 of DejaVu Sans Bold, the widest of the sans-serif faces the page's
 * font stack falls to (measured in Chromium with canvas measureText): a lit label is bold, and a
 * box sized for its bold text holds the regular text too. Other characters count as 0.75 em.
 */
const BOLD_EM: Record<string, number> = {
  a: 67, b: 72, c: 59, d: 72, e: 68, f: 44, g: 72, h: 71, i: 34, j: 34, k: 67, l: 34, m: 104, n: 71, o: 69, p: 72, q: 72, r: 49, s: 60,
  t: 48, u: 71, v: 65, w: 92, x: 65, y: 65, z: 58, A: 77, B: 76, C: 73, D: 83, E: 68, F: 68, G: 82, H: 84, I: 37, J: 37, K: 77, L: 64,
  M: 100, N: 84, O: 85, P: 73, Q: 85, R: 77, S: 72, T: 68, U: 81, V: 77, W: 110, X: 77, Y: 72, Z: 73, '.': 38, '-': 42, _: 50, ' ': 35,
  '(': 46, ')': 46, '▸': 50, '∥': 50,
};

/** The width in pixels of `text` in the page's bold sans-serif at `px`, never less than the browser draws it. */
export function boldTextWidth(text: string, px = STATE_FONT_PX): number {
  let em = 0;
  for (const ch of text) em += BOLD_EM[ch] ?? (/[0-9]/.test(ch) ? 70 : 75);
  return (em / 100) * px;
}

/** A scheduler event (`sched.task`, `sched.nmi`…): which context runs next, on nearly every edge. */
export function isSchedLabel(label: string): boolean {
  return /^sched\./.test(label.trim());
}

/** The edge label as drawn on the chart: the event names; guards show in the tooltip. */
export function shortLabel(labels: readonly string[], withSched = true): string {
  const names = labels.map((l) => l.replace(/\s*\[.*\]$/, '').trim()).filter((l) => withSched || !isSchedLabel(l));
  const unique = [...new Set(names.filter((n) => n !== ''))];
  const guarded = labels.some((l) => l.includes('['));
  const text = unique.length > 2 ? `${unique.slice(0, 2).join(', ')} +${unique.length - 2}` : unique.join(', ');
  return text || (guarded ? '[…]' : '');
}

export function elkGraph(model: ChartModel, collapse: ReadonlySet<number>, root = 0): ElkNode {
  const graph = visibleGraph(model, collapse, root);
  const node = (i: number) => model.nodes[i] as ChartNode;
  const elkNodes = new Map<number, ElkNode>();
  const build = (i: number): ElkNode => {
    const n = node(i);
    const closed = graph.collapsed.has(i);
    const open = n.children.length > 0 && !closed;
    const text = closed ? `${n.key} ▸` : open && n.type === 'parallel' ? `${n.key} ∥` : n.key;
    const width = boldTextWidth(text);
    const e: ElkNode = {
      id: String(i),
      labels: [{ text, width, height: 14 }],
    };
    if (open) {
      e.children = n.children.map(build);
      e.edges = [];
      e.layoutOptions = {
        'elk.padding': `[top=${HEADER_H},left=10,bottom=10,right=10]`,
        'elk.nodeLabels.placement': 'INSIDE V_TOP H_LEFT',
        // The title is drawn 8 px in: an open state is never narrower than its title.
        'elk.nodeSize.constraints': '[MINIMUM_SIZE]',
        'elk.nodeSize.minimum': `(${Math.ceil(width + 18)}, ${HEADER_H + 20})`,
        // Regions of a parallel state side by side, like the UML notation's dashed compartments.
        ...(n.type === 'parallel' ? { 'elk.direction': 'RIGHT' } : {}),
      };
    } else {
      e.width = Math.ceil(Math.max(44, width + 18));
      e.height = NODE_H;
    }
    elkNodes.set(i, e);
    return e;
  };
  const top = build(root);
  let k = 0;
  for (const edge of graph.edges) {
    let at = commonAncestor(model, edge.source, edge.target);
    // An edge belongs to a node that contains both ends as descendants, never to an end itself.
    if (at === edge.source || at === edge.target) at = at === root ? root : node(at).parent;
    let container = elkNodes.get(at);
    while (!container?.children && at > 0) {
      at = node(at).parent;
      container = elkNodes.get(at);
    }
    if (!container) container = top;
    container.edges ??= [];
    const text = shortLabel(edge.labels);
    container.edges.push({
      id: `e${k++}:${edge.source}>${edge.target}`,
      sources: [String(edge.source)],
      targets: [String(edge.target)],
      labels: text ? [{ text, width: text.length * LABEL_CHAR_W, height: 12 }] : [],
    });
  }
  return {
    id: 'chart',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'POLYLINE',
      'elk.layered.spacing.nodeNodeBetweenLayers': '26',
      'elk.spacing.nodeNode': '14',
      'elk.spacing.edgeLabel': '2',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.edgeLabels.inline': 'true',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
    },
    children: [top],
    edges: [],
  };
}

/** Absolute geometry of a laid-out graph (ELK gives children relative to their parent). */
export function chartGeometry(model: ChartModel, laid: ElkNode, collapse: ReadonlySet<number>): ChartGeometry {
  const nodes: NodeBox[] = [];
  const offsets = new Map<string, ElkPoint>();
  const visit = (n: ElkNode, ox: number, oy: number): void => {
    const x = ox + (n.x ?? 0);
    const y = oy + (n.y ?? 0);
    offsets.set(n.id, { x, y });
    if (n.id !== 'chart') {
      const index = Number(n.id);
      const chartNode = model.nodes[index] as ChartNode;
      nodes.push({
        index,
        x,
        y,
        width: n.width ?? 0,
        height: n.height ?? 0,
        open: Boolean(n.children && n.children.length > 0),
        closed: chartNode.children.length > 0 && collapse.has(index),
      });
    }
    for (const c of n.children ?? []) visit(c, x, y);
  };
  visit(laid, 0, 0);
  const edges: EdgePath[] = [];
  const visible = visibleGraph(model, collapse, nodes[0]?.index ?? 0);
  const byKey = new Map(visible.edges.map((e) => [`${e.source}>${e.target}`, e]));
  const walkEdges = (n: ElkNode): void => {
    for (const e of n.edges ?? []) {
      // Edge coordinates are relative to the edge's container (elkjs reports it; older versions
      // use the node that lists the edge).
      const origin = offsets.get(e.container ?? n.id) ?? { x: 0, y: 0 };
      const points: ElkPoint[] = [];
      for (const s of e.sections ?? []) {
        points.push({ x: origin.x + s.startPoint.x, y: origin.y + s.startPoint.y });
        for (const b of s.bendPoints ?? []) points.push({ x: origin.x + b.x, y: origin.y + b.y });
        points.push({ x: origin.x + s.endPoint.x, y: origin.y + s.endPoint.y });
      }
      const [source, target] = (e.id.split(':')[1] ?? '').split('>').map(Number) as [number, number];
      const v = byKey.get(`${source}>${target}`);
      const l = e.labels?.[0];
      edges.push({
        source,
        target,
        labels: v?.labels ?? [],
        kinds: v?.kinds ?? [],
        points,
        label:
          l && l.text
            ? { x: origin.x + (l.x ?? 0), y: origin.y + (l.y ?? 0), width: l.width ?? 0, height: l.height ?? 0 }
            : null,
      });
    }
    for (const c of n.children ?? []) walkEdges(c);
  };
  walkEdges(laid);
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, edges };
}

/**
 * The states an overview draws closed: every compound state at `depth` or deeper, and those `base`
 * closes, except the ancestors of `keep` (the active states), which stay open down to them.
 */
export function overviewCollapse(model: ChartModel, base: Iterable<number>, depth: number, keep: Iterable<number>): Set<number> {
  const open = new Set<number>();
  for (const k of keep) for (let a = (model.nodes[k] as ChartNode | undefined)?.parent ?? -1; a >= 0; a = (model.nodes[a] as ChartNode).parent) open.add(a);
  const out = new Set<number>();
  for (const i of base) if (!open.has(i)) out.add(i);
  for (const n of model.nodes) if (n.index !== 0 && n.children.length > 0 && n.depth >= depth && !open.has(n.index)) out.add(n.index);
  return out;
}

/** The largest zoom at which a geometry fits a view of `width` × `height` pixels (with a 10 px margin). */
export function fitScale(g: { width: number; height: number }, width: number, height: number): number {
  return Math.min(width / (g.width + 20), height / (g.height + 20));
}

export interface Overview {
  collapse: Set<number>;
  geometry: ChartGeometry;
  /** The depth from which compound states are drawn closed. */
  depth: number;
  /** Whether the whole overview fits its view with text at MIN_TEXT_PX or larger. */
  fits: boolean;
}

/**
 * An overview for views of `width` × `height`: opened one level deeper at a time, as long as the
 * whole chart still fits with state text at least MIN_TEXT_PX high; the active path (`keep`) is
 * always open, so the shallowest overview may not fit, and then the view shows part of it.
 */
export async function overviewLayout(
  elk: ElkLike,
  model: ChartModel,
  base: Iterable<number>,
  keep: readonly number[],
  width: number,
  height: number,
): Promise<Overview> {
  const minK = MIN_TEXT_PX / STATE_FONT_PX;
  const maxDepth = Math.max(0, ...model.nodes.map((n) => n.depth));
  const baseList = [...base];
  let best: Overview | null = null;
  let seen = '';
  for (let depth = 1; depth <= maxDepth; depth++) {
    const collapse = overviewCollapse(model, baseList, depth, keep);
    const key = [...collapse].sort((a, b) => a - b).join(',');
    if (key === seen) continue;
    seen = key;
    const geometry = chartGeometry(model, await elk.layout(elkGraph(model, collapse)), collapse);
    const fits = fitScale(geometry, width, height) >= minK;
    if (!fits && best) break;
    best = { collapse, geometry, depth, fits };
    if (!fits) break;
  }
  if (!best) {
    const collapse = overviewCollapse(model, baseList, 1, keep);
    best = { collapse, geometry: chartGeometry(model, await elk.layout(elkGraph(model, collapse)), collapse), depth: 1, fits: false };
  }
  return best;
}
