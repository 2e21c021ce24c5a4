/**
 * qat-ts in a real browser (issue 19): the example page (examples/browser, bundled by esbuild,
 * served with COOP/COEP so it is cross-origin isolated) runs in headless Chromium driven by
 * playwright-core: QAT steps with fitAsync on the kernel pool's Web Workers, convert,
 * Int8Model, QDQ export run in onnxruntime-web (wasm, served locally), outputs within ±1
 * quantum of Int8Model's. Chromium: $CHROMIUM_PATH, /usr/bin/chromium, or playwright's own
 * download; skipped with the reason printed when there is none.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { buildPage, startServer, type PageServer } from "../../examples/browser/serve.js";

function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  try {
    candidates.push(chromium.executablePath()); // playwright's own download, if any
  } catch {
    // none registered
  }
  return candidates.find((p): p is string => Boolean(p) && existsSync(p!)) ?? null;
}

const executable = findChromium();
if (!executable) console.warn("[browser] skipped: no Chromium found (set CHROMIUM_PATH, install Debian's chromium, or `npx playwright-core install chromium`)");

interface PageResult {
  crossOriginIsolated: boolean;
  backend: string;
  threads: number;
  workers: number;
  workersReady: boolean;
  jobsPosted: number;
  steps: number;
  aborted: boolean;
  fakeQuantAccuracy: number;
  int8Accuracy: number;
  outputs: number;
  maxQuanta: number;
  exact: number;
  onnxBytes: number;
  seconds: number;
}

describe.skipIf(!executable)("qat-ts in headless Chromium", () => {
  let browser: Browser;
  let server: PageServer;

  beforeAll(async () => {
    server = await startServer(await buildPage());
    browser = await chromium.launch({ executablePath: executable!, args: ["--no-sandbox"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("QAT with the worker pool, convert, Int8Model and onnxruntime-web agree within ±1 quantum", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("response", (res) => {
      if (res.status() >= 400) errors.push(`HTTP ${res.status()} for ${res.url()}`);
    });
    await page.goto(`${server.url}?train=512&qatSteps=4&test=250&compare=32`);
    await page.waitForFunction(() => {
      const g = globalThis as { __qatResult?: unknown; __qatError?: string };
      return g.__qatResult !== undefined || g.__qatError !== undefined;
    }, null, { timeout: 50_000, polling: 200 });
    const { result, error, log } = await page.evaluate(() => {
      const g = globalThis as unknown as { __qatResult?: unknown; __qatError?: string; document: { getElementById(id: string): { textContent: string } } };
      return { result: g.__qatResult, error: g.__qatError, log: g.document.getElementById("log").textContent };
    });
    console.log(`[browser] ${executable}\n${log}`);
    expect(error, log).toBeUndefined();
    expect(errors).toEqual([]);
    const r = result as PageResult;
    expect(r.crossOriginIsolated).toBe(true);
    expect(r.backend).toBe("wasm");
    // The pool: as many threads as the browser reports cores; with ≥ 2, Web Workers ran slices.
    const cores = await page.evaluate(() => (globalThis as unknown as { navigator: { hardwareConcurrency: number } }).navigator.hardwareConcurrency);
    expect(r.threads).toBe(cores);
    if (cores > 1) {
      expect(r.workersReady).toBe(true);
      expect(r.jobsPosted).toBeGreaterThan(0);
    }
    expect(r.steps).toBe(4);
    expect(r.aborted).toBe(false);
    expect(r.outputs).toBe(32 * 10);
    expect(r.maxQuanta).toBeLessThanOrEqual(1 + 1e-6);
    expect(r.int8Accuracy).toBeGreaterThan(0.3); // 10 classes: well above chance after a few hundred images
    await page.close();
  }, 60_000);

  it("without cross-origin isolation the page runs on one thread", async () => {
    // Same page served without COOP/COEP: no SharedArrayBuffer, so no pool (feature detection).
    const page = await browser.newPage();
    await page.route("**/*", async (route) => {
      const res = await route.fetch();
      const headers = { ...res.headers() };
      delete headers["cross-origin-opener-policy"];
      delete headers["cross-origin-embedder-policy"];
      await route.fulfill({ response: res, headers });
    });
    await page.goto(`${server.url}?train=128&qatSteps=1&test=250&compare=8`);
    await page.waitForFunction(() => {
      const g = globalThis as { __qatResult?: unknown; __qatError?: string };
      return g.__qatResult !== undefined || g.__qatError !== undefined;
    }, null, { timeout: 50_000, polling: 200 });
    const { result, error } = await page.evaluate(() => {
      const g = globalThis as { __qatResult?: unknown; __qatError?: string };
      return { result: g.__qatResult, error: g.__qatError };
    });
    expect(error).toBeUndefined();
    const r = result as PageResult;
    expect(r.crossOriginIsolated).toBe(false);
    expect([r.threads, r.workers, r.jobsPosted]).toEqual([1, 0, 0]);
    expect(r.maxQuanta).toBeLessThanOrEqual(1 + 1e-6);
    await page.close();
  }, 60_000);
});
