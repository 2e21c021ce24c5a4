/**
 * The `qat` command line as a subprocess, on a tiny subset of the embedded dataset: the two
 * chains of the one grammar (train → qat → convert → export → report, and calibrate →
 * convert → export, each verb reading the previous one's run directory with --from), every
 * other verb's success path, `--json` as exactly one JSON document on stdout (progress on
 * stderr), Keras-style progress lines in piped human output and the deprecated positionals.
 * Bad input is tested in process (test/cli/strict.test.ts), the help grammar in grammar.test.ts.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { DataType, decodeModel } from "../../src/onnx/index.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(os.tmpdir(), "qat-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(dir, ...p);

interface Run {
  code: number;
  out: string;
  err: string;
}

/** tsx's loader by URL: the commands run in `dir`, where a bare "tsx" would not resolve. */
const TSX = pathToFileURL(createRequire(path.join(ROOT, "package.json")).resolve("tsx")).href;

/** `qat <args>` as a child process in `dir` (real pipes: stdout is not a TTY). */
function qatProcess(...args: string[]): Run {
  const r = spawnSync(process.execPath, ["--import", TSX, path.join(ROOT, "src/cli/main.ts"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr.split("\n").filter((l) => l && !l.startsWith("npm warn")).join("\n") };
}

/**
 * `qat <args>` in this process through main(), in `dir` (process.chdir: vitest runs each test
 * file in its own forked process). What the command writes to stdout and stderr — directly or
 * through console — is captured. Most runs are in process: a child process costs seconds of
 * start-up on a loaded machine.
 */
async function qat(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const to = (sink: string[]) => (s: string | Uint8Array) => (sink.push(String(s)), true);
  const line = (sink: string[]) => (...a: unknown[]) => void sink.push(`${a.join(" ")}\n`);
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation(to(out) as never),
    vi.spyOn(process.stderr, "write").mockImplementation(to(err) as never),
    vi.spyOn(console, "log").mockImplementation(line(out)),
    vi.spyOn(console, "warn").mockImplementation(line(err)),
    vi.spyOn(console, "error").mockImplementation(line(err)),
  ];
  const cwd = process.cwd();
  process.chdir(dir);
  let code: number;
  try {
    code = await main(args);
  } finally {
    process.chdir(cwd);
    for (const s of spies) s.mockRestore();
  }
  return { code, out: out.join(""), err: err.join("").split("\n").filter(Boolean).join("\n") };
}

/** `--json` output: exit 0, no error line, and stdout exactly one JSON document (progress went to stderr). */
function json(r: Run): Record<string, unknown> {
  expect(r.code, r.err).toBe(0);
  expect(r.err.split("\n").filter((l) => l.startsWith("qat:"))).toEqual([]);
  expect(r.out.trim().split("\n"), r.out).toHaveLength(1);
  return JSON.parse(r.out) as Record<string, unknown>;
}

const SUB = ["--subset", "256", "--json"];

/** A verb's record in its run directory. */
const record = (f: string) => JSON.parse(readFileSync(at("runs", f), "utf8")) as { verb: string; from: string | null; result: Record<string, unknown> };

describe("qat CLI: the chains", () => {
  it("train → qat → convert → export → report, each --from the previous run directory, --out runs/<verb> by default", async () => {
    // A child process with its output piped: one Keras-style line per epoch, then the result
    // table. (Also checks that --memory is accepted on a real run.) Accuracies are on 128 test images: chance is
    // 0.1; one epoch on 256 images gives ~0.4–0.6.
    const t = qatProcess("train", "--epochs", "2", "--subset", "256", "--memory", "64");
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^float epoch 1\/2\s+4 steps · [\d.]+ s · loss [\d.]+ · acc [\d.]+ % · test loss [\d.]+ · test acc [\d.]+ % · [\d,]+ img\/s$/m);
    expect(t.out).toMatch(/^float epoch 2\/2 /m);
    expect(t.out).toMatch(/^test accuracy\s+\d+\.\d\d %$/m);
    expect(t.out).toMatch(/^checkpoint\s+runs\/train\/float\.ckpt\.safetensors$/m);
    const train = record("train/train.json");
    expect(train.result.testAccuracy as number).toBeGreaterThan(0.25);
    // --json from a child process: stdout is exactly the JSON document, progress went to stderr.
    const qr = qatProcess("qat", "--from", "runs/train", "--calibrate-batches", "2", ...SUB);
    expect(qr.err).toMatch(/^calibrate\s+2\/2 batches/m);
    expect(qr.err).toMatch(/^qat epoch 1\/1 /m);
    const q = json(qr);
    expect(q.checkpoint).toBe(path.join("runs", "qat", "qat.ckpt.safetensors"));
    expect(q.fakeQuantAccuracy as number).toBeGreaterThan(0.25);
    const c = json(await qat("convert", "--from", "runs/qat", "--json"));
    expect(c.model).toBe(path.join("runs", "convert", "model.int8.safetensors"));
    expect(c.bytes as number).toBeGreaterThan(1000);
    const ex = json(await qat("export", "--from", "runs/convert", "--json"));
    expect(ex).toMatchObject({ file: path.join("runs", "export", "model.qdq.onnx"), source: path.join("runs", "convert", "model.int8.safetensors"), sourceKind: "int8", format: "qdq" });
    expect(readFileSync(at("runs/export/model.qdq.onnx")).length).toBe(ex.bytes);
    // --weight-type uint8: the conv/linear weights are written as UINT8 initializers (zero points + 128)
    const u8 = json(await qat("export", "--from", "runs/convert", "--weight-type", "uint8", "--out", "runs/export-u8", "--json"));
    const inits = decodeModel(new Uint8Array(readFileSync(at(u8.file as string)))).graph!.initializer!;
    expect(inits.some((t) => t.dataType === DataType.UINT8 && /weight/.test(t.name ?? ""))).toBe(true);
    expect(inits.some((t) => t.dataType === DataType.INT8 && /weight/.test(t.name ?? ""))).toBe(false);
    // Each record names what it read; the report of the last directory follows them back to train.
    expect(record("export/export.json").from).toBe(at("runs/convert/model.int8.safetensors"));
    expect(record("convert/convert.json").from).toBe(at("runs/qat/qat.ckpt.safetensors"));
    expect(record("qat/qat.json").from).toBe(at("runs/train/float.ckpt.safetensors"));
    // (the deprecated positional form: still works, with a note on stderr)
    const rr = await qat("report", "runs/export", "--json");
    expect(rr.err).toBe("qat report: note: the positional argument is deprecated; use --from runs/export");
    const r = json(rr);
    expect(r.report).toBe(path.join("runs", "export", "report.html"));
    expect(r.stages).toEqual(["float", "fake-quant (QAT)", "int8", "onnx qdq"]);
    const html = readFileSync(at(r.report as string), "utf8");
    expect(html).toContain("<html");
    expect(html).toContain(`${((q.fakeQuantAccuracy as number) * 100).toFixed(2)}`);
    // eval of a checkpoint reproduces what the command that wrote it reported (human table).
    const e = await qat("eval", "--from", "runs/train/float.ckpt.safetensors", "--subset", "256");
    expect(e.out).toMatch(/^eval float\s+1\/1 batches/m);
    expect(e.out).toContain(`runs/train/float.ckpt.safetensors  float  ${((train.result.testAccuracy as number) * 100).toFixed(2)} %`);
  }, 240_000);

  it("calibrate → convert → export by directory (convert takes calibrate's ptq.ckpt.safetensors); eval, import, inspect, bench, report on them", async () => {
    const p = json(await qat("calibrate", "--from", "runs/train", "--batches", "2", ...SUB));
    expect(p.checkpoint).toBe(path.join("runs", "calibrate", "ptq.ckpt.safetensors"));
    // 8-bit post-training quantization keeps the float model's accuracy within 5 points (128 images).
    expect(Math.abs((p.fakeQuantAccuracy as number) - (record("train/train.json").result.testAccuracy as number))).toBeLessThanOrEqual(0.05);
    json(await qat("convert", "--from", "runs/calibrate", "--out", "runs/convert-ptq", "--json"));
    const ex = json(await qat("export", "--from", "runs/convert-ptq", "--format", "qoperator", "--out", "runs/export-ptq", "--json"));
    expect(ex.file).toBe(path.join("runs", "export-ptq", "model.qoperator.onnx"));
    // eval of a run directory evaluates every model in it, and reproduces what calibrate reported.
    const e = json(await qat("eval", "--from", "runs/calibrate", ...SUB)) as { results: { kind: string; accuracy: number }[] };
    expect(e.results.map((x) => x.kind)).toEqual(["qat"]);
    expect(e.results[0].accuracy).toBe(p.fakeQuantAccuracy);
    // import of the QOperator file: an Int8Model as accurate as the fake-quant model it came from.
    const im = json(await qat("import", "--from", ex.file as string, "--data", "embedded", "--out", "runs/import", ...SUB));
    expect(im).toMatchObject({ kind: "int8", saved: path.join("runs", "import", "model.int8.safetensors") });
    expect(Math.abs((im.accuracy as number) - (p.fakeQuantAccuracy as number))).toBeLessThanOrEqual(0.03);
    const ins = json(await qat("inspect", "--from", "runs/calibrate", "--samples", "16", ...SUB)) as { layers: { name: string }[]; layersFile: string };
    expect(ins.layers.map((l) => l.name)).toContain("module.conv1");
    expect(JSON.parse(readFileSync(at(ins.layersFile), "utf8"))).toHaveLength(ins.layers.length);
    const b = json(await qat("bench", "--from", "runs/import", "--json")) as { models: { kind: string; latencyMs: { batch1: number } }[]; int8SpeedupB256: number | null };
    expect(b.models.map((m) => m.kind)).toEqual(["int8"]);
    expect(b.models[0].latencyMs.batch1).toBeGreaterThan(0);
    expect(b.int8SpeedupB256).toBeNull(); // no float model in that directory
    const r = json(await qat("report", "--from", "runs/import", "--json"));
    expect(r.stages).toEqual(["float", "fake-quant (PTQ)", "int8", "onnx qoperator", "imported int8"]);
  }, 240_000);
});

describe("qat demo", () => {
  it("runs end to end, prints the stage lines and summary, and resumes without redoing finished stages", async () => {
    const out = at("demo");
    const r = qatProcess("demo", "--out", out, "--epochs", "1", "--subset", "384");
    expect(r.code, r.err).toBe(0);
    for (const s of ["1/6 float training", "float epoch 1/1", "2/6 quantization-aware", "qat epoch 1/1", "3/6 convert", "4/6 export", "5/6 evaluate", "6/6 report"]) expect(r.out, s).toContain(s);
    expect(r.out).toMatch(/^int8\s+\d+\.\d\d %/m);
    for (const f of ["float.ckpt.safetensors", "qat.ckpt.safetensors", "model.int8.safetensors", "run.json", "layers.json", "report.html"]) expect(existsSync(path.join(out, f)), f).toBe(true);
    const before = readFileSync(path.join(out, "model.int8.safetensors"));
    const again = json(await qat("demo", "--out", out, "--epochs", "1", "--subset", "384", "--json"));
    expect((again.stages as unknown[]).length).toBeGreaterThanOrEqual(3);
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
