/**
 * Module-level tracing: runs a model once on an example input and records, in execution
 * order, every call of an *atomic* module (a module with no children, or one whose class
 * says `traceAtomic`), with the tensors it consumed and produced. The result is the data-flow
 * graph that quantization's convert() and the ONNX exporter walk.
 *
 * A model traces fully when every tensor an atomic module consumes is either the graph input
 * or the output of an earlier atomic call — i.e. its forward only wires modules together
 * (use nn.Flatten, nn.ReLU, nn.Add, nn.Concat rather than functional ops). Anything else is
 * reported by name, never silently mis-wired.
 * Called by src/quant/convert.ts and src/onnx/export.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { noGrad } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import type { HookHandle, Module } from "./module.js";

/** One atomic module call. Inputs/outputs are tensor ids; `-1` never appears. */
export interface TraceNode {
  /** Dotted path of the module in the model ("" for the model itself). */
  path: string;
  module: Module;
  inputs: number[];
  output: number;
  inputShapes: number[][];
  outputShape: number[];
}

export interface Trace {
  input: number;
  output: number;
  inputShape: number[];
  outputShape: number[];
  nodes: TraceNode[];
  /** Tensors by id (values from the example run). */
  tensors: Map<number, Tensor>;
}

/** True for modules traced as one node. */
export function isAtomic(m: Module): boolean {
  const flag = (m.constructor as { traceAtomic?: boolean }).traceAtomic;
  return flag ?? m.children().length === 0;
}

/**
 * Traces `model` on `example` in eval mode (restored afterwards), without gradients.
 * `atomic` overrides which modules are nodes.
 */
export function traceModel(model: Module, example: Tensor, atomic: (m: Module) => boolean = isAtomic): Trace {
  const nodes: TraceNode[] = [];
  const tensors = new Map<number, Tensor>([[example.id, example]]);
  const handles: HookHandle[] = [];
  let depth = 0;
  for (const [path, m] of model.namedModules()) {
    if (!atomic(m)) continue;
    handles.push(m.registerForwardPreHook(() => void depth++));
    handles.push(
      m.registerForwardHook((_mod, inputs, output) => {
        depth--;
        if (depth > 0) return;
        const ins = (inputs as unknown[]).flat().filter((t): t is Tensor => typeof t === "object" && t !== null && "shape" in t);
        for (const t of ins) tensors.set(t.id, t);
        tensors.set(output.id, output);
        nodes.push({ path, module: m, inputs: ins.map((t) => t.id), output: output.id, inputShapes: ins.map((t) => [...t.shape]), outputShape: [...output.shape] });
      }),
    );
  }
  const wasTraining = model.training;
  let out: Tensor;
  try {
    model.eval();
    out = noGrad(() => model.forward(example));
  } finally {
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  checkWiring(nodes, example.id, out.id);
  return { input: example.id, output: out.id, inputShape: [...example.shape], outputShape: [...out.shape], nodes, tensors };
}

function checkWiring(nodes: TraceNode[], input: number, output: number): void {
  const produced = new Set<number>([input]);
  for (const n of nodes) {
    for (const id of n.inputs) {
      if (!produced.has(id)) {
        throw new NotSupportedError(
          `trace: module '${n.path}' (${n.module.constructor.name}) consumes a tensor computed outside any module ` +
            "(a functional op in a forward method); use module layers such as nn.Flatten, nn.ReLU, nn.Add, nn.Concat",
        );
      }
    }
    produced.add(n.output);
  }
  if (!produced.has(output)) {
    throw new NotSupportedError("trace: the model output is computed by a functional op after the last module; wrap it in a module");
  }
}
