/**
 * CLI strictness (issue #16), in process through main(): unknown config keys and bad choice
 * values are errors listing the valid ones, YAML is parsed with the core schema only, file
 * errors name the user's path, and `demo` names the flag at fault before any stage runs.
 * Then bad input after a real (tiny) training run: wrong or missing --from, a float checkpoint
 * where a quantized one is needed (one message for convert, export and inspect), the
 * deprecated positional given twice.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "qat-strict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Exit code and the stderr lines of one `qat` invocation. */
async function qat(...args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const spy = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  try {
    return { code: await main(args), err };
  } finally {
    spy.mockRestore();
  }
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("qat: strict configuration", () => {
  const cases: [string, () => string[], RegExp][] = [
    ["a misspelled JSON config key", () => ["train", "--config", file("a.json", '{"epohcs": 2}')], /^qat: --config: .*a\.json: unknown key 'epohcs'; valid keys: .*epochs, batch-size, lr/],
    ["a misspelled YAML config key", () => ["train", "--config", file("a.yaml", "epohcs: 2\n")], /unknown key 'epohcs'/],
    ["a YAML !!js/function tag", () => ["train", "--config", file("b.yaml", 'epochs: !!js/function "function () { return 1 }"\n')], /b\.yaml is not valid YAML \(core schema: no custom tags\): Unresolved tag/],
    ["a YAML list instead of a mapping", () => ["train", "--config", file("c.yaml", "- 1\n- 2\n")], /c\.yaml must hold a mapping of option names to values, got a list/],
    ["a config that is a directory", () => ["train", "--config", dir], /--config: .* is a directory, not a file/],
    ["a missing config", () => ["train", "--config", path.join(dir, "nope.yaml")], /--config: .*nope\.yaml does not exist/],
    ["--schedule weird", () => ["train", "--schedule", "weird"], /^qat: --schedule: expected one of none, cosine, got 'weird'$/],
    ["a config schedule value", () => ["train", "--config", file("d.json", '{"schedule": "weird"}')], /--schedule: expected one of none, cosine/],
    ["--format bogus", () => ["export", "--from", "x", "--format", "bogus"], /--format: expected one of float, qdq, qoperator, got 'bogus'/],
    ["--backend gpu", () => ["train", "--backend", "gpu"], /^qat: --backend: expected one of native, wasm, ref, got 'gpu'$/],
    ["--weight-type int4", () => ["export", "--from", "x", "--weight-type", "int4"], /^qat: --weight-type: expected one of auto, int8, uint8, got 'int4'$/],
    ["--integer-ops gelu", () => ["export", "--from", "x", "--integer-ops", "softmax,gelu"], /^qat: --integer-ops: expected a comma-separated list of softmax, layerNorm, got 'softmax,gelu'$/],
    ["demo --qat-epochs 0", () => ["demo", "--qat-epochs", "0", "--out", path.join(dir, "demo")], /^qat: --qat-epochs: expected an integer ≥ 1, got '0'$/],
    ["demo --qconfig w9a9", () => ["demo", "--qconfig", "w9a9", "--out", path.join(dir, "demo")], /unknown qconfig 'w9a9'/],
    ["eval of a missing file", () => ["eval", "--from", path.join(dir, "missing.safetensors")], /^qat: --from: .*missing\.safetensors does not exist$/],
    ["eval of a directory without models", () => ["eval", "--from", dir], /^qat: --from: .* has none of float\.ckpt\.safetensors, .*; eval needs a model/],
    ["a data directory that does not exist", () => ["train", "--data", `mnist:${path.join(dir, "nodata")}`, "--out", path.join(dir, "t")], /nodata.*\(the directory does not exist\)/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: exit 1, one line naming it`, async () => {
      const r = await qat(...args());
      expect(r.code).toBe(1);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(message);
    });
  }

  it("a config file with valid keys (kebab or camel case) still works", async () => {
    mkdirSync(path.join(dir, "ok"), { recursive: true });
    const cfg = file("ok.yaml", "epochs: 0\nbatch-size: 8\n");
    const r = await qat("train", "--config", cfg, "--out", path.join(dir, "ok"));
    expect(r.err).toEqual(["qat: --epochs: expected an integer ≥ 1, got '0'"]); // the key was read, its value checked
  });
});

describe("qat: bad input after a real run (one line naming the cause, exit 1)", () => {
  const run = path.join(dir, "run");
  const float = path.join(run, "float.ckpt.safetensors");
  beforeAll(async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(await main(["train", "--epochs", "1", "--subset", "64", "--out", run, "--json", "--no-progress"])).toBe(0);
    } finally {
      out.mockRestore();
    }
    mkdirSync(path.join(dir, "empty"));
    writeFileSync(path.join(dir, "notes.yaml"), "x: 1\n");
  }, 120_000);

  const needs = /float checkpoint; .*needs a QAT or PTQ checkpoint \(run 'qat qat' or 'qat calibrate' on it first\)$/;
  const cases: [string, () => string[], RegExp][] = [
    ["--epochs x", () => ["train", "--epochs", "x", "--out", path.join(dir, "m")], /--epochs/],
    ["--memory below 16 MiB", () => ["train", "--memory", "8", "--out", path.join(dir, "m")], /^qat: --memory: expected an integer ≥ 16, got '8'$/],
    ["an unknown --data kind", () => ["train", "--data", "nowhere:1", "--epochs", "1", "--out", path.join(dir, "m")], /--data/],
    ["an unknown model", () => ["train", "--model", "gpt5", "--subset", "64", "--out", path.join(dir, "m")], /unknown model 'gpt5'/],
    ["qat --from a missing path", () => ["qat", "--from", path.join(dir, "missing"), "--out", path.join(dir, "m")], /^qat: --from: .*missing does not exist$/],
    ["qat --from a directory without a float checkpoint", () => ["qat", "--from", path.join(dir, "empty"), "--out", path.join(dir, "m")], /empty has no float\.ckpt\.safetensors; run 'qat train' first$/],
    ["convert of a float checkpoint", () => ["convert", "--from", float, "--out", path.join(dir, "x")], needs],
    ["a quantized export of a float checkpoint", () => ["export", "--from", float, "--format", "qdq", "--out", path.join(dir, "z")], needs],
    ["inspect of a float checkpoint", () => ["inspect", "--from", float, "--out", path.join(dir, "m")], needs],
    ["convert --from a train directory", () => ["convert", "--from", run, "--out", path.join(dir, "m")], /has no qat\.ckpt\.safetensors or ptq\.ckpt\.safetensors; run 'qat qat' or 'qat calibrate' first$/],
    ["export --format float of an Int8Model-only directory", () => ["export", "--from", path.join(dir, "empty"), "--format", "float"], /has no float\.ckpt\.safetensors; run 'qat train' first$/],
    ["eval of a config file", () => ["eval", "--from", path.join(dir, "notes.yaml"), "--out", path.join(dir, "m")], /notes\.yaml/],
    ["eval without --from", () => ["eval"], /^qat: eval: --from <file> is required$/],
    ["eval with the input twice", () => ["eval", float, "--from", float], /give the input once, as --from/],
    ["an unknown qconfig", () => ["qat", "--from", run, "--qconfig", "w9a9", "--out", path.join(dir, "x"), "--subset", "64"], /unknown qconfig 'w9a9'/],
    ["calibrate --batches 0", () => ["calibrate", "--from", run, "--batches", "0", "--out", path.join(dir, "y"), "--subset", "64"], /--batches/],
    ["import of a non-ONNX file", () => ["import", "--from", path.join(dir, "notes.yaml")], /onnx|protobuf|format|decode/i],
    ["report of a missing directory", () => ["report", "--from", path.join(dir, "nope-dir")], /^qat: --from: .*nope-dir does not exist$/],
    ["report of an empty directory", () => ["report", "--from", path.join(dir, "empty")], /empty is not a qat run directory/],
    ["bench of a missing directory", () => ["bench", "--from", path.join(dir, "nope-dir"), "--out", path.join(dir, "m")], /^qat: --from: .*nope-dir does not exist$/],
    ["report of a model file: its directory", () => ["report", "--from", path.join(dir, "notes.yaml")], /is not a qat run directory/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: exit 1, one line naming it`, async () => {
      const r = await qat(...args());
      expect(r.code).toBe(1);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^qat: /);
      expect(r.err[0]).toMatch(message);
    });
  }
});
