/**
 * Text helpers for the HTML report: escaping for element text, attributes and inline JSON,
 * and number formats (percentages, sizes, scales, deltas). Browser-safe; called by the
 * report's section builders (./summary.ts, ./sections.ts) and ./html.ts.
 */

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>` and `&` become \u escapes
 * (still valid JSON), so no string inside can close the element or open a comment.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** JavaScript source for an inline `<script>`: breaks up any `</script` so it cannot end the element early. */
export function scriptForInline(source: string): string {
  return source.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

const DASH = "—";

function finite(x: number | null | undefined): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** A fraction in [0, 1] as a percentage: 0.9134 → "91.34 %". */
export function fmtPercent(fraction: number | null | undefined, digits = 2): string {
  return finite(fraction) ? `${(fraction * 100).toFixed(digits)} %` : DASH;
}

/** A difference of fractions in percentage points, signed: −0.0016 → "−0.16 pp". */
export function fmtPointsDelta(delta: number | null | undefined): string {
  if (!finite(delta)) return DASH;
  const pp = delta * 100;
  return `${signed(pp, 2)} pp`;
}

/** A signed number with a true minus sign: 1.5 → "+1.50", −1.5 → "−1.50". */
export function signed(x: number, digits: number): string {
  const s = Math.abs(x).toFixed(digits);
  if (Number(s) === 0) return `±${s}`;
  return x < 0 ? `−${s}` : `+${s}`;
}

/** Bytes in KB (1 KB = 1024 bytes): 421888 → "412.0 KB". */
export function fmtKb(bytes: number | null | undefined): string {
  return finite(bytes) ? `${(bytes / 1024).toFixed(1)} KB` : DASH;
}

/** Milliseconds: 7.61 → "7.61 ms"; large values lose decimals. */
export function fmtMs(ms: number | null | undefined): string {
  if (!finite(ms)) return DASH;
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
}

/** A general number for tables: 4 significant digits, scientific when tiny or huge. */
export function fmtNum(x: number | null | undefined): string {
  if (!finite(x)) return DASH;
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e5) return x.toExponential(3).replace(/-/g, "−");
  return String(Number(x.toPrecision(4))).replace(/-/g, "−");
}

/** An integer with thousands separators: 12345 → "12,345". */
export function fmtInt(x: number | null | undefined): string {
  return finite(x) ? Math.round(x).toLocaleString("en-US") : DASH;
}

/** A [min, max] range: "[−1.234, 5.678]". */
export function fmtRange(r: readonly [number, number] | null | undefined): string {
  return r ? `[${fmtNum(r[0])}, ${fmtNum(r[1])}]` : DASH;
}

/** A shape: [1, 16, 28, 28] → "1×16×28×28". */
export function fmtShape(shape: readonly number[]): string {
  return shape.length === 0 ? "scalar" : shape.join("×");
}

/** dB with one decimal: "34.2 dB". */
export function fmtDb(db: number | null | undefined): string {
  return finite(db) ? `${db.toFixed(1)} dB` : DASH;
}

/**
 * A ratio against the baseline as words, e.g. for sizes ("3.9× smaller") or latencies
 * ("2.2× faster"); `lower`/`higher` name the direction where value < base or > base.
 */
export function fmtRatio(value: number | null | undefined, base: number | null | undefined, lower: string, higher: string): string {
  if (!finite(value) || !finite(base) || value <= 0 || base <= 0) return DASH;
  const r = base / value;
  if (Math.abs(r - 1) < 0.005) return "same";
  return r > 1 ? `${r.toFixed(2)}× ${lower}` : `${(1 / r).toFixed(2)}× ${higher}`;
}
