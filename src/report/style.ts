/**
 * The report's stylesheet, inlined into the page: a light, readable layout with a responsive
 * grid of chart cards, compact numeric tables and print-friendly rules. Browser-safe; used
 * by ./html.ts.
 */
export const REPORT_CSS = `
:root {
  --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc; --card: #ffffff;
  --accent: #2563eb; --good: #15803d; --bad: #b91c1c; --worst-bg: #fef2f2;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1280px; margin: 0 auto; padding: 0 20px 48px; }
header.page { background: #0f172a; color: #f8fafc; padding: 28px 20px 20px; margin-bottom: 8px; }
header.page .inner { max-width: 1280px; margin: 0 auto; }
header.page h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; overflow-wrap: anywhere; }
header.page .meta { color: #cbd5e1; font-size: 13px; }
header.page ul.notes { margin: 10px 0 0; padding-left: 18px; color: #e2e8f0; }
nav.toc { display: flex; flex-wrap: wrap; gap: 6px 16px; margin-top: 14px; font-size: 13px; }
nav.toc a { color: #93c5fd; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section { margin-top: 28px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0; overflow-wrap: anywhere; }
p.caption, p.empty, .sub { color: var(--muted); font-size: 12.5px; margin: 6px 0 0; }
p.empty { font-style: italic; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px; box-shadow: 0 1px 2px rgba(15, 23, 42, 0.04); }
.grid { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
.grid.layers { grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
@media (max-width: 640px) { .grid, .grid.layers { grid-template-columns: 1fr; } main { padding: 0 10px 32px; } }
.chart { position: relative; width: 100%; height: 300px; }
.chart.small { height: 220px; }
.pair { display: grid; gap: 10px; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); margin-top: 8px; }
.placeholder { height: 220px; display: flex; align-items: center; justify-content: center; color: var(--muted); font-size: 12.5px; border: 1px dashed var(--line); border-radius: 8px; text-align: center; padding: 8px; }
.layer-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 10px; }
.tag { display: inline-block; font-size: 11.5px; padding: 1px 7px; border-radius: 999px; background: #eef2ff; color: #3730a3; }
.tag.worst { background: var(--worst-bg); color: var(--bad); }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 10px; background: var(--card); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 7px 10px; text-align: left; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { background: #f1f5f9; font-weight: 600; color: #334155; position: sticky; top: 0; }
tbody tr:last-child th, tbody tr:last-child td { border-bottom: none; }
tbody tr:hover { background: #f8fafc; }
td.num, td.delta { font-variant-numeric: tabular-nums; text-align: right; }
td.delta { color: var(--muted); }
td.delta.good { color: var(--good); font-weight: 600; }
td.delta.bad { color: var(--bad); font-weight: 600; }
tr.baseline th { color: var(--accent); }
tr.worst { background: var(--worst-bg); }
tr.worst:hover { background: #fee2e2; }
td.name { white-space: normal; overflow-wrap: anywhere; min-width: 140px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
ol.worst { margin: 10px 0 0; padding-left: 22px; }
ol.worst li { margin: 2px 0; }
ol.worst code, table.config code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
details.config { margin-top: 14px; }
details.config summary { cursor: pointer; color: #e2e8f0; font-size: 13px; }
table.config { margin-top: 8px; background: var(--card); color: var(--fg); border-radius: 8px; overflow: hidden; }
table.config td { white-space: normal; overflow-wrap: anywhere; }
table.config th { width: 30%; color: #334155; font-weight: 600; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 8px; font-size: 12.5px; color: var(--muted); }
.stats b { color: var(--fg); font-weight: 600; }
.chart-error { color: var(--bad); font-size: 12.5px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; text-align: center; }
@media print {
  body { background: #fff; }
  header.page { background: #fff; color: #000; border-bottom: 2px solid #000; }
  header.page .meta, nav.toc a { color: #000; }
  .card, .table-wrap { box-shadow: none; break-inside: avoid; }
}
`;
