/**
 * The `qat` command line as a subprocess: every command's success path on a tiny subset of
 * the embedded dataset, and a bad-input path (one-line error, non-zero exit).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(os.tmpdir(), "qat-cli-"));

function qat(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr.split("\n").filter((l) => l && !l.startsWith("npm warn")).join("\n") };
}

function json(r: { code: number; out: string; err: string }): Record<string, unknown> {
  expect(r.err, r.err).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.out.trim().split("\n").pop()!) as Record<string, unknown>;
}

describe("qat CLI", () => {
  it("--help lists every command; unknown commands and options fail with exit 2", () => {
    const h = qat("--help");
    expect(h.code).toBe(0);
    for (const c of ["train", "qat", "calibrate", "convert", "eval", "export", "import", "inspect", "report", "bench", "demo"]) expect(h.out).toContain(c);
    expect(qat("train", "--help").out).toContain("Example:");
    expect(qat("frobnicate").code).toBe(2);
    expect(qat("train", "--bogus").code).toBe(2);
  });

  it("train → qat → calibrate → convert → eval → inspect → export → bench → report, with --json", () => {
    const sub = ["--subset", "256", "--json"];
    // Accuracies are on the 1,000 test images: chance is 0.1; one epoch on 256 images gives ~0.34
    // (float) and ~0.49 (after the QAT epoch) on both backends, so 0.25 is far from either.
    const t = json(qat("train", "--epochs", "1", "--out", dir, ...sub));
    expect(t.testAccuracy as number).toBeGreaterThan(0.25);
    const q = json(qat("qat", "--from", dir, "--out", dir, "--calibrate-batches", "2", ...sub));
    expect(existsSync(q.checkpoint as string)).toBe(true);
    expect(q.fakeQuantAccuracy as number).toBeGreaterThan(0.25);
    const p = json(qat("calibrate", "--from", dir, "--out", dir, "--batches", "2", ...sub));
    // 8-bit post-training quantization of the float model keeps its accuracy within 3 points.
    expect(Math.abs((p.fakeQuantAccuracy as number) - (t.testAccuracy as number))).toBeLessThanOrEqual(0.03);
    // `eval` of a checkpoint reproduces what the command that wrote it reported.
    expect(json(qat("eval", path.join(dir, "float.ckpt.safetensors"), ...sub)).accuracy).toBe(t.testAccuracy);
    const c = json(qat("convert", "--from", dir, "--out", dir, "--json"));
    expect(c.bytes as number).toBeGreaterThan(1000);
    const e = json(qat("eval", c.model as string, ...sub));
    expect(e.kind).toBe("int8");
    const fe = json(qat("eval", path.join(dir, "qat.ckpt.safetensors"), ...sub));
    expect(fe.accuracy).toBe(q.fakeQuantAccuracy);
    expect(Math.abs((fe.accuracy as number) - (e.accuracy as number))).toBeLessThanOrEqual(0.02);
    const layers = json(qat("inspect", "--from", dir, "--samples", "16", ...sub)) as unknown as { name: string; sqnrDb: number }[];
    expect(layers.map((l) => l.name)).toContain("module.conv1");
    const ex = json(qat("export", "--from", path.join(dir, "float.ckpt.safetensors"), "--format", "float", "--out", path.join(dir, "f.onnx"), "--json"));
    expect(ex.bytes as number).toBeGreaterThan(1000);
    const im = json(qat("import", path.join(dir, "f.onnx"), ...sub));
    expect(im.kind).toBe("float");
    const b = json(qat("bench", "--from", dir, ...sub));
    expect(b.int8_b1_ms as number).toBeGreaterThan(0);
    // A train/qat directory has no run.json (only demo writes one): report builds its stages
    // from the metrics logs the two commands wrote.
    expect(existsSync(path.join(dir, "run.json"))).toBe(false);
    const r = json(qat("report", dir, "--json"));
    const html = readFileSync(r.report as string, "utf8");
    expect(html).toContain("<html");
    expect(html).toContain("No run.json in this directory");
    expect(html).toContain(`${((t.testAccuracy as number) * 100).toFixed(2)}`);
  }, 300_000);

  it("a config file supplies options; flags override it", () => {
    const cfg = path.join(dir, "cfg.yaml");
    writeFileSync(cfg, "epochs: 0\n");
    const r = qat("train", "--config", cfg, "--out", path.join(dir, "cfgrun"), "--subset", "64");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^qat: --epochs: expected an integer ≥ 1, got '0'$/);
  });

  it("bad input: one line on stderr naming the cause, exit 1", () => {
    const cases: [string[], RegExp][] = [
      [["train", "--epochs", "x"], /--epochs/],
      [["train", "--data", "nowhere:1", "--epochs", "1"], /--data/],
      [["train", "--model", "gpt5", "--subset", "64"], /unknown model 'gpt5'/],
      [["qat", "--from", path.join(dir, "missing")], /does not exist/],
      [["convert", "--from", path.join(dir, "float.ckpt.safetensors"), "--out", dir], /checkpoint has no 'qat' config/],
      [["eval", path.join(dir, "cfg.yaml")], /cfg\.yaml/],
      [["qat", "--from", dir, "--qconfig", "w9a9", "--out", path.join(dir, "x"), "--subset", "64"], /unknown qconfig 'w9a9'/],
      [["calibrate", "--from", dir, "--batches", "0", "--out", path.join(dir, "y"), "--subset", "64"], /--batches/],
      [["export", "--from", path.join(dir, "float.ckpt.safetensors"), "--format", "qdq", "--out", path.join(dir, "z.onnx")], /needs a QAT checkpoint/],
      [["import", path.join(dir, "cfg.yaml")], /onnx|protobuf|format|decode/i],
      [["inspect", "--from", path.join(dir, "nope")], /does not exist/],
      [["report", path.join(dir, "nope-dir")], /run\.json|nope-dir/],
      [["bench", "--from", path.join(dir, "nope-dir")], /nope-dir/],
      [["demo", "--out", path.join(dir, "demo-bad"), "--qconfig", "w1a1", "--subset", "64", "--epochs", "1"], /qconfig/],
    ];
    for (const [args, re] of cases) {
      const r = qat(...args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err.split("\n")).toHaveLength(1);
      expect(r.err).toMatch(re);
      expect(r.err.startsWith("qat: ")).toBe(true);
    }
  }, 120_000);
});

describe("qat demo", () => {
  it("runs end to end, prints the summary and resumes without redoing finished stages", () => {
    const out = path.join(dir, "demo");
    const r = qat("demo", "--out", out, "--epochs", "1", "--subset", "384", "--no-progress");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("stage");
    expect(r.out).toMatch(/int8\s+\d+\.\d+ %/);
    for (const f of ["float.ckpt.safetensors", "qat.ckpt.safetensors", "model.int8.safetensors", "run.json", "layers.json", "report.html"]) expect(existsSync(path.join(out, f)), f).toBe(true);
    const before = readFileSync(path.join(out, "model.int8.safetensors"));
    const again = qat("demo", "--out", out, "--epochs", "1", "--subset", "384", "--json");
    expect(again.code).toBe(0);
    expect(readFileSync(path.join(out, "model.int8.safetensors")).equals(before)).toBe(true);
  }, 400_000);
});

describe("qat --freeze-observer auto", () => {
  it("freezes observers at 30 % with LSQ quantizers, 80 % otherwise", async () => {
    const { autoObserverFreeze } = await import("../../src/cli/commands/train.js");
    const { prepareQat, qconfigs, qconfigByName } = await import("../../src/quant/index.js");
    const { smallCnn } = await import("../../src/nn/models/small-cnn.js");
    expect(autoObserverFreeze(prepareQat(smallCnn(), { qconfig: qconfigs.x86 }))).toBe(0.8);
    expect(autoObserverFreeze(prepareQat(smallCnn(), { qconfig: qconfigByName("w4a4-lsq") }))).toBe(0.3);
  });
});

describe("qat --memory", () => {
  it("caps the wasm collection threshold, and refuses values below 16 MiB", () => {
    const r = json(qat("train", "--out", path.join(dir, "mem"), "--subset", "128", "--epochs", "1", "--memory", "64", "--json"));
    expect(r.epochs).toBe(1);
    const bad = qat("train", "--out", path.join(dir, "mem2"), "--subset", "128", "--memory", "8");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/memory/);
  }, 60_000);
});
