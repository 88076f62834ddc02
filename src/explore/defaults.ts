/**
 * The explorer's default bounds, as plain values with no imports: the command line's help shows them,
 * and `shootdown run` must not load the explorer to print its own help table.
 */

/** Bounds of a search when the command line gives none (`DEFAULT_EXPLORE` in options.ts spreads them). */
export const DEFAULT_BOUNDS = {
  maxStates: 1_000_000,
  maxDepth: 2_000,
  seed: 1,
  runs: 1_000,
  pctDepth: 3,
} as const;

/** Distinct states each prefix's search may visit by default (`--pnr-max-states`). */
export const DEFAULT_PNR_MAX_STATES = 20_000;
/**
 * The default with guests (vCPUs, VMMs, vsock devices): their states cost about twenty times more
 * (the direct engine runs every decision; ~550 states/s for T-vsock-restart against 13k/s for R2),
 * so that the point of no return stays a few seconds' work by default.
 */
export const DEFAULT_PNR_MAX_STATES_GUESTS = 1_000;
