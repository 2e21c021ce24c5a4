/**
 * CLI strictness (issue #16), in process through main(): unknown config keys and bad choice
 * values are errors listing the valid ones, YAML is parsed with the core schema only, file
 * errors name the user's path, and `demo` names the flag at fault before any stage runs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
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
    ["--backend gpu", () => ["train", "--backend", "gpu"], /--backend: expected one of wasm, ref, got 'gpu'/],
    ["demo --qat-epochs 0", () => ["demo", "--qat-epochs", "0", "--out", path.join(dir, "demo")], /^qat: --qat-epochs: expected an integer ≥ 1, got '0'$/],
    ["demo --qconfig w9a9", () => ["demo", "--qconfig", "w9a9", "--out", path.join(dir, "demo")], /unknown qconfig 'w9a9'/],
    ["eval of a missing file", () => ["eval", path.join(dir, "missing.safetensors")], /^qat: model file: .*missing\.safetensors does not exist$/],
    ["eval of a directory", () => ["eval", dir], /^qat: model file: .* is a directory, not a file$/],
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
