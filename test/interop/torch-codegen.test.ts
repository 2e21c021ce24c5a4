/**
 * exportTorch / importTorch without Python: the generated model.py follows the graph (module
 * paths = state-dict keys, one forward line a node, the input grid passed to QAT layers), the
 * exported weights come back bit for bit, unsupported nodes and observers are refused naming
 * them, bad project folders get typed errors, and src/interop/torch/py-sources.ts matches the
 * .py files it is generated from (scripts/gen-torch-py.mjs).
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import "../../src/index.js";
import * as ops from "../../src/ops/index.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { FormatError, NotSupportedError, ValueError } from "../../src/tensor/errors.js";
import { buildModel } from "../../src/nn/models/registry.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { manualSeed } from "../../src/tensor/random.js";
import { SGD } from "../../src/optim/sgd.js";
import { prepareQat, qconfigByName, qconfigs } from "../../src/quant/index.js";
import { defaultHistogramFakeQuant } from "../../src/quant/fake-quantize-defaults.js";
import { exportTorch, importTorch, pyPath } from "../../src/interop/torch/index.js";
import { PY_SOURCES } from "../../src/interop/torch/py-sources.js";
import { render } from "../../scripts/gen-torch-py.mjs";
import { ResidualConcatNet, TwoInputNet } from "../graph/models.js";
import { stateDiff, removeTempDirs, tempDir } from "./torch-helpers.js";

class TanhHead extends ResidualConcatNet {
  override forward(x: Tensor): Tensor {
    return ops.tanh(super.forward(x));
  }
}

describe("exportTorch code generation", () => {
  afterAll(removeTempDirs);
  it("py-sources.ts is up to date with src/interop/torch/py/*.py", () => {
    const file = path.join(import.meta.dirname, "../../src/interop/torch/py-sources.ts");
    expect(readFileSync(file, "utf8")).toBe(render());
    expect(Object.keys(PY_SOURCES).sort()).toEqual(["predict.py", "qat_io.py", "qat_layers.py", "qat_runtime.py", "train_ddp.py"]);
  });

  it("writes ResNet-20 as one forward line per graph node, with qat-ts's paths, and reads it back bit for bit", () => {
    manualSeed(1);
    const qm = prepareQat(buildModel({ zoo: "resnet20" }), { qconfig: qconfigs.x86 });
    noGrad(() => qm.forward(randn([4, 1, 28, 28]))); // observers and BN statistics move
    const dir = tempDir("codegen");
    const { files, recipe } = exportTorch(qm, dir, { model: { zoo: "resnet20" }, schedule: { freezeBnStep: 5 }, step: 2 });
    expect(files).toEqual(expect.arrayContaining(["model.py", "qat_runtime.py", "train_ddp.py", "predict.py", "weights.safetensors", "recipe.json"]));
    expect(recipe).toMatchObject({ step: 2, schedule: { freezeBnStep: 5 }, prepared: { model: { zoo: "resnet20" } } });
    const py = readFileSync(path.join(dir, "model.py"), "utf8");
    const graph = (qm.module as unknown as { graph: { nodes: { name: string }[] } }).graph;
    for (const n of graph.nodes) expect(py).toContain(`# ${n.name}`);
    // the residual add reads conv2's quantized output and the block input; conv1 is told the stub's grid
    expect(py).toContain('place(self, "module.layer1.0.add", Add())');
    expect(py).toContain("self.module.conv1(v0, self.quant.activation_post_process)");
    expect(py).toMatch(/= self\.module\.layer2\[0\]\.downsample\[0\]\(v\d+, self\.module\.layer1\[2\]\.relu2\.activation_post_process\)/);
    const back = importTorch(dir);
    expect(back.step).toBe(2);
    expect(stateDiff(qm.stateDict(), back.model.stateDict())).toEqual([]);
    const x = randn([2, 1, 28, 28]);
    qm.eval();
    back.model.eval();
    expect(Array.from(noGrad(() => back.model.forward(x)).data)).toEqual(Array.from(noGrad(() => qm.forward(x)).data));
  });

  it("imports a model whose LSQ+ activation quantizers learned a non-integer zero point (a float parameter: finite is valid)", () => {
    manualSeed(2);
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigByName("w8a8-lsq") });
    qm.train();
    const opt = new SGD(qm.parameters(), { lr: 0.01, momentum: 0.9 });
    for (let s = 0; s < 2; s++) {
      opt.zeroGrad();
      qm.forward(randn([8, 1, 28, 28])).square().mean().backward();
      opt.step();
    }
    const dir = tempDir("lsqplus");
    exportTorch(qm, dir, { model: { zoo: "smallCnn" } });
    expect(stateDiff(qm.stateDict(), importTorch(dir).model.stateDict())).toEqual([]);
  });

  it("names Python attributes safely", () => {
    expect(pyPath("module.layer1.0.conv1")).toBe("self.module.layer1[0].conv1");
    expect(pyPath("module.train.x-y")).toBe('self.module._modules["train"]._modules["x-y"]');
  });

  it("refuses an op it cannot write, naming the node, before writing anything", () => {
    const qm = prepareQat(new TanhHead(), { qconfig: qconfigs.x86, example: randn([2, 3, 8, 8]) });
    const dir = path.join(tempDir("refuse"), "out");
    expect(() => exportTorch(qm, dir)).toThrow(NotSupportedError);
    expect(() => exportTorch(qm, dir)).toThrow(/graph node 'tanh' calls op 'tanh'/);
    expect(() => readFileSync(path.join(dir, "model.py"))).toThrow();
  });

  it("refuses a parameter read inside forward (get_attr), naming the node", () => {
    const qm = prepareQat(new TwoInputNet(), { qconfig: qconfigs.x86, example: [randn([2, 6]), randn([2, 4])] });
    expect(() => exportTorch(qm, tempDir("getattr"))).toThrow(/graph node '\w+' \(get_attr w\) reads a tensor inside forward/);
  });

  it("refuses a quantizer it cannot write, naming it", () => {
    const qconfig = { ...qconfigByName("w8a8"), name: "histogram", activation: () => defaultHistogramFakeQuant() };
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig });
    expect(() => exportTorch(qm, tempDir("hist"))).toThrow(/quantizer 'quant\.activation_post_process\.activation_post_process' uses observer HistogramObserver/);
  });

  it("checks its options and the folders it reads", () => {
    const qm = prepareQat(buildModel({ zoo: "smallCnn" }), { qconfig: qconfigs.x86 });
    expect(() => exportTorch(qm, tempDir("opts"), { schedule: { freezeBnStep: -1 } })).toThrow(/schedule\.freezeBnStep must be a non-negative integer/);
    expect(() => exportTorch(qm, tempDir("opts"), { train: { lr: Number.NaN } })).toThrow(ValueError);
    expect(() => importTorch(path.join(tempDir("none"), "missing"))).toThrow(/cannot read .*recipe\.json/);
    const dir = tempDir("bad");
    exportTorch(qm, dir, { model: { zoo: "smallCnn" } });
    const recipe = JSON.parse(readFileSync(path.join(dir, "recipe.json"), "utf8"));
    writeFileSync(path.join(dir, "recipe.json"), JSON.stringify({ ...recipe, format: "other/9" }));
    expect(() => importTorch(dir)).toThrow(FormatError);
    writeFileSync(path.join(dir, "recipe.json"), "{");
    expect(() => importTorch(dir)).toThrow(/recipe\.json is not valid JSON/);
  });
});
