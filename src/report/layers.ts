/**
 * HTML for the per-layer parts of the report: the table of quantization parameters (type,
 * shape, bits, scales, zero-points, ranges, SQNR) and one card per layer with its weight and
 * activation histograms and the quantization grid. Browser-safe; called by ./html.ts.
 */
import { COLORS } from "./charts.js";
import { escapeHtml, fmtDb, fmtNum, fmtRange, fmtShape } from "./format.js";
import { histogramChart } from "./histogram-chart.js";
import { canvasHtml, type Section } from "./sections.js";
import type { LayerReport } from "./types.js";

function weightScaleText(l: LayerReport): string {
  if (!l.weightScale) return "—";
  const { min, max } = l.weightScale;
  return min === max ? fmtNum(min) : `${fmtNum(min)} … ${fmtNum(max)}`;
}

function layerRow(l: LayerReport, index: number, worst: boolean): string {
  const cells = [
    `<td class="num">${index}</td>`,
    `<td class="name">${escapeHtml(l.name)}${worst ? ' <span class="tag worst">lowest SQNR</span>' : ""}</td>`,
    `<td>${escapeHtml(l.type)}</td>`,
    `<td>${escapeHtml(fmtShape(l.outputShape))}</td>`,
    `<td class="num">${l.weightBits ?? "—"}</td>`,
    `<td class="num">${weightScaleText(l)}</td>`,
    `<td>${fmtRange(l.weightRange)}</td>`,
    `<td class="num">${fmtNum(l.activationScale)}</td>`,
    `<td class="num">${fmtNum(l.activationZeroPoint)}</td>`,
    `<td>[${fmtNum(l.activationQmin)}, ${fmtNum(l.activationQmax)}]</td>`,
    `<td>${fmtRange(l.activationRange)}</td>`,
    `<td class="num">${fmtDb(l.sqnrDb)}</td>`,
  ];
  return `<tr${worst ? ' class="worst"' : ""}>${cells.join("")}</tr>`;
}

/** The per-layer table; rows of the worst layers are highlighted. */
export function renderLayerTable(layers: readonly LayerReport[], worst: readonly LayerReport[]): string {
  if (layers.length === 0) return `<p class="empty">No per-layer data in this run (no layers.json; run <code>qat inspect</code> to add it).</p>`;
  const isWorst = new Set(worst);
  const head = [
    "#", "Layer", "Type", "Output shape", "Weight bits", "Weight scale", "Weight range",
    "Act. scale", "Act. zero-point", "Act. [qmin, qmax]", "Act. range", "SQNR",
  ].map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("");
  const rows = layers.map((l, i) => layerRow(l, i, isWorst.has(l))).join("\n");
  return `<div class="table-wrap"><table class="layers"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>
<p class="caption">Weight scale: smallest … largest over output channels (one value when per-tensor). Ranges: observed [min, max] of the float values. SQNR: 10·log10(‖float output‖² / ‖float − quantized output‖²).</p>`;
}

/** One layer's card: name, type, and the two histograms (or a note where there is none). */
function layerCard(l: LayerReport, index: number, worst: boolean): Section {
  const charts: Section["charts"] = [];
  const panel = (kind: "weights" | "activations"): string => {
    const h = kind === "weights" ? l.weightHistogram : l.activationHistogram;
    if (!h) return `<div class="placeholder">${kind === "weights" ? "No weights in this layer." : "No activation histogram recorded."}</div>`;
    const id = `chart-${kind === "weights" ? "w" : "a"}-${index}`;
    const bits = kind === "weights" && l.weightBits !== null ? `, ${l.weightBits}-bit` : "";
    const range = kind === "weights" ? fmtRange(l.weightRange) : fmtRange(l.activationRange);
    const color = kind === "weights" ? COLORS.weights : COLORS.activations;
    charts.push(histogramChart(id, `${kind}${bits} · range ${range}`, h, kind === "weights" ? "weight value" : "activation value", color));
    return canvasHtml(id, `${kind} histogram of layer ${l.name} with the quantization grid`, "chart small");
  };
  const tag = worst ? '<span class="tag worst">lowest SQNR</span>' : "";
  const html = `<div class="card"><div class="layer-head"><h3>${index}. ${escapeHtml(l.name)}</h3><span class="tag">${escapeHtml(l.type)}</span>${tag}<span class="sub">${escapeHtml(fmtShape(l.outputShape))} · SQNR ${fmtDb(l.sqnrDb)}</span></div>
<div class="pair">${panel("weights")}${panel("activations")}</div></div>`;
  return { html, charts };
}

/** A card per layer with its weight and activation histograms. */
export function renderHistograms(layers: readonly LayerReport[], worst: readonly LayerReport[]): Section {
  if (layers.length === 0) return { html: `<p class="empty">No per-layer histograms in this run.</p>`, charts: [] };
  const isWorst = new Set(worst);
  const cards = layers.map((l, i) => layerCard(l, i, isWorst.has(l)));
  const html = `<p class="caption">Filled: histogram of the float values. Orange lines: the real values of the quantization levels inside the range (thinned to every k-th level when there are more than 64; the legend says so). Spiky histograms use a logarithmic count axis.</p>
<div class="grid layers">${cards.map((c) => c.html).join("\n")}</div>`;
  return { html, charts: cards.flatMap((c) => c.charts) };
}
