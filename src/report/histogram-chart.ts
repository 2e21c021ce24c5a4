/**
 * Histogram charts with the quantization grid overlaid: the counts as a filled step line on a
 * linear value axis, and each quantization level as a thin vertical line (one dataset whose
 * segments are separated by gaps). Grids of more than MAX_GRID_LINES levels are thinned to
 * every k-th level (about THINNED_GRID_LINES lines, so a small chart stays readable), always
 * keeping the level nearest zero, and the legend says so. Spiky
 * histograms (e.g. ReLU outputs piled up at 0) get a logarithmic count axis.
 * Browser-safe; called by ./html.ts.
 */
import { baseOptions, COLORS, type ChartSpec, type LineConfig, type XY } from "./charts.js";
import type { Histogram } from "./types.js";

/** Grids with up to this many levels are drawn in full. */
export const MAX_GRID_LINES = 64;
/** Larger grids are thinned to about this many lines. */
export const THINNED_GRID_LINES = 32;

/** Levels to draw and the thinning stride (1 when all are drawn). */
export function thinGrid(grid: readonly number[], maxLines = MAX_GRID_LINES, target = THINNED_GRID_LINES): { levels: number[]; stride: number } {
  if (grid.length <= maxLines) return { levels: [...grid], stride: 1 };
  const stride = Math.ceil(grid.length / target);
  let zero = 0;
  for (let i = 1; i < grid.length; i++) if (Math.abs(grid[i]) < Math.abs(grid[zero])) zero = i;
  const levels = grid.filter((_, i) => (((i - zero) % stride) + stride) % stride === 0);
  return { levels, stride };
}

/** 1 → "1st", 2 → "2nd", 4 → "4th", 12 → "12th", 22 → "22nd". */
export function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}

/** The legend label of the grid overlay. */
export function gridLabel(total: number, stride: number): string {
  const levels = `${total} level${total === 1 ? "" : "s"}`;
  return stride === 1 ? `quantization grid (${levels})` : `quantization grid (${levels}, every ${ordinal(stride)} drawn)`;
}

/** True when the tallest bin dwarfs the typical one, so a log count axis shows more. */
export function isSpiky(counts: readonly number[]): boolean {
  const nonzero = counts.filter((c) => c > 0).sort((a, b) => a - b);
  if (nonzero.length < 3) return false;
  const median = nonzero[Math.floor(nonzero.length / 2)];
  return nonzero[nonzero.length - 1] > 50 * median;
}

/** The smallest "nice" number (1, 2, 2.5 or 5 × 10^k) at or above x > 0: 195 → 200. */
export function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= x * (1 - 1e-12)) ?? 10 * p;
}

/** Step-line points, one per edge; stepped "before", bin i draws counts[i] from edges[i] to edges[i+1]. */
function stepPoints(h: Histogram, floor: number): XY[] {
  const n = h.counts.length;
  const pts: XY[] = [];
  for (let i = 0; i <= n; i++) pts.push({ x: h.edges[i], y: Math.max(floor, h.counts[Math.min(i, n - 1)]) });
  return pts;
}

/** Vertical segments from `bottom` to `top` at each level, separated by gaps (y null). */
function gridPoints(levels: readonly number[], bottom: number, top: number): XY[] {
  const pts: XY[] = [];
  for (const g of levels) pts.push({ x: g, y: bottom }, { x: g, y: top }, { x: g, y: null });
  return pts;
}

/** A histogram chart with the quantization grid; `what` names the data ("weights", "activations"). */
export function histogramChart(canvasId: string, title: string, h: Histogram, what: string, color: string): ChartSpec {
  const log = isSpiky(h.counts);
  const floor = log ? 1 : 0;
  const tallest = h.counts.reduce((m, c) => Math.max(m, c), 1);
  const top = log ? 10 ** Math.ceil(Math.log10(tallest * 1.2)) : niceCeil(tallest * 1.05);
  const { levels, stride } = thinGrid(h.grid);
  const options = baseOptions(title);
  options.interaction = { mode: "nearest", intersect: false, axis: "x" };
  options.scales = {
    x: { type: "linear", min: h.edges[0], max: h.edges[h.edges.length - 1], title: { display: true, text: what }, ticks: { maxTicksLimit: 7 }, grid: { color: COLORS.gridLine } },
    y: log
      ? { type: "logarithmic", min: 1, max: top, title: { display: true, text: "count (log)" }, grid: { color: COLORS.gridLine } }
      : { type: "linear", min: 0, max: top, title: { display: true, text: "count" }, grid: { color: COLORS.gridLine } },
  };
  const config: LineConfig = {
    type: "line",
    data: {
      datasets: [
        { label: `${what} (count)`, data: stepPoints(h, floor), stepped: "before", fill: "start", borderColor: color, backgroundColor: `${color}40`, borderWidth: 1.25, pointRadius: 0, pointHitRadius: 4 },
      ],
    },
    options,
  };
  if (levels.length > 0) {
    config.data.datasets.push({ label: gridLabel(h.grid.length, stride), data: gridPoints(levels, floor, top), borderColor: COLORS.grid, backgroundColor: COLORS.grid, borderWidth: 1, pointRadius: 0, pointHitRadius: 0, spanGaps: false });
  }
  return { canvasId, config };
}
