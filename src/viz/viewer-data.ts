/**
 * What the site hands the page besides the trace: the chart, its default layout (computed in Node
 * so the page draws at once and loads ELK only when a state is opened or closed), the properties
 * that failed and where the trace came from. Serialised into the page as JSON.
 */
import type { ChartModel } from './chart-model.js';
import type { ChartGeometry } from './chart-layout.js';
import type { Violation } from './trace-model.js';

export interface ViewerData {
  /** Shown in the title bar: the scenario, or the trace file's name. */
  source: string;
  chart: ChartModel;
  layout: { collapse: number[]; geometry: ChartGeometry };
  violations: Violation[];
}

export const DATA_ELEMENT_ID = 'viewer-data';
export const TRACE_ELEMENT_ID = 'viewer-trace';
