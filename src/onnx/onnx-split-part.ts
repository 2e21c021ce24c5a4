/**
 * One output of an imported ONNX Split node. The float OnnxModule runs one child per step and
 * each step has one output, so import-build.ts makes one OnnxSplitPart per used output (its
 * kernel computes that part only); the export rule in op-map.ts re-emits the whole Split with
 * every output named and only this one consumed.
 */
import { OnnxOp, type OnnxOpOptions } from "./onnx-module.js";

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
    return `Split output ${this.outputIndex} of ${this.outputCount}`;
  }
}
