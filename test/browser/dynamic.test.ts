/**
 * The dynamic and 4-bit ONNX export forms in onnxruntime-web (issue 18): test/browser/
 * dynamic-page.ts, bundled by esbuild and served by examples/browser/serve.ts's server (COOP/
 * COEP, onnxruntime-web's wasm under /ort/), runs in headless Chromium and compares each
 * export with Int8Model.run in the same tab (measured here: the dynamic MLP, encoder layer, LSTM
 * and GRU bit-equal; MatMulNBits within 9e-8). Bounds: the onnxruntime-node bounds of
 * test/onnx/dynamic-export.test.ts and dynamic-rnn-export.test.ts (dynamic: bit for bit; 4-bit
 * and RNN forms: float summation order / MLAS activation roundings). A form onnxruntime-web's
 * build cannot run is an it.fails with its error. Chromium: $CHROMIUM_PATH, /usr/bin/chromium,
 * or playwright's own download; skipped with the reason printed when there is none.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { startServer, type PageServer } from "../../examples/browser/serve.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  try {
    candidates.push(chromium.executablePath());
  } catch {
    // none registered
  }
  return candidates.find((p): p is string => Boolean(p) && existsSync(p!)) ?? null;
}
const executable = findChromium();
if (!executable) console.warn("[browser dynamic] skipped: no Chromium found (set CHROMIUM_PATH, install Debian's chromium, or `npx playwright-core install chromium`)");

interface CaseResult {
  name: string;
  ops: string[];
  outputs: number;
  maxAbs: number;
  range: number;
  equal: number;
  error?: string;
}

const HTML = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body><script type="module" src="./main.js"></script></body></html>';

describe.skipIf(!executable)("dynamic and 4-bit exports in onnxruntime-web (headless Chromium)", () => {
  let browser: Browser;
  let server: PageServer;
  let results: Map<string, CaseResult>;

  beforeAll(async () => {
    const r = await build({ entryPoints: [path.join(HERE, "dynamic-page.ts")], bundle: true, platform: "browser", format: "esm", target: "es2022", write: false, outfile: "main.js", logLevel: "warning" });
    server = await startServer(new Map([["/", new TextEncoder().encode(HTML)], ["/main.js", r.outputFiles[0].contents]]));
    browser = await chromium.launch({ executablePath: executable!, args: ["--no-sandbox"] });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(server.url);
    await page.waitForFunction(() => {
      const g = globalThis as { __dynResult?: unknown; __dynError?: string };
      return g.__dynResult !== undefined || g.__dynError !== undefined;
    }, null, { timeout: 100_000, polling: 200 });
    const { result, error } = await page.evaluate(() => {
      const g = globalThis as { __dynResult?: unknown; __dynError?: string };
      return { result: g.__dynResult, error: g.__dynError };
    });
    if (error) throw new Error(`page failed: ${error}`);
    expect(errors).toEqual([]);
    results = new Map((result as CaseResult[]).map((c) => [c.name, c]));
    for (const c of results.values()) {
      console.log(`[browser dynamic] ${c.name} (${c.ops.filter((o) => /Dynamic|Integer|NBits|LSTM/.test(o)).join(", ")}): ${c.error ? `onnxruntime-web error: ${c.error}` : `max |ort-web − Int8Model| ${c.maxAbs.toExponential(2)}, ${c.equal}/${c.outputs} bit-equal`}`);
    }
    await page.close();
  }, 150_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const check = (name: string, op: string, bound: "exact" | number) => {
    const c = results.get(name);
    expect(c, name).toBeDefined();
    expect(c!.ops.some((o) => o.endsWith(op))).toBe(true);
    expect(c!.error, c!.error).toBeUndefined();
    expect(c!.outputs).toBeGreaterThan(0);
    if (bound === "exact") expect(c!.equal).toBe(c!.outputs);
    else expect(c!.maxAbs).toBeLessThanOrEqual(bound * c!.range);
  };

  it("MLP, dynamic preset (DynamicQuantizeLinear + MatMulInteger): bit for bit", () => check("MLP dynamic", "MatMulInteger", "exact"));
  it("encoder layer, dynamic preset: bit for bit", () => check("encoder layer dynamic", "MatMulInteger", "exact"));
  it("MLP, int4 weight-only (MatMulNBits): within float summation order", () => check("MLP int4WeightOnly", "MatMulNBits", 1e-5));
  it("MLP, 8da4w (quantize-dequantize in float ops → MatMulNBits): within float summation order", () => check("MLP int8DynActInt4Weight", "MatMulNBits", 1e-5));
  it("dynamic GRU (unrolled GEMMs): within activation roundings", () => check("GRU dynamic (unrolled)", "MatMulInteger", 1e-5));
  it("dynamic LSTM (com.microsoft DynamicQuantizeLSTM): within activation roundings", () => check("LSTM dynamic (DynamicQuantizeLSTM)", "DynamicQuantizeLSTM", 1e-5));
});
