/**
 * Builds an OnnxModule from a validated, sorted IrGraph. Per node, in order:
 *   Constant → a known value; Identity → an alias; If → its taken branch, inlined (the
 *   condition must fold at import, onnx-ops-control.ts); a node whose inputs are all constants
 *   (not trainable initializers) → folded now with its generic kernel; otherwise a standard
 *   layer (layer-builders.ts) or a generic OnnxOp (onnx-ops.ts) registered as a child.
 * Float initializers are trainable (except settings such as Pow's exponent, FROZEN_INPUTS): standard layers copy them into their own parameters,
 * OnnxOps register them as parameters, and an initializer used twice stays one tensor.
 * Children are placed at dotted paths (naming.ts). A Split, LSTM or GRU becomes one
 * OnnxSplitPart per used output. INT64 constants beyond int32 (Slice's INT64_MAX "to the end") saturate to int32.
 * Called by import.ts.
 */
import { FormatError, NotSupportedError } from "../tensor/errors.js";
import { noGrad } from "../tensor/grad-mode.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "../ops/layout.js";
import type { Module } from "../nn/module.js";
import { describeNode, parseSubgraph, type IrGraph, type IrNode } from "./graph.js";
import { staticValue } from "./onnx-ops-control.js";
import { LAYER_BUILDERS, type BuildContext } from "./layer-builders.js";
import { ChildPlacer, pathCandidates } from "./naming.js";
import { OnnxModule, OnnxOp, type InputSlot, type OnnxOpOptions, type OnnxStep } from "./onnx-module.js";
import { IMPORTED_OPSET, OnnxSplitPart } from "./onnx-imported-op.js";
import { GENERIC_OPS, type OpContext } from "./onnx-ops.js";
import { DataType, dataTypeName, type TensorProto } from "./proto.js";
import { readTensorProto } from "./tensor-proto.js";

/** Ops the float importer handles (Constant and Identity are resolved at import). */
export function supportedFloatOps(): string[] {
  return [...new Set([...Object.keys(LAYER_BUILDERS), ...Object.keys(GENERIC_OPS), "Constant", "Identity", "If"])].sort();
}

class GraphImporter {
  /** Values known at import: constants, folded outputs, non-float initializers. */
  private readonly constants = new Map<string, Tensor>();
  /** Float initializers (trainable) and the parameter made for each so far. */
  private readonly floatInits = new Map<string, Tensor>();
  private readonly params = new Map<string, Tensor>();
  private readonly int64 = new Set<string>();
  private readonly aliases = new Map<string, string>();
  /** Values read inside inlined If branches (the graph's consumer map does not see them). */
  private readonly branchUses = new Set<string>();
  private readonly producerOp = new Map<string, string>();
  private readonly steps: OnnxStep[] = [];
  private readonly root: OnnxModule;
  private readonly placer: ChildPlacer;

  constructor(private readonly g: IrGraph) {
    this.root = new OnnxModule({ inputs: g.inputs.map((i) => ({ name: i.name, dims: i.dims })), outputs: [], steps: this.steps, constants: this.constants, opset: g.opset, graphName: g.name });
    this.placer = new ChildPlacer(this.root);
    for (const [name, tp] of g.initializers) this.addInitializer(name, tp);
    for (const i of g.inputs) {
      if (!GRAPH_INPUT_TYPES.has(i.elemType)) throw new NotSupportedError(`onnx import: graph input '${i.name}' is ${dataTypeName(i.elemType)}; float graphs take FLOAT, DOUBLE, INT64 / INT16 / UINT16 (as int32), INT32, INT8, UINT8 or BOOL (as uint8) inputs`);
      if (i.elemType === DataType.INT64) this.int64.add(i.name);
    }
  }

  private addInitializer(name: string, tp: TensorProto): void {
    if (name === "" || this.floatInits.has(name) || this.constants.has(name)) throw new FormatError(`onnx import: initializer name '${name}' is empty or used twice`);
    const t = readTensorProto(tp, `initializer '${name}'`, { int64: "saturate" });
    if (t.dtype === "float32" || t.dtype === "float64") this.floatInits.set(name, t.dtype === "float32" ? t : cast(t, "float32"));
    else this.constants.set(name, t);
    if (tp.dataType === DataType.INT64) this.int64.add(name);
  }

  build(): OnnxModule {
    for (const node of this.g.nodes) this.addNode(node);
    const outputs = this.g.outputs.map((o) => this.resolve(o));
    for (const o of outputs) {
      const init = this.floatInits.get(o);
      if (init) this.constants.set(o, init);
    }
    this.root.outputNames.push(...outputs);
    return this.root;
  }

  private resolve(name: string): string {
    return this.aliases.get(name) ?? name;
  }

  private valueOf(name: string): Tensor | null | undefined {
    if (name === "") return null;
    return this.constants.get(name) ?? this.floatInits.get(name);
  }

  private addNode(node: IrNode): void {
    const where = describeNode(node);
    if (node.domain !== "") throw new NotSupportedError(`onnx import: ${where} is in domain '${node.domain}', which the float importer does not handle`);
    node.inputs = node.inputs.map((v) => this.resolve(v));
    this.checkExtraOutputs(node, where);
    if (MULTI_OUTPUT.has(node.opType) || (EXTRA_OUTPUTS.has(node.opType) && node.outputs.slice(1).some((o) => o !== "" && this.isUsed(o)))) return this.multiOutput(node, where);
    if (node.opType === "If") return this.foldIf(node, where);
    const out = node.outputs[0];
    if (out === undefined || out === "") throw new FormatError(`onnx import: ${where} has no output`);
    if (node.opType === "Constant") return this.setConstant(out, this.constantValue(node, where), this.int64Constant(node));
    if (node.opType === "Identity" && node.inputs.length === 1) return this.identity(node.inputs[0], out);
    if (this.isNoOpPad(node)) return this.identity(node.inputs[0], out);
    if (node.inputs.length > 0 && node.inputs.every((v, i) => v === "" || this.constants.has(v) || this.frozen(node, i))) return this.fold(node, where, out);
    this.producerOp.set(out, node.opType);
    const built = this.tryLayer(node, where);
    // A layer's forward inputs must be computed values; an initializer there goes the generic way.
    const inputs = built?.dynamicInputs.map((i) => node.inputs[i] ?? "");
    if (built && inputs!.every((v) => v !== "" && this.valueOf(v) === undefined)) return this.place(node, built.module, inputs!, out);
    this.place(node, this.genericOp(node, where), node.inputs.filter((v) => v !== "" && this.valueOf(v) === undefined), out);
  }

  /**
   * Identity is an alias, except of a float initializer: PyTorch stores equal initializers
   * once behind Identity nodes (all-ones BN scales, say), which must stay separate parameters.
   */
  private identity(input: string, out: string): void {
    const init = this.floatInits.get(input);
    if (init) this.floatInits.set(out, new Tensor(init.data.slice(), init.shape));
    else this.aliases.set(out, input);
  }

  /** PyTorch pads average pools with a zero Pad node; that is an alias. */
  private isNoOpPad(node: IrNode): boolean {
    if (node.opType !== "Pad" || this.g.opset < 11 || node.inputs.length < 2 || this.constants.has(node.inputs[0])) return false;
    const pads = this.constants.get(node.inputs[1]);
    return pads !== undefined && pads.toList().every((p) => p === 0) && node.attrs.string("mode", "constant") === "constant";
  }

  private setConstant(name: string, t: Tensor, int64: boolean): void {
    this.constants.set(name, t);
    if (int64) this.int64.add(name);
  }

  /** Only the first output may be used (MaxPool indices, Dropout masks, BN training outputs are not). */
  private checkExtraOutputs(node: IrNode, where: string): void {
    if (MULTI_OUTPUT.has(node.opType) || EXTRA_OUTPUTS.has(node.opType) || node.opType === "If") return;
    node.outputs.slice(1).forEach((o) => {
      if (o !== "" && this.isUsed(o)) {
        throw new NotSupportedError(`onnx import: ${where} output ${o} is used, but only the first output of ${node.opType} is supported`);
      }
    });
  }

  private constantValue(node: IrNode, where: string): Tensor {
    const a = node.attrs;
    const tp = node.proto.attribute?.find((x) => x.name === "value")?.t;
    if (tp && tp.dataType === DataType.INT64) return readTensorProto(tp, `${where} attribute 'value'`, { int64: "saturate" });
    const t = a.tensor("value");
    if (t) return t;
    if (a.has("value_float")) return new Tensor(Float32Array.of(a.float("value_float", 0)), []);
    const floats = a.floats("value_floats");
    if (floats) return new Tensor(Float32Array.from(floats), [floats.length]);
    if (a.has("value_int")) return new Tensor(Int32Array.of(this.int32(a.int("value_int", 0), where)), []);
    const ints = a.ints("value_ints");
    if (ints) return new Tensor(Int32Array.from(ints.map((v) => this.int32(v, where))), [ints.length]);
    throw new NotSupportedError(`onnx import: ${where} has no supported value (value, value_float(s), value_int(s))`);
  }

  private int64Constant(node: IrNode): boolean {
    const a = node.attrs;
    if (a.has("value_int") || a.has("value_ints")) return true;
    const t = node.proto.attribute?.find((x) => x.name === "value")?.t;
    return t?.dataType === DataType.INT64;
  }

  private int32(v: number, where: string): number {
    if (v < -(2 ** 31) || v > 2 ** 31 - 1) throw new FormatError(`onnx import: ${where} holds ${v}, outside the int32 range`);
    return v;
  }

  private opContext(node: IrNode, where: string, outputIndex = 0): OpContext {
    const consts = node.inputs.map((v) => this.valueOf(v));
    const saturatedInts = (name: string) => node.attrs.saturatedInts(name);
    return { opType: node.opType, where, attrs: node.attrs, opset: this.g.opset, consts, outputCount: node.outputs.length, outputIndex, saturatedInts };
  }

  private compile(node: IrNode, where: string, outputIndex = 0) {
    const compiler = GENERIC_OPS[node.opType];
    if (!compiler) throw new NotSupportedError(`onnx import: ${where} cannot run here with these inputs (op ${node.opType} supports only the layer form)`);
    return compiler(this.opContext(node, where, outputIndex));
  }

  /** Split, LSTM, GRU: each used output is folded (constant inputs) or computed by its own OnnxSplitPart. */
  private multiOutput(node: IrNode, where: string): void {
    if (!node.outputs.some((o) => o !== "")) throw new FormatError(`onnx import: ${where} has no output`);
    const constant = node.inputs.every((v, i) => v === "" || this.constants.has(v) || this.frozen(node, i));
    node.outputs.forEach((out, k) => {
      if (out === "" || !this.isUsed(out)) return;
      if (constant) return this.fold(node, where, out, k);
      this.producerOp.set(out, node.opType);
      const part = new OnnxSplitPart({ ...this.genericOptions(node, where, k), outputIndex: k, outputCount: node.outputs.length });
      IMPORTED_OPSET.set(part, this.g.opset);
      this.place(node, part, node.inputs.filter((v) => v !== "" && this.valueOf(v) === undefined), out);
    });
  }

  /** Read by a node (of the graph or of an inlined If branch) or a graph output. */
  private isUsed(name: string): boolean {
    return this.g.consumers.has(name) || this.g.outputs.includes(name) || this.branchUses.has(name);
  }

  /**
   * If: its condition must fold at import (onnx-ops-control.ts); the taken branch's
   * initializers and nodes are then imported in place, and the If's outputs alias the
   * branch's outputs. A data-dependent condition is a NotSupportedError naming the node.
   */
  private foldIf(node: IrNode, where: string): void {
    const condName = node.inputs[0] ?? "";
    const cond = staticValue(condName, {
      graph: this.g,
      constant: (v) => this.valueOf(this.resolve(v)) ?? undefined,
      run: (n, inputs) => this.compile(n, describeNode(n))(inputs),
    });
    if (!cond) throw new NotSupportedError(`onnx import: ${where} branches on '${condName}', which depends on the input data; only an If whose condition folds at import (a constant, or computed from initializers and static input shapes) is supported`);
    if (cond.size !== 1) throw new FormatError(`onnx import: ${where} condition '${condName}' must hold one value, got ${cond.size}`);
    const taken = cond.item() !== 0 ? "then_branch" : "else_branch";
    const branch = node.attrs.graph(taken);
    if (!branch) throw new FormatError(`onnx import: ${where} has no ${taken}`);
    const outer = new Set<string>([...this.g.initializers.keys(), ...this.g.inputs.map((i) => i.name), ...this.constants.keys(), ...this.floatInits.keys(), ...this.aliases.keys(), ...this.steps.map((st) => st.output)]);
    for (const n of this.g.nodes) for (const o of n.outputs) outer.add(o);
    const sub = parseSubgraph(branch, outer, `${where} ${taken}`);
    if (sub.outputs.length !== node.outputs.length) throw new FormatError(`onnx import: ${where} ${taken} has ${sub.outputs.length} outputs, the If ${node.outputs.length}`);
    for (const tp of sub.initializers) this.addInitializer(tp.name ?? "", tp);
    for (const n of sub.nodes) for (const v of [...n.inputs, ...n.implicitInputs]) this.branchUses.add(v);
    sub.outputs.forEach((o, k) => node.outputs[k] !== "" && this.branchUses.add(o));
    for (const n of sub.nodes) this.addNode(n);
    sub.outputs.forEach((o, k) => {
      if (node.outputs[k] !== "") this.identity(this.resolve(o), node.outputs[k]);
    });
  }

  private fold(node: IrNode, where: string, out: string, outputIndex = 0): void {
    const kernel = this.compile(node, where, outputIndex);
    const value = noGrad(() => kernel(node.inputs.map((v) => this.valueOf(v) ?? null)));
    const fromInt64 = node.opType === "Shape" || (node.opType === "Cast" ? node.attrs.int("to", 0) === DataType.INT64 : node.inputs.some((v) => this.int64.has(v)));
    this.setConstant(out, value, fromInt64 && value.dtype === "int32");
  }

  private tryLayer(node: IrNode, where: string) {
    const builder = LAYER_BUILDERS[node.opType];
    // Standard layers take float input: a node reading an integer graph input runs its generic kernel.
    const input = this.g.inputs.find((i) => i.name === node.inputs[0]);
    if (!builder || (input && input.elemType !== DataType.FLOAT && input.elemType !== DataType.DOUBLE)) return null;
    const ctx: BuildContext = {
      node, where, opset: this.g.opset,
      value: (i) => this.valueOf(node.inputs[i] ?? ""),
      initializerName: (i) => (this.floatInits.has(node.inputs[i]) ? node.inputs[i] : undefined),
      producerOp: (i) => this.producerOp.get(node.inputs[i]),
      sharedParam: (init) => this.params.get(init),
      rememberParam: (init, t) => void this.params.set(init, t),
    };
    return builder(ctx);
  }

  /** A float initializer at an input that is a setting, not a weight (Pow's exponent, Range's bounds): constant, not trained. */
  private frozen(node: IrNode, i: number): boolean {
    return (FROZEN_INPUTS[node.opType]?.includes(i) ?? false) && this.floatInits.has(node.inputs[i]);
  }

  private genericOp(node: IrNode, where: string): OnnxOp {
    const op = new OnnxOp(this.genericOptions(node, where));
    IMPORTED_OPSET.set(op, this.g.opset);
    return op;
  }

  /** A generic node's kernel, input slots and parameters (float initializers, shared by name). */
  private genericOptions(node: IrNode, where: string, outputIndex = 0): OnnxOpOptions {
    const kernel = this.compile(node, where, outputIndex);
    const params: [string, Tensor][] = [];
    const slots: InputSlot[] = node.inputs.map((v, i) => {
      if (v === "") return { kind: "absent" };
      const init = this.floatInits.get(v);
      if (init && this.frozen(node, i)) return { kind: "const", value: init, int64: false };
      if (init) {
        const name = paramName(v, i, params);
        const shared = this.params.get(v);
        params.push([name, shared ?? init]);
        if (!shared) this.params.set(v, init);
        return { kind: "param", name };
      }
      const c = this.constants.get(v);
      return c ? { kind: "const", value: c, int64: this.int64.has(v) } : { kind: "dynamic" };
    });
    return { opType: node.opType, domain: node.domain, attributes: node.proto.attribute ?? [], slots, kernel, params };
  }

  private place(node: IrNode, module: Module, inputs: string[], out: string): void {
    const inits = node.inputs.filter((v) => this.floatInits.has(v) || this.g.initializers.has(v));
    const path = this.placer.place(pathCandidates(node, inits), module, node.name || `${node.opType}_${node.index}`);
    this.steps.push({ path, inputs, output: out });
  }
}

/** A parameter's name on an OnnxOp: the initializer's last segment ("weight") when usable, else p<i>. */
function paramName(init: string, slot: number, taken: readonly [string, Tensor][]): string {
  const last = init.slice(init.lastIndexOf(".") + 1);
  const ok = /^[A-Za-z_][A-Za-z0-9_]*$/.test(last) && !(last in OnnxOp.prototype) && !RESERVED.has(last) && !taken.some(([n]) => n === last);
  return ok ? last : `p${slot}`;
}

/**
 * Inputs whose float initializers stay constants: exponents (`x ** 2` in a LayerNorm spelled as
 * ops — training one would give NaN gradients for negative bases), Range bounds, Clip bounds,
 * Resize's roi and scales, Upsample's scales.
 */
const FROZEN_INPUTS: Readonly<Record<string, readonly number[]>> = { Pow: [1], Range: [0, 1, 2], Clip: [1, 2], Resize: [1, 2], Upsample: [1] };

/** Graph input element types a float graph accepts (INT64, INT16 and UINT16 arrive as int32, BOOL as uint8, as our tensors store them). */
const GRAPH_INPUT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.INT64, DataType.INT32, DataType.INT16, DataType.UINT16, DataType.INT8, DataType.UINT8, DataType.BOOL]);

/** Ops whose outputs after the first are importable: one OnnxSplitPart per used output. */
const MULTI_OUTPUT: ReadonlySet<string> = new Set(["Split", "LSTM", "GRU"]);
/** Ops imported the single-output way unless a later output is used (then as MULTI_OUTPUT). */
const EXTRA_OUTPUTS: ReadonlySet<string> = new Set(["LayerNormalization", "MaxPool", "BatchNormalization", "Dropout"]);

const RESERVED = new Set(["opType", "domain", "attributes", "slots", "kernel", "training"]);

/** The float OnnxModule of a graph. */
export function buildOnnxModule(g: IrGraph): OnnxModule {
  return new GraphImporter(g).build();
}
