/** Module: registration, traversal, state dicts (keys, order, strict loading), hooks, modes, paths, printing. */
import { describe, expect, it } from "vitest";
import "../../src/autograd/backward.js";
import "../../src/ops/index.js";
import { ones, randn, tensor, zeros } from "../../src/tensor/creation.js";
import { DTypeError, ShapeError, ValueError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import { Module, Parameter, StateDictError } from "../../src/nn/index.js";

/** A custom module written the way users write them. */
class Scale extends Module {
  gain: Tensor;
  count: Tensor;

  constructor(n: number) {
    super();
    this.gain = this.registerParameter("gain", ones([n]));
    this.count = this.registerBuffer("count", zeros([1]));
    this.registerBuffer("scratch", zeros([n]), false);
  }

  forward(x: Tensor): Tensor {
    return x.mul(this.gain);
  }
}

class Net extends Module {
  fc: nn.Linear;
  block: nn.Sequential;
  scale: Scale;

  constructor() {
    super();
    this.fc = this.registerModule("fc", new nn.Linear(4, 3));
    this.block = this.registerModule("block", new nn.Sequential(new nn.BatchNorm1d(3), new nn.ReLU(), new nn.Dropout(0.1)));
    this.scale = this.registerModule("scale", new Scale(3));
  }

  forward(x: Tensor): Tensor {
    return this.scale.forward(this.block.forward(this.fc.forward(x)));
  }
}

const NET_KEYS = [
  "fc.weight", "fc.bias",
  "block.0.weight", "block.0.bias", "block.0.running_mean", "block.0.running_var", "block.0.num_batches_tracked",
  "scale.gain", "scale.count",
];

describe("Module registration and traversal", () => {
  it("lists parameters, buffers and modules in PyTorch's order", () => {
    const net = new Net();
    expect(Object.keys(net.stateDict())).toEqual(NET_KEYS);
    expect(net.namedParameters().map(([k]) => k)).toEqual(["fc.weight", "fc.bias", "block.0.weight", "block.0.bias", "scale.gain"]);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(["block.0.running_mean", "block.0.running_var", "block.0.num_batches_tracked", "scale.count", "scale.scratch"]);
    expect(net.namedModules().map(([k]) => k)).toEqual(["", "fc", "block", "block.0", "block.1", "block.2", "scale"]);
    expect(net.namedChildren().map(([k]) => k)).toEqual(["fc", "block", "scale"]);
    expect(net.children().length).toBe(3);
    expect(net.modules().length).toBe(7);
    expect(net.parameters(false)).toEqual([]);
    expect(net.scale.buffers(false).length).toBe(2);
    expect(net.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
  });

  it("keeps the registry in sync with field assignment and rejects clashes", () => {
    const s = new Scale(2);
    const t = ones([2]).mul(3);
    s.gain = Parameter(t);
    expect(s.parameters()[0]).toBe(s.gain);
    expect(s.stateDict()["scale.gain"]).toBeUndefined();
    expect(s.stateDict().gain.toList()).toEqual([3, 3]);
    expect(() => s.registerBuffer("gain", zeros([1]))).toThrow(/already registered as a parameter/);
    expect(() => s.registerParameter("forward", zeros([1]))).toThrow(/attribute 'forward' already exists/);
    expect(() => s.registerParameter("a.b", zeros([1]))).toThrow(ValueError);
    expect(() => ((s as any).gain = 5)).toThrow(/cannot assign number to parameter 'gain'/);
    const frozen = Parameter(zeros([2]), false);
    s.registerParameter("frozen", frozen);
    expect(s.getParameter("frozen").requiresGrad).toBe(false);
  });

  it("deduplicates shared parameters and modules but keeps both state-dict keys", () => {
    const shared = new nn.Linear(2, 2);
    const seq = new nn.Sequential(shared, new nn.ReLU(), shared);
    expect(seq.parameters().length).toBe(2);
    expect(seq.modules().length).toBe(3);
    expect(Object.keys(seq.stateDict())).toEqual(["0.weight", "0.bias", "2.weight", "2.bias"]);
  });

  it("stateDict shares storage (keepVars returns the live tensors); loadStateDict copies in place", () => {
    const a = new Net();
    const b = new Net();
    const sd = a.stateDict();
    expect(sd["fc.weight"].data).toBe(a.fc.weight.data);
    expect(sd["fc.weight"].requiresGrad).toBe(false);
    expect(a.stateDict({ keepVars: true })["fc.weight"]).toBe(a.fc.weight);
    const wBefore = b.fc.weight;
    expect(b.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.fc.weight).toBe(wBefore);
    expect(b.fc.weight.toList()).toEqual(a.fc.weight.toList());
    expect(b.block.at(0).stateDict().num_batches_tracked.dtype).toBe("int32");
  });

  it("loadStateDict reports missing and unexpected keys (strict) and returns them (non-strict)", () => {
    const net = new Net();
    const sd = { ...net.stateDict() };
    delete sd["fc.bias"];
    sd["fc.extra"] = zeros([1]);
    const before = net.fc.weight.toList();
    sd["fc.weight"] = zeros([3, 4]);
    let err: unknown;
    try {
      net.loadStateDict(sd);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect((err as StateDictError).missingKeys).toEqual(["fc.bias"]);
    expect((err as StateDictError).unexpectedKeys).toEqual(["fc.extra"]);
    expect((err as Error).message).toContain('Missing key(s) in state_dict: "fc.bias".');
    expect((err as Error).message).toContain('Unexpected key(s) in state_dict: "fc.extra".');
    expect(net.fc.weight.toList()).toEqual(before);
    expect(net.loadStateDict(sd, { strict: false })).toEqual({ missingKeys: ["fc.bias"], unexpectedKeys: ["fc.extra"] });
    expect(net.fc.weight.toList()).toEqual(new Array(12).fill(0));
    expect(net.loadStateDict(new Map(Object.entries(net.stateDict())))).toEqual({ missingKeys: [], unexpectedKeys: [] });
  });

  it("loadStateDict names the key on shape and dtype mismatches, whatever strict says", () => {
    const net = new Net();
    const sd = { ...net.stateDict(), "fc.weight": zeros([3, 5]) };
    expect(() => net.loadStateDict(sd, { strict: false })).toThrow(ShapeError);
    expect(() => net.loadStateDict(sd)).toThrow(
      "size mismatch for fc.weight: copying a param with shape [3, 5] from checkpoint, the shape in current model is [3, 4]",
    );
    const bad = { ...net.stateDict(), "block.0.num_batches_tracked": tensor(2.5) };
    expect(() => net.loadStateDict(bad)).toThrow(DTypeError);
    expect(() => net.loadStateDict(bad)).toThrow(/block\.0\.num_batches_tracked/);
    const f64 = { ...net.stateDict(), "fc.bias": tensor([1, 2, 3], { dtype: "float64" }) };
    net.loadStateDict(f64);
    expect(net.fc.bias!.dtype).toBe("float32");
    expect(net.fc.bias!.toList()).toEqual([1, 2, 3]);
  });
});

describe("Module behaviour", () => {
  it("runs forward pre-hooks and hooks, which can replace inputs and outputs, and removes them", () => {
    const m = new nn.Linear(2, 2);
    const calls: string[] = [];
    const pre = m.registerForwardPreHook((mod, inputs) => {
      calls.push(`pre:${mod.typeName}`);
      return [(inputs[0] as Tensor).mul(0)];
    });
    const post = m.registerForwardHook((_mod, inputs, out) => {
      calls.push(`post:${(inputs[0] as Tensor).toList().join(",")}`);
      return out.add(100);
    });
    const y = m.forward(tensor([[1, 2]]));
    expect(calls).toEqual(["pre:Linear", "post:0,0"]);
    expect(y.toList()).toEqual(m.bias!.toList().map((b) => Math.fround(b + 100)));
    pre.remove();
    post.remove();
    expect(m.call(tensor([[0, 0]])).toList()).toEqual(m.bias!.toList());
    expect(calls.length).toBe(2);
  });

  it("hooks on children run when the parent's forward calls them (observer insertion)", () => {
    const net = new Net();
    const seen: string[] = [];
    for (const [name, mod] of net.namedModules()) mod.registerForwardHook((_m, _i, out) => void seen.push(`${name}:${out.shape}`));
    net.eval().forward(randn([5, 4]));
    expect(seen).toEqual(["fc:5,3", "block.0:5,3", "block.1:5,3", "block.2:5,3", "block:5,3", "scale:5,3", ":5,3"]);
  });

  it("train/eval propagate to every descendant; apply visits children first", () => {
    const net = new Net();
    expect(net.eval().modules().every((m) => !m.training)).toBe(true);
    expect(net.train().modules().every((m) => m.training)).toBe(true);
    net.train(false);
    expect(net.block.at(2).training).toBe(false);
    const order: string[] = [];
    net.apply((m) => order.push(m.typeName));
    expect(order).toEqual(["Linear", "BatchNorm1d", "ReLU", "Dropout", "Sequential", "Scale", "Net"]);
  });

  it("getSubmodule / setSubmodule follow dotted paths and keep positions", () => {
    const net = new Net();
    expect(net.getSubmodule("block.0")).toBeInstanceOf(nn.BatchNorm1d);
    expect(net.getSubmodule("")).toBe(net);
    expect(() => net.getSubmodule("block.7")).toThrow(/Sequential at 'block' has no submodule '7'/);
    net.setSubmodule("block.0", new nn.Identity());
    expect(net.block.at(0)).toBeInstanceOf(nn.Identity);
    net.setSubmodule("fc", new nn.Linear(4, 3, { bias: false }));
    expect(net.fc.bias).toBeNull();
    expect(Object.keys(net.stateDict())).toEqual(["fc.weight", "scale.gain", "scale.count"]);
    expect(() => net.setSubmodule("nope", new nn.ReLU())).toThrow(StateDictError);
    expect(net.getParameter("scale.gain")).toBe(net.scale.gain);
    expect(() => net.getParameter("scale.count")).toThrow(StateDictError);
  });

  it("zeroGrad clears gradients; requiresGrad_ freezes", () => {
    const net = new Net();
    net.forward(randn([4, 4])).sum().backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad(false);
    expect(net.fc.weight.grad!.toList().every((v) => v === 0)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    net.requiresGrad_(false);
    expect(net.parameters().some((p) => p.requiresGrad)).toBe(false);
  });

  it("toString prints the tree like PyTorch's repr", () => {
    expect(new Net().toString()).toBe(
      [
        "Net(",
        "  (fc): Linear(in_features=4, out_features=3, bias=True)",
        "  (block): Sequential(",
        "    (0): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
        "    (1): ReLU()",
        "    (2): Dropout(p=0.1, inplace=False)",
        "  )",
        "  (scale): Scale()",
        ")",
      ].join("\n"),
    );
  });
});
