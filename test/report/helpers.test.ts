/** The report's pure helpers: escaping, number formats, grid thinning, loss downsampling, parsing. */
import { describe, expect, it } from "vitest";
import { lossPoints, MAX_LINE_POINTS, worstLayers } from "../../src/report/charts.js";
import { escapeHtml, fmtNum, fmtPointsDelta, fmtRatio, jsonForScript, scriptForInline } from "../../src/report/format.js";
import { gridLabel, isSpiky, niceCeil, ordinal, thinGrid } from "../../src/report/histogram-chart.js";
import { parseMetricsJsonl, parseRunSummary } from "../../src/report/parse.js";
import { baselineStage } from "../../src/report/summary.js";
import type { StepRecord } from "../../src/report/types.js";
import { layers } from "./fixture.js";

describe("escaping", () => {
  it("escapes the five HTML specials", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  });

  it("keeps inline JSON parseable while hiding </script> and <!--", () => {
    const value = { name: "</script><!-- & \u2028" };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/<|>|&/);
    expect(JSON.parse(text)).toEqual(value);
  });

  it("breaks up </script in inline code", () => {
    expect(scriptForInline('var s = "</script>"; // <!-- x')).toBe('var s = "<\\/script>"; // <\\!-- x');
  });
});

describe("number formats", () => {
  it("uses true minus signs and scientific notation for tiny scales", () => {
    expect(fmtNum(-0.00123456)).toBe("−0.001235");
    expect(fmtNum(3.2e-5)).toBe("3.200e−5");
    expect(fmtNum(null)).toBe("—");
    expect(fmtPointsDelta(-0.0016)).toBe("−0.16 pp");
    expect(fmtPointsDelta(0)).toBe("±0.00 pp");
  });

  it("says ratios in words", () => {
    expect(fmtRatio(100, 400, "smaller", "larger")).toBe("4.00× smaller");
    expect(fmtRatio(20, 10, "faster", "slower")).toBe("2.00× slower");
    expect(fmtRatio(10, 10, "faster", "slower")).toBe("same");
    expect(fmtRatio(null, 10, "faster", "slower")).toBe("—");
  });

  it("takes the float stage as the baseline wherever it is", () => {
    const stage = (name: string) => ({ name, accuracy: null, sizeBytes: null, latencyMs: { batch1: null, batch256: null } });
    expect(baselineStage([stage("int8"), stage("Float")])!.name).toBe("Float");
    expect(baselineStage([stage("int8")])!.name).toBe("int8");
    expect(baselineStage([])).toBeNull();
  });
});

describe("quantization grid overlay", () => {
  const grid = Array.from({ length: 256 }, (_, q) => (q - 128) * 0.01);

  it("draws small grids in full and thins large ones around zero", () => {
    expect(thinGrid(grid.slice(0, 64)).stride).toBe(1);
    const { levels, stride } = thinGrid(grid);
    expect(stride).toBe(8);
    expect(levels.length).toBe(32);
    expect(levels).toContain(0);
    expect(gridLabel(256, 8)).toBe("quantization grid (256 levels, every 8th drawn)");
    expect(gridLabel(15, 1)).toBe("quantization grid (15 levels)");
  });

  it("formats ordinals and nice axis tops", () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23].map(ordinal)).toEqual(["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd"]);
    expect([195, 200, 201, 0.3, 7].map(niceCeil)).toEqual([200, 200, 250, 0.5, 10]);
  });

  it("detects spiky histograms (ReLU outputs at 0)", () => {
    expect(isSpiky([5000, 10, 12, 9, 8, 3])).toBe(true);
    expect(isSpiky([10, 40, 90, 40, 10])).toBe(false);
  });
});

describe("training curves", () => {
  it("averages long step curves in buckets and turns NaN losses into gaps", () => {
    const steps: StepRecord[] = Array.from({ length: 2 * MAX_LINE_POINTS + 2 }, (_, i) => ({ kind: "step", step: i + 1, epoch: 0, loss: 1, lr: 0.1 }));
    const { points, stride } = lossPoints(steps);
    expect(stride).toBe(3);
    expect(points.length).toBe(Math.ceil(steps.length / 3));
    expect(points[0]).toEqual({ x: 3, y: 1 });
    steps[0].loss = NaN;
    expect(lossPoints(steps.slice(0, 3)).points).toEqual([{ x: 1, y: null }, { x: 2, y: 1 }, { x: 3, y: 1 }]);
  });

  it("reads null losses (JSON for NaN) back as NaN", () => {
    const [r] = parseMetricsJsonl('{"kind":"step","step":1,"epoch":0,"loss":null,"lr":0.1}\n', "m.jsonl");
    expect(r.kind === "step" && Number.isNaN(r.loss)).toBe(true);
  });

  it("rejects unknown record kinds with the file and line", () => {
    expect(() => parseMetricsJsonl('\n{"kind":"batch"}', "m.jsonl")).toThrow('m.jsonl:2: "kind" must be "step" or "epoch", got "batch"');
  });
});

describe("run.json and layers", () => {
  it("accepts a minimal run.json and rejects a wrong one", () => {
    expect(parseRunSummary('{"title":"t","createdAt":"x","stages":[]}').config).toEqual({});
    expect(() => parseRunSummary('{"title":"t","createdAt":"x","stages":{}}')).toThrow('run.json: "stages" must be an array');
  });

  it("picks the three lowest SQNRs, skipping layers without one", () => {
    expect(worstLayers(layers()).map((l) => l.sqnrDb)).toEqual([17.9, 21.7, 24.3]);
  });
});
