/**
 * The module an imported float ONNX graph becomes. Every node that runs at inference is a
 * child module: standard layers (Conv2d, Linear, BatchNorm2d, ReLU, …) where the node maps
 * onto one, so prepareQat can fuse and swap them, and an OnnxOp (a generic kernel from
 * onnx-ops.ts, owning its trainable initializers as parameters) otherwise. Children live at
 * dotted paths (nested OnnxContainer namespaces) taken from the initializer or node names,
 * in topological order; OnnxModule keeps the wiring (value names) and looks each child up
 * by path on every call, so swapped-in modules (fusion, QAT) are used. Tracing sees only
 * atomic children, so an imported module exports again. Called by import.ts; OnnxOp is
 * exported by op-map.ts.
 */
import { NotSupportedError, ShapeError, ValueError, fmtShape } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { BatchNormBase } from "../nn/layers/batchnorm.js";
import { Module } from "../nn/module.js";
import type { Kernel } from "./onnx-ops.js";
import type { AttributeProto } from "./proto.js";

/** Where a node input comes from. */
export type InputSlot =
  | { kind: "dynamic" }
  | { kind: "absent" }
  | { kind: "param"; name: string }
  | { kind: "const"; value: Tensor; int64: boolean };

export interface OnnxOpOptions {
  opType: string;
  domain: string;
  attributes: AttributeProto[];
  slots: InputSlot[];
  kernel: Kernel;
  /** Trainable inputs (float initializers), registered as parameters by slot name. */
  params: [string, Tensor][];
}

/** One generic ONNX node; forward takes the dynamic inputs in order. */
export class OnnxOp extends Module {
  readonly opType: string;
  readonly domain: string;
  /** The node's attributes as read, re-emitted on export. */
  readonly attributes: AttributeProto[];
  readonly slots: InputSlot[];
  private readonly kernel: Kernel;

  constructor(opts: OnnxOpOptions) {
    super();
    this.opType = opts.opType;
    this.domain = opts.domain;
    this.attributes = opts.attributes;
    this.slots = opts.slots;
    this.kernel = opts.kernel;
    for (const [name, t] of opts.params) this.registerParameter(name, t);
  }

  forward(...xs: Tensor[]): Tensor {
    let k = 0;
    const inputs = this.slots.map((s) => {
      if (s.kind === "dynamic") return xs[k++] ?? null;
      if (s.kind === "absent") return null;
      return s.kind === "param" ? this.getParameter(s.name) : s.value;
    });
    if (k !== xs.length) throw new ValueError(`OnnxOp ${this.opType}: expected ${k} tensor inputs, got ${xs.length}`);
    return this.kernel(inputs);
  }

  override extraRepr(): string {
    return this.opType;
  }
}

/** A namespace for children at nested paths ("layer1" holding "0", "1", …); never called. */
export class OnnxContainer extends Module {
  forward(): Tensor {
    throw new NotSupportedError("OnnxContainer is a namespace for imported layers; call the OnnxModule that owns it");
  }
}

/** ONNX BatchNormalization on any rank ≥ 2 (used when the input rank is not known to be 4 or 2/3). */
export class OnnxBatchNorm extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim < 2) throw new ShapeError(`OnnxBatchNorm: expected input [N, C, *], got ${fmtShape(x.shape)}`);
  }
}

/** A graph input: name and declared dims (number, symbolic name or null = unknown). */
export interface OnnxInputSpec {
  name: string;
  dims: (number | string | null)[] | null;
}

/** One child call: child path, the value names it reads (dynamic inputs) and writes. */
export interface OnnxStep {
  path: string;
  inputs: string[];
  output: string;
}

export interface OnnxModuleSpec {
  inputs: OnnxInputSpec[];
  outputs: string[];
  steps: OnnxStep[];
  /** Values known at import (graph outputs that are constants). */
  constants: Map<string, Tensor>;
  opset: number;
  /** The ONNX graph's name (kept for re-export). */
  graphName: string;
}

export class OnnxModule extends Module {
  readonly inputSpecs: OnnxInputSpec[];
  readonly outputNames: string[];
  readonly steps: OnnxStep[];
  readonly opset: number;
  readonly graphName: string;
  private readonly constants: Map<string, Tensor>;

  constructor(spec: OnnxModuleSpec) {
    super();
    this.graphName = spec.graphName;
    this.inputSpecs = spec.inputs;
    this.outputNames = spec.outputs;
    this.steps = spec.steps;
    this.constants = spec.constants;
    this.opset = spec.opset;
  }

  /**
   * Zeros shaped as the declared inputs (a symbolic or unknown batch dim becomes 1), for graph
   * capture; null when another dim is unknown.
   */
  exampleInputs(): Tensor[] | null {
    const shapes: number[][] = [];
    for (const spec of this.inputSpecs) {
      if (!spec.dims) return null;
      const dims = spec.dims.map((d, i) => (typeof d === "number" && d > 0 ? d : i === 0 ? 1 : null));
      if (dims.some((d) => d === null)) return null;
      shapes.push(dims as number[]);
    }
    return shapes.map((s) => zeros(s));
  }

  /** Runs the graph; returns the first graph output. */
  forward(...inputs: Tensor[]): Tensor {
    return this.forwardAll(...inputs)[0];
  }

  /** Runs the graph; returns every graph output in declaration order. */
  forwardAll(...inputs: Tensor[]): Tensor[] {
    const env = new Map<string, Tensor>(this.constants);
    this.bindInputs(inputs, env);
    for (const step of this.steps) {
      const args = step.inputs.map((name) => env.get(name)!);
      env.set(step.output, this.getSubmodule(step.path).forward(...args));
    }
    return this.outputNames.map((name) => env.get(name)!);
  }

  private bindInputs(inputs: Tensor[], env: Map<string, Tensor>): void {
    if (inputs.length !== this.inputSpecs.length) {
      throw new ValueError(`OnnxModule: the graph takes ${this.inputSpecs.length} input(s) (${this.inputSpecs.map((s) => s.name).join(", ")}), got ${inputs.length}`);
    }
    this.inputSpecs.forEach((spec, i) => {
      const x = inputs[i];
      const dims = spec.dims;
      const bad = dims && (dims.length !== x.ndim || dims.some((d, k) => typeof d === "number" && d !== x.shape[k]));
      if (bad) {
        const want = dims.map((d) => (d === null ? "?" : d)).join(", ");
        throw new ShapeError(`OnnxModule: input '${spec.name}' must have shape [${want}], got ${fmtShape(x.shape)}`);
      }
      env.set(spec.name, x);
    });
  }

  override extraRepr(): string {
    return `inputs=[${this.inputSpecs.map((s) => s.name).join(", ")}], outputs=[${this.outputNames.join(", ")}], opset=${this.opset}`;
  }
}
