/**
 * The report's only hand-written browser code, inlined as a <script>: it reads the chart
 * configurations from the `chart-specs` JSON element and hands each to Chart.js. When
 * everything is drawn it sets `data-charts="ready"` on <html> (or "failed" / "missing"),
 * which the Chromium test waits for. Plain ES2017, no imports. Used by ./html.ts.
 */
export const CLIENT_SCRIPT = `(function () {
  "use strict";
  var root = document.documentElement;
  function fail(canvas, message) {
    var note = document.createElement("p");
    note.className = "chart-error";
    note.textContent = message;
    if (canvas && canvas.parentNode) canvas.parentNode.replaceChild(note, canvas);
  }
  var specs = JSON.parse(document.getElementById("chart-specs").textContent || "[]");
  if (typeof Chart === "undefined") {
    specs.forEach(function (s) { fail(document.getElementById(s.canvasId), "Chart library not embedded in this report; see the tables."); });
    root.setAttribute("data-charts", "missing");
    return;
  }
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#374151";
  var failed = 0;
  specs.forEach(function (s) {
    var canvas = document.getElementById(s.canvasId);
    if (!canvas) return;
    try {
      new Chart(canvas, s.config);
    } catch (e) {
      failed++;
      console.error("chart " + s.canvasId + " failed: " + (e && e.message ? e.message : e));
      fail(canvas, "This chart could not be drawn.");
    }
  });
  root.setAttribute("data-charts", failed ? "failed" : "ready");
})();
`;
