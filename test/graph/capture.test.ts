/**
 * Graph capture and GraphModule: a user module with a functional residual add, a concat and a
 * reshape; a two-input model; the zoo models. The GraphModule must compute exactly what the
 * module computes (outputs and gradients), keep PyTorch's state-dict keys, follow the batch
 * size on replay, and a value-dependent forward must fail with a CaptureError naming the op.
 */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import { Module } from "../../src/nn/module.js";
import { Linear } from "../../src/nn/layers/linear.js";
import { smallCnn } from "../../src/nn/models/small-cnn.js";
import { resnet20 } from "../../src/nn/models/resnet.js";
import { mobilenetV2Small } from "../../src/nn/models/mobilenet.js";
import { manualSeed } from "../../src/tensor/random.js";
import { randn } from "../../src/tensor/creation.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import { CaptureError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { capture } from "../../src/graph/capture.js";
import { GraphModule } from "../../src/graph/graph-module.js";
import { DataFlow } from "../../src/graph/pattern.js";
import { ResidualConcatNet, TwoInputNet } from "./models.js";

function maxDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

describe("capture", () => {
  it("records functional ops of a user module as call_function nodes, modules as call_module", () => {
    manualSeed(0);
    const net = new ResidualConcatNet();
    const g = capture(net, randn([2, 3, 8, 8]));
    const targets = g.nodes.map((n) => `${n.kind === "call_module" ? "m" : "f"}:${n.target}`);
    expect(targets).toEqual(["m:conv1", "m:bn1", "f:relu", "m:conv2", "m:bn2", "f:add", "f:relu", "m:branch", "f:concat", "f:maxPool2d", "f:reshape", "m:fc"]);
    expect(g.toString()).toContain("call_function[add]");
    // the residual: relu's output is read by conv2 and by add → not single-consumer
    const flow = new DataFlow(g);
    const relu0 = g.nodes[2];
    expect(flow.readersOf(relu0.outputs[0]).map((n) => n.target)).toEqual(["conv2", "add"]);
    expect(flow.soleReader(relu0)).toBeNull();
  });

  it("GraphModule computes the module's outputs and gradients exactly, with the same state-dict keys", () => {
    manualSeed(1);
    const net = new ResidualConcatNet();
    net.train();
    const x = randn([3, 3, 8, 8]);
    const gm = new GraphModule(net, capture(net, x));
    expect(Object.keys(gm.stateDict())).toEqual(Object.keys(net.stateDict()));
    net.eval();
    gm.eval();
    const x2 = randn([5, 3, 8, 8]); // another batch size: the reshape follows it
    expect(maxDiff(noGrad(() => gm.forward(x2)), noGrad(() => net.forward(x2)))).toBe(0);
    // gradients: both share parameters; compare grads of one loss computed each way
    const gradsOf = (m: Module) => {
      m.zeroGrad();
      m.forward(x2).square().sum().backward();
      return net.parameters().map((p) => Float32Array.from(p.grad!.data));
    };
    const viaNet = gradsOf(net);
    const viaGraph = gradsOf(gm);
    viaNet.forEach((g, i) => expect(Array.from(viaGraph[i])).toEqual(Array.from(g)));
  });

  it("captures a two-input model, with a parameter read by a functional matmul as get_attr", () => {
    manualSeed(2);
    const net = new TwoInputNet();
    const x = randn([4, 6]), y = randn([4, 4]);
    const g = capture(net, [x, y]);
    expect(g.inputs.length).toBe(2);
    expect(g.nodes.some((n) => n.kind === "get_attr" && n.target === "w")).toBe(true);
    const gm = new GraphModule(net, g);
    expect(maxDiff(noGrad(() => gm.forward(x, y)), noGrad(() => net.forward(x, y)))).toBe(0);
    expect(Object.keys(gm.stateDict())).toEqual(Object.keys(net.stateDict()));
    gm.forward(x, y).sum().backward();
    expect(net.w.grad).not.toBeNull();
  });

  it("zoo models: the GraphModule equals the module", () => {
    manualSeed(3);
    for (const [net, shape] of [[smallCnn(), [2, 1, 28, 28]], [resnet20({ width: 4 }), [2, 1, 28, 28]], [mobilenetV2Small(), [2, 1, 28, 28]]] as const) {
      net.eval();
      const x = randn([...shape]);
      const gm = new GraphModule(net, capture(net, x));
      gm.eval();
      expect(maxDiff(noGrad(() => gm.forward(x)), noGrad(() => net.forward(x)))).toBe(0);
    }
  });

  it("a forward that branches on tensor values fails with a CaptureError naming the op", () => {
    class DataDependent extends Module {
      fc = this.registerModule("fc", new Linear(4, 4));
      forward(x: Tensor): Tensor {
        const y = this.fc.forward(x);
        return y.sum().item() > 0 ? y.relu() : y.neg();
      }
    }
    const net = new DataDependent();
    expect(() => capture(net, randn([2, 4]))).toThrow(CaptureError);
    expect(() => capture(net, randn([2, 4]))).toThrow(/op 'sum'.*item\(\)/);
    // capture leaves no listener behind: ordinary runs work afterwards
    expect(net.forward(randn([2, 4])).shape).toEqual([2, 4]);
  });
});
