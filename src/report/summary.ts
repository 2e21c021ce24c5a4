/**
 * The summary table of the report: accuracy, model size and latency for each pipeline stage
 * (float, fake-quant, int8, ONNX), with deltas against the float stage. Browser-safe; called
 * by ./html.ts.
 */
import { escapeHtml, fmtKb, fmtMs, fmtPercent, fmtPointsDelta, fmtRatio } from "./format.js";
import type { RunSummary, StageSummary } from "./types.js";

/** The baseline for deltas: the stage named "float" (case-insensitive), else the first one. */
export function baselineStage(stages: readonly StageSummary[]): StageSummary | null {
  return stages.find((s) => s.name.trim().toLowerCase() === "float") ?? stages[0] ?? null;
}

/** A cell with a CSS class saying whether the change is good, bad or neutral. */
function deltaCell(text: string, goodness: number | null): string {
  const cls = goodness === null || text === "—" || text === "same" ? "delta" : goodness > 0 ? "delta good" : goodness < 0 ? "delta bad" : "delta";
  return `<td class="${cls}">${escapeHtml(text)}</td>`;
}

/** Sign of improvement for "lower is better" quantities (size, latency). */
function lowerIsBetter(value: number | null, base: number | null): number | null {
  if (value === null || base === null || !Number.isFinite(value) || !Number.isFinite(base)) return null;
  return Math.sign(base - value);
}

function stageRow(s: StageSummary, base: StageSummary | null): string {
  const isBase = s === base;
  const accDelta = !isBase && s.accuracy !== null && base?.accuracy != null ? s.accuracy - base.accuracy : null;
  const none = `<td class="delta">${isBase ? "baseline" : "—"}</td>`;
  const b = base ?? { accuracy: null, sizeBytes: null, latencyMs: { batch1: null, batch256: null } };
  const cells = [
    `<th scope="row">${escapeHtml(s.name)}</th>`,
    `<td class="num">${fmtPercent(s.accuracy)}</td>`,
    isBase ? none : deltaCell(fmtPointsDelta(accDelta), accDelta === null ? null : Math.sign(Math.round(accDelta * 1e4))),
    `<td class="num">${fmtKb(s.sizeBytes)}</td>`,
    isBase ? none : deltaCell(fmtRatio(s.sizeBytes, b.sizeBytes, "smaller", "larger"), lowerIsBetter(s.sizeBytes, b.sizeBytes)),
    `<td class="num">${fmtMs(s.latencyMs.batch1)}</td>`,
    isBase ? none : deltaCell(fmtRatio(s.latencyMs.batch1, b.latencyMs.batch1, "faster", "slower"), lowerIsBetter(s.latencyMs.batch1, b.latencyMs.batch1)),
    `<td class="num">${fmtMs(s.latencyMs.batch256)}</td>`,
    isBase
      ? none
      : deltaCell(fmtRatio(s.latencyMs.batch256, b.latencyMs.batch256, "faster", "slower"), lowerIsBetter(s.latencyMs.batch256, b.latencyMs.batch256)),
  ];
  return `<tr${isBase ? ' class="baseline"' : ""}>${cells.join("")}</tr>`;
}

/** The `<table>` of stages, or a note when the run recorded none. */
export function renderSummaryTable(summary: RunSummary): string {
  if (summary.stages.length === 0) return `<p class="empty">This run recorded no stages.</p>`;
  const base = baselineStage(summary.stages);
  const head =
    "<thead><tr>" +
    '<th scope="col">Stage</th><th scope="col">Accuracy</th><th scope="col">Δ vs float</th>' +
    '<th scope="col">Size</th><th scope="col">vs float</th>' +
    '<th scope="col">Latency, batch 1</th><th scope="col">vs float</th>' +
    '<th scope="col">Latency, batch 256</th><th scope="col">vs float</th>' +
    "</tr></thead>";
  const rows = summary.stages.map((s) => stageRow(s, base)).join("\n");
  return `<div class="table-wrap"><table class="summary">${head}<tbody>${rows}</tbody></table></div>
<p class="caption">Accuracy: top-1 on the test set. Size: the serialized model, 1 KB = 1024 bytes. Latency: mean time of one forward pass. Deltas are against the <em>${escapeHtml(base?.name ?? "float")}</em> stage; accuracy deltas in percentage points (pp).</p>`;
}
