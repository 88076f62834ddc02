/**
 * What the site hands the page besides the trace: the chart, its default layout (computed in Node
 * so the page draws at once and loads ELK only when a state is opened or closed), the same for each
 * guest-side actor kind the trace has, the properties
 * that failed and where the trace came from. Serialised into the page as JSON.
 */
import type { ChartModel } from './chart-model.js';
import type { ChartGeometry } from './chart-layout.js';
import type { GuestActor, Violation } from './trace-model.js';

/** A chart and its first layout: what a panel draws. */
export interface ChartData {
  chart: ChartModel;
  layout: { collapse: number[]; geometry: ChartGeometry };
}

export interface ViewerData {
  /** Shown in the title bar: the scenario, or the trace file's name. */
  source: string;
  chart: ChartModel;
  layout: { collapse: number[]; geometry: ChartGeometry };
  violations: Violation[];
  /** The chart of each guest-side actor kind the trace has (vCPU, VMM, vhost-vsock), with its layout. */
  guests: ({ actor: GuestActor } & ChartData)[];
}

export const DATA_ELEMENT_ID = 'viewer-data';
export const TRACE_ELEMENT_ID = 'viewer-trace';
