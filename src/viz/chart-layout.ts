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

/** Text metrics without a DOM: an average glyph width of the page's 11 px sans-serif. */
export const CHAR_W = 6.4;
export const LABEL_CHAR_W = 5.4;
const NODE_H = 26;
const HEADER_H = 22;

/** The edge label as drawn on the chart: the event names; guards show in the tooltip. */
export function shortLabel(labels: readonly string[]): string {
  const names = labels.map((l) => l.replace(/\s*\[.*\]$/, '').trim()).map((l) => (l === '' ? '' : l));
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
    const text = closed ? `${n.key} ▸` : n.key;
    const e: ElkNode = {
      id: String(i),
      labels: [{ text, width: text.length * CHAR_W, height: 14 }],
    };
    if (open) {
      e.children = n.children.map(build);
      e.edges = [];
      e.layoutOptions = {
        'elk.padding': `[top=${HEADER_H},left=10,bottom=10,right=10]`,
        'elk.nodeLabels.placement': 'INSIDE V_TOP H_LEFT',
        // Regions of a parallel state side by side, like the UML notation's dashed compartments.
        ...(n.type === 'parallel' ? { 'elk.direction': 'RIGHT' } : {}),
      };
    } else {
      e.width = Math.max(44, text.length * CHAR_W + 18);
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
