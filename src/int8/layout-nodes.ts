/**
 * Int8Model's execution of the grid-sharing and grid-comparing nodes (./graph.ts MaxMinNode,
 * MeanNode, PadNode, ExpandNode, ResizeNode): reads the node's inputs and tensors and calls
 * its kernel (kernels/layout.ts, kernels/reduce-quant.ts). Called by ./model.ts exec.
 */
import type { Int8Node, ValueInfo } from "./graph.js";
import type { QuantResult } from "./kernels/common.js";
import { expandQuant, gatherQuant, padQuant } from "./kernels/layout.js";
import { type QMaxMinInput, qmaxmin, qmean } from "./kernels/reduce-quant.js";

export type LayoutNode = Extract<Int8Node, { op: "maximum" | "minimum" | "mean" | "pad" | "expand" | "resize" }>;

export function runLayoutNode(node: LayoutNode, env: ReadonlyMap<string, QuantResult>, value: (id: string) => ValueInfo, tensors: ReadonlyMap<string, Int8Array | Int32Array>): QuantResult {
  const x = env.get(node.inputs[0])!;
  const q = (id: string) => value(id).q;
  const yq = q(node.output);
  switch (node.op) {
    case "maximum":
    case "minimum": {
      const inputs: QMaxMinInput[] = node.inputs.map((id, i) => ({ x: env.get(id)!.data, shape: env.get(id)!.shape, zp: q(id).zeroPoint, multiplier: node.multipliers[i] }));
      if (node.constant) inputs.push({ x: tensors.get(node.constant) as Int32Array, shape: node.constShape ?? [1], zp: 0, multiplier: null });
      return qmaxmin({ op: node.op, inputs, yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1] });
    }
    case "mean":
      return qmean({
        x: x.data, xZp: q(node.inputs[0]).zeroPoint, xShape: x.shape, axes: node.axes, keepdims: node.keepdims, multiplier: node.multiplier,
        yZp: yq.zeroPoint, outDType: yq.dtype, clampMin: node.clamp[0], clampMax: node.clamp[1],
      });
    case "pad":
      return padQuant(x, node.pads, node.mode, node.value);
    case "expand":
      return expandQuant(x, [x.shape[0], ...node.shape.slice(1)]);
    case "resize":
      // the non-batch output dims are static: the output value's
      return gatherQuant(x, tensors.get(node.index) as Int32Array, [x.shape[0], ...value(node.output).shape.slice(1)]);
  }
}
