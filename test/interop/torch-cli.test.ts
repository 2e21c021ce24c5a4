/**
 * `qat export-torch` and `qat import-torch` (no Python needed): a QAT checkpoint becomes a
 * PyTorch project and comes back as a QAT run directory that `qat convert` reads; the state
 * survives bit for bit; --help shows an Example; a missing --from is a one-line error.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import { buildModel } from "../../src/nn/models/registry.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { prepareQat, preparedConfig, qconfigs } from "../../src/quant/index.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/fs.js";
import { main } from "../../src/cli/main.js";
import { stateDiff, removeTempDirs, tempDir } from "./torch-helpers.js";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  const error = vi.spyOn(console, "error").mockImplementation((...a) => void err.push(a.join(" ")));
  const write = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  try {
    return { code: await main(args), out: out.join("\n"), err: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

describe("qat export-torch / import-torch", () => {
  afterAll(removeTempDirs);
  it("round-trips a QAT run through a PyTorch project, and convert reads the result", async () => {
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigs.x86 });
    noGrad(() => qm.forward(randn([4, 1, 28, 28])));
    const root = tempDir("cli");
    const run = path.join(root, "qat");
    mkdirSync(run);
    saveCheckpoint(path.join(run, "qat.ckpt.safetensors"), { model: qm.stateDict(), config: { ...preparedConfig(qm, { zoo: "smallCnn" }) } });
    const exp = await cli(["export-torch", "--from", run, "--out", path.join(root, "torch"), "--freeze-bn-step", "200", "--lr", "0.01", "--json"]);
    expect(exp.err).toBe("");
    expect(exp.code).toBe(0);
    const r = JSON.parse(exp.out) as { files: string[]; model: string; run: string; runLocal: string };
    expect(r.model).toBe("smallCnn");
    expect(r.run).toContain("torchrun --nproc_per_node 2 train_ddp.py");
    expect(r.runLocal).toContain("python3 train_ddp.py --nproc 2");
    const recipe = JSON.parse(readFileSync(path.join(root, "torch", "recipe.json"), "utf8"));
    expect(recipe).toMatchObject({ schedule: { freezeBnStep: 200 }, train: { lr: 0.01, batchSize: 64 } });
    const imp = await cli(["import-torch", "--from", path.join(root, "torch"), "--out", path.join(root, "back"), "--json"]);
    expect(imp.code).toBe(0);
    const back = loadCheckpoint(path.join(root, "back", "qat.ckpt.safetensors"));
    expect(stateDiff(qm.stateDict(), back.model)).toEqual([]);
    const conv = await cli(["convert", "--from", path.join(root, "back"), "--out", path.join(root, "int8"), "--json"]);
    expect(conv.code).toBe(0);
    expect(existsSync(path.join(root, "int8", "model.int8.safetensors"))).toBe(true);
  }, 60_000);

  it("has help with an example, and a one-line error without --from", async () => {
    const help = await cli(["export-torch", "--help"]);
    expect(help.out).toContain("Example:");
    const bad = await cli(["import-torch", "--out", path.join(tempDir("cli"), "x")]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^qat: .*--from <dir>/);
  });
});
