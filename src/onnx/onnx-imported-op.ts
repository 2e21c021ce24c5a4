/**
 * What the importer records about generic nodes (OnnxOp) beyond onnx-module.ts: the opset each
 * was read at (IMPORTED_OPSET; op-map.ts refuses to re-emit one verbatim at an opset where its
 * form differs, checkExportOpset), and OnnxSplitPart, one output of an imported ONNX Split
 * (or LSTM / GRU) node: the float OnnxModule runs one child per step and each step has one output, so
 * import-build.ts makes one OnnxSplitPart per used output (its kernel computes that part only);
 * the export rule in op-map.ts re-emits the whole Split with every output named and only this
 * one consumed. Called by import-build.ts and op-map.ts.
 */
import { NotSupportedError } from "../tensor/errors.js";
import { OnnxOp, type OnnxOpOptions } from "./onnx-module.js";

/** The opset each imported generic node was read at (set by import-build.ts). */
export const IMPORTED_OPSET = new WeakMap<OnnxOp, number>();

/**
 * Opsets at which an op's inputs or attributes changed shape (axes moved from an attribute to
 * an input, Softmax's axis semantics, …): a node kept verbatim is wrong on the other side.
 */
const FORM_CHANGES: Readonly<Record<string, readonly number[]>> = {
  Softmax: [13], LogSoftmax: [13], Hardmax: [13], ReduceSum: [13], Squeeze: [13], Unsqueeze: [13], Split: [13, 18],
  ReduceMean: [18], ReduceMax: [18], ReduceMin: [18], ReduceProd: [18], ReduceSumSquare: [18], ReduceL1: [18], ReduceL2: [18],
  ReduceLogSum: [18], ReduceLogSumExp: [18], Slice: [10], Clip: [11], Pad: [11], Dropout: [12], Reshape: [14], ArgMax: [12], ArgMin: [12],
};

/** Throws when an imported node would be re-emitted verbatim at an opset where its form differs. */
export function checkExportOpset(m: OnnxOp, exportOpset: number, path: string): void {
  const from = IMPORTED_OPSET.get(m);
  if (from === undefined || from === exportOpset) return;
  const [lo, hi] = from < exportOpset ? [from, exportOpset] : [exportOpset, from];
  const change = FORM_CHANGES[m.opType]?.find((v) => v > lo && v <= hi);
  if (change !== undefined) {
    throw new NotSupportedError(`onnx export: '${path || m.opType}' is a ${m.opType} node imported at opset ${from}, whose form changed at opset ${change}; export at opset ${from} (exportModel(model, { opset: ${from} }))`);
  }
}

export class OnnxSplitPart extends OnnxOp {
  /** Which output of the Split this module computes, and how many the node has. */
  readonly outputIndex: number;
  readonly outputCount: number;

  constructor(opts: OnnxOpOptions & { outputIndex: number; outputCount: number }) {
    super(opts);
    this.outputIndex = opts.outputIndex;
    this.outputCount = opts.outputCount;
  }

  override extraRepr(): string {
    return `${this.opType} output ${this.outputIndex} of ${this.outputCount}`;
  }
}
