/**
 * HTML for the report's upper sections: the page header (title, date, notes, config), the
 * training curves of the float and QAT phases, and the per-layer SQNR chart with the worst
 * layers listed. Each builder returns its markup and the charts its canvases need.
 * Browser-safe; called by ./html.ts. The per-layer table and histograms are in ./layers.ts.
 */
import { type ChartSpec, COLORS, sqnrChart, trainingChart } from "./charts.js";
import { escapeHtml, fmtDb, fmtInt, fmtPercent, fmtShape } from "./format.js";
import type { EpochRecord, LayerReport, MetricRecord, RunSummary } from "./types.js";

/** Markup plus the charts to draw into its canvases. */
export interface Section {
  html: string;
  charts: ChartSpec[];
}

/** A chart container with its canvas; the label is read by screen readers. */
export function canvasHtml(id: string, label: string, cls = "chart", style = ""): string {
  const st = style ? ` style="${escapeHtml(style)}"` : "";
  return `<div class="${cls}"${st}><canvas id="${escapeHtml(id)}" role="img" aria-label="${escapeHtml(label)}"></canvas></div>`;
}

/** "2025-05-01T10:20:30Z" → "2025-05-01 10:20 UTC"; anything unparseable is shown as written. */
export function fmtDate(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Nested config objects flattened to dotted keys; arrays and scalars shown as JSON. */
export function flattenConfig(config: Record<string, unknown>, prefix = "", out: [string, string][] = []): [string, string][] {
  for (const [k, v] of Object.entries(config)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
      flattenConfig(v as Record<string, unknown>, key, out);
    } else {
      out.push([key, typeof v === "string" ? v : (JSON.stringify(v) ?? String(v))]);
    }
  }
  return out;
}

function configTable(config: Record<string, unknown>): string {
  const rows = flattenConfig(config);
  if (rows.length === 0) return `<p class="sub">No configuration recorded.</p>`;
  const body = rows.map(([k, v]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td><code>${escapeHtml(v)}</code></td></tr>`).join("");
  return `<div class="table-wrap"><table class="config"><tbody>${body}</tbody></table></div>`;
}

/** The page header: title, creation time, notes, table of contents and the run's config. */
export function renderHeader(summary: RunSummary, toc: readonly [string, string][]): string {
  const notes = summary.notes?.length ? `<ul class="notes">${summary.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>` : "";
  const links = toc.map(([id, label]) => `<a href="#${escapeHtml(id)}">${escapeHtml(label)}</a>`).join("");
  return `<header class="page"><div class="inner">
<h1>${escapeHtml(summary.title)}</h1>
<div class="meta">qat-ts run report · created ${escapeHtml(fmtDate(summary.createdAt))} · ${summary.stages.length} stage${summary.stages.length === 1 ? "" : "s"}</div>
${notes}
<details class="config"><summary>Configuration (${flattenConfig(summary.config).length} options)</summary>${configTable(summary.config)}</details>
<nav class="toc">${links}</nav>
</div></header>`;
}

/** One line of facts about a training phase: epochs, steps, final accuracy, speed, time. */
export function phaseStats(records: readonly MetricRecord[]): string {
  const epochs = records.filter((r): r is EpochRecord => r.kind === "epoch");
  const lastStep = records.reduce((m, r) => Math.max(m, r.step), 0);
  const facts: string[] = [`<span><b>${epochs.length}</b> epoch${epochs.length === 1 ? "" : "s"}</span>`, `<span><b>${fmtInt(lastStep)}</b> steps</span>`];
  const last = epochs[epochs.length - 1];
  if (last?.testAccuracy !== undefined) facts.push(`<span>final test accuracy <b>${fmtPercent(last.testAccuracy)}</b></span>`);
  if (epochs.length > 0) {
    const ips = epochs.reduce((s, e) => s + e.imagesPerSec, 0) / epochs.length;
    const secs = epochs.reduce((s, e) => s + e.seconds, 0);
    facts.push(`<span><b>${fmtInt(ips)}</b> img/s</span>`, `<span><b>${secs.toFixed(1)}</b> s</span>`);
  }
  return `<div class="stats">${facts.join("")}</div>`;
}

function phaseCard(id: string, title: string, records: readonly MetricRecord[], color: string, file: string): Section {
  const chart = trainingChart(id, title, records, color);
  if (!chart) {
    return { html: `<div class="card"><h3>${escapeHtml(title)}</h3><div class="placeholder">No ${escapeHtml(file)} in this run.</div></div>`, charts: [] };
  }
  return { html: `<div class="card">${canvasHtml(id, `${title}: loss and accuracy by step`)}${phaseStats(records)}</div>`, charts: [chart] };
}

/** Loss and accuracy curves of float training and of QAT fine-tuning, side by side. */
export function renderTraining(floatMetrics: readonly MetricRecord[], qatMetrics: readonly MetricRecord[]): Section {
  const f = phaseCard("chart-train-float", "Float training", floatMetrics, COLORS.float, "metrics-float.jsonl");
  const q = phaseCard("chart-train-qat", "QAT fine-tuning (fake-quant)", qatMetrics, COLORS.qat, "metrics-qat.jsonl");
  const html = `<div class="grid">${f.html}${q.html}</div>
<p class="caption">Lines: mini-batch loss (left axis). Points: epoch accuracy on the training and test sets (right axis, %) and test loss.</p>`;
  return { html, charts: [...f.charts, ...q.charts] };
}

/** The SQNR bar chart (height grows with the layer count) and the worst layers in words. */
export function renderSqnr(layers: readonly LayerReport[], worst: readonly LayerReport[]): Section {
  const chart = sqnrChart("chart-sqnr", layers, worst);
  if (!chart) return { html: `<p class="empty">No SQNR measurements in this run (run <code>qat inspect</code> to add them).</p>`, charts: [] };
  const height = Math.max(220, 26 * layers.length + 90);
  const items = worst
    .map((l) => `<li><code>${escapeHtml(l.name)}</code> (${escapeHtml(l.type)}, ${escapeHtml(fmtShape(l.outputShape))}): <b>${fmtDb(l.sqnrDb)}</b></li>`)
    .join("");
  const list = worst.length
    ? `<p class="sub">Lowest SQNR — the layers that lose the most to quantization; candidates for more bits, per-channel scales or a longer QAT:</p><ol class="worst">${items}</ol>`
    : "";
  return { html: `<div class="card">${canvasHtml("chart-sqnr", "SQNR per layer in dB", "chart", `height:${height}px`)}${list}</div>`, charts: [chart] };
}
