/**
 * `qat report` output: writeReport on a synthetic run directory (./fixture.ts) gives one
 * self-contained HTML file (inline Chart.js, embedded data, no network references), with
 * user-provided names escaped; bad run directories fail with the file named. Then the page
 * is opened in headless Chromium (Debian's /usr/bin/chromium via playwright-core): every
 * chart must render, with no console errors and no network request; a screenshot is saved
 * in the OS temp directory. The Chromium part is skipped, with a message, where it is absent.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRunDir, renderReport, writeReport } from "../../src/report/index.js";
import { FormatError } from "../../src/tensor/errors.js";
import { EVIL_NAME, writeRunDir } from "./fixture.js";

const tmp = mkdtempSync(join(tmpdir(), "qat-report-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The text content of `<script type="application/json" id="<id>">`. */
function jsonElement(html: string, id: string): unknown {
  const m = new RegExp(`<script type="application/json" id="${id}">([^<]*)</script>`).exec(html);
  if (!m) throw new Error(`no #${id} element`);
  return JSON.parse(m[1]);
}

describe("writeReport", () => {
  const dir = join(tmp, "run");
  let html = "";
  let out = "";
  beforeAll(() => {
    writeRunDir(dir);
    out = writeReport(dir);
    html = readFileSync(out, "utf8");
  });

  it("writes <dir>/report.html atomically (no temp file left)", () => {
    expect(out).toBe(join(dir, "report.html"));
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
  });

  it("is self-contained: no remote src/href/url(), chart library and data inline", () => {
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain("Chart.js v4");
    expect(html).toContain("Content-Security-Policy");
    const data = jsonElement(html, "report-data") as ReturnType<typeof loadRunDir>;
    expect(data).toEqual(JSON.parse(JSON.stringify(loadRunDir(dir))));
    expect(data.floatMetrics.length).toBe(2 * 181);
    expect(data.qatMetrics.length).toBe(181);
    expect(data.layers.length).toBe(6);
  });

  it("has a chart spec per canvas and the sections the issue asks for", () => {
    const specs = jsonElement(html, "chart-specs") as { canvasId: string }[];
    const canvases = [...html.matchAll(/<canvas id="([^"]+)"/g)].map((m) => m[1]);
    expect(specs.map((s) => s.canvasId).sort()).toEqual([...canvases].sort());
    // 2 training curves + SQNR + 11 histograms (the pooling layer has no weights).
    expect(canvases.length).toBe(2 + 1 + 11);
    for (const id of ["summary", "training", "sqnr", "layers", "histograms"]) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain("quantization grid (256 levels, every 8th drawn)");
    expect(html).toContain("quantization grid (15 levels)"); // 4-bit: q = −8 falls outside [−max, max]
  });

  it("shows the summary with deltas against float", () => {
    expect(html).toContain("90.12 %");
    expect(html).toContain("−0.21 pp"); // int8: 89.91 − 90.12
    expect(html).toContain("3.94× smaller"); // 421928 / 107112
    expect(html).toContain("2.26× faster"); // 17.2 / 7.6 ms
    expect(html).toContain("412.0 KB");
  });

  it("lists the three lowest-SQNR layers, worst first", () => {
    const list = /<ol class="worst">(.*?)<\/ol>/s.exec(html)![1];
    const names = [...list.matchAll(/<code>(.*?)<\/code>/g)].map((m) => m[1]);
    expect(names).toEqual(["classifier.1", "classifier.3", "&lt;script&gt;alert(1)&lt;/script&gt;"]);
  });

  it("escapes names from user models everywhere", () => {
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain(EVIL_NAME);
    expect(html).not.toContain("alert(1)</script>");
    // Only our own script elements: report-data, chart-specs, Chart.js, the client script.
    expect(html.match(/<script\b/g)!.length).toBe(4);
  });

  it("renders without the chart library, saying the charts are missing", () => {
    const page = renderReport(loadRunDir(dir));
    expect(page).not.toContain("Chart.js v4");
    expect(page).toContain('root.setAttribute("data-charts", "missing")');
  });

  it("writes to an explicit output path", () => {
    const other = join(tmp, "elsewhere.html");
    expect(writeReport(dir, other)).toBe(other);
    expect(existsSync(other)).toBe(true);
  });
});

describe("loadRunDir", () => {
  it("treats missing metrics and layers files as empty", () => {
    const dir = writeRunDir(join(tmp, "bare"), { float: false, qat: false, layers: false });
    const data = loadRunDir(dir);
    expect([data.floatMetrics, data.qatMetrics, data.layers]).toEqual([[], [], []]);
    const html = readFileSync(writeReport(dir), "utf8");
    expect(html).toContain("No metrics-float.jsonl in this run.");
    expect(html).toContain("No per-layer data in this run");
  });

  it("without run.json (a `qat train` / `qat qat` directory) builds the stages from the metrics logs", () => {
    const dir = join(tmp, "no-run-json");
    writeRunDir(dir, { layers: false });
    rmSync(join(dir, "run.json"));
    const data = loadRunDir(dir);
    expect(data.summary.title).toBe("no-run-json");
    expect(data.summary.stages.map((st) => [st.name, st.accuracy, st.sizeBytes])).toEqual([["float", 0.9012, null], ["fake-quant (QAT)", 0.8996, null]]);
    expect(Number.isNaN(Date.parse(data.summary.createdAt))).toBe(false);
    const html = readFileSync(writeReport(dir), "utf8");
    expect(html).toContain("No run.json in this directory");
    expect(html).toContain("90.12");
    rmSync(join(dir, "metrics-qat.jsonl"));
    expect(loadRunDir(dir).summary.stages.map((st) => st.name)).toEqual(["float"]);
  });

  it("names the directory when it has neither run.json nor metrics nor layers", () => {
    const dir = join(tmp, "empty");
    writeRunDir(dir, { float: false, qat: false, layers: false });
    rmSync(join(dir, "run.json"));
    expect(() => loadRunDir(dir)).toThrow(FormatError);
    expect(() => loadRunDir(dir)).toThrow(`${dir} has no run.json and none of metrics-float.jsonl`);
  });

  it("names the file and line of a malformed JSON line", () => {
    const dir = writeRunDir(join(tmp, "bad-jsonl"));
    const file = join(dir, "metrics-qat.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[2] = '{"kind":"step","step":3,';
    writeFileSync(file, lines.join("\n"));
    expect(() => loadRunDir(dir)).toThrow(FormatError);
    expect(() => loadRunDir(dir)).toThrow(`${file}:3: malformed JSON`);
  });

  it("names the file and line of a record of the wrong shape", () => {
    const dir = writeRunDir(join(tmp, "bad-record"));
    const file = join(dir, "metrics-float.jsonl");
    writeFileSync(file, readFileSync(file, "utf8") + '{"kind":"epoch","epoch":"two"}\n');
    expect(() => loadRunDir(dir)).toThrow(new RegExp(`metrics-float\\.jsonl:363: "epoch" must be a number`));
  });

  it("names run.json and layers.json when they are malformed", () => {
    const dir = writeRunDir(join(tmp, "bad-json"));
    writeFileSync(join(dir, "layers.json"), "[{]");
    expect(() => loadRunDir(dir)).toThrow(`${join(dir, "layers.json")}: malformed JSON`);
    writeFileSync(join(dir, "run.json"), JSON.stringify({ title: "t", createdAt: "now", stages: [{ name: 1 }] }));
    expect(() => loadRunDir(dir)).toThrow(/run\.json: stages\[0\]: "latencyMs"/);
  });
});

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`report Chromium test skipped: ${CHROMIUM} not found (install Debian's chromium package to run it)`);

describe("report in headless Chromium", () => {
  it.skipIf(!haveChromium)("renders every chart with no console error and no network request", async () => {
    const { chromium } = await import("playwright-core");
    const dir = writeRunDir(join(tmp, "browser"));
    const file = writeReport(dir);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
      await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, null, { timeout: 15_000 });
      expect(errors).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.dataset.charts)).toBe("ready");
      const canvases = await page.evaluate(inspectCanvases);
      expect(canvases.length).toBe(14);
      for (const c of canvases) {
        expect(c.width, c.id).toBeGreaterThan(100);
        expect(c.height, c.id).toBeGreaterThan(100);
        expect(c.inked, `${c.id} has drawn pixels`).toBeGreaterThan(0.01);
      }
      expect(errors).toEqual([]);
      expect(requests).toEqual([pathToFileURL(file).href]);
      const shot = join(tmpdir(), "qat-ts-report.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

/** The little of the DOM the page functions use (tsconfig has no "dom" lib). */
interface PageCanvas {
  id: string;
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
declare const document: { documentElement: { dataset: Record<string, string | undefined> }; querySelectorAll(selector: "canvas"): Iterable<PageCanvas> };

/** In the page: each canvas's size and the fraction of its pixels that are not transparent. */
function inspectCanvases(): { id: string; width: number; height: number; inked: number }[] {
  return [...document.querySelectorAll("canvas")].map((c) => {
    const ctx = c.getContext("2d")!;
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) inked++;
    return { id: c.id, width: c.width, height: c.height, inked: inked / (c.width * c.height) };
  });
}
