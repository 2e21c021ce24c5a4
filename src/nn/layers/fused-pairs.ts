/**
 * Module pairs run as one fused op when nobody can tell: BatchNorm → ReLU (batchNormAct: the
 * statistics, normalisation and ReLU in one kernel call, the ReLU mask recomputed in the
 * backward) and Add → ReLU (addRelu: one pass). Same values and gradients as calling the two
 * modules, bit for bit. Fused only when the second module is a plain nn.ReLU, the first is a
 * BatchNorm1d/2d (BatchNormBase's forward) or an nn.Add, neither has forward hooks — graph
 * capture, trace (convert), calibration and inspection all observe modules through hooks — and
 * no capture is listening; otherwise the two modules' forwards run as usual. lastInputShapes is
 * recorded for both, as their forwards would. Called by Sequential (container.ts) and the
 * ResNet blocks (src/nn/models/resnet.ts).
 */
import { addRelu as addReluOp } from "../../ops/fused-act.js";
import { isCapturing } from "../../tensor/capture-hook.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { Module } from "../module.js";
import { ReLU } from "./activation.js";
import { BatchNormBase } from "./batchnorm.js";
import { Add } from "./merge.js";

/** True when m's class is exactly C (not a subclass, which may override forward). */
function exactly(m: Module, C: unknown): boolean {
  const ctor: unknown = m.constructor;
  return ctor === C;
}

function quietReLU(m: Module): boolean {
  return exactly(m, ReLU) && !m.hasForwardHooks();
}

/** True when bn → relu may run as batchNormAct. */
export function fusibleBatchNormRelu(bn: Module, relu: Module): bn is BatchNormBase {
  return bn instanceof BatchNormBase && (bn.constructor as typeof BatchNormBase).prototype.forward === BatchNormBase.prototype.forward &&
    !bn.hasForwardHooks() && quietReLU(relu) && !isCapturing();
}

/** relu.forward(bn.forward(x)), fused when invisible (see the header). */
export function batchNormRelu(bn: Module, relu: Module, x: Tensor): Tensor {
  if (!fusibleBatchNormRelu(bn, relu)) return relu.forward(bn.forward(x));
  bn.lastInputShapes = [[...x.shape]];
  relu.lastInputShapes = [[...x.shape]];
  return bn.forwardAct(x, "relu");
}

/** relu.forward(add.forward(a, b)), fused when invisible (see the header). */
export function addRelu(add: Module, relu: Module, a: Tensor, b: Tensor): Tensor {
  const plainAdd = exactly(add, Add) && !add.hasForwardHooks();
  if (!plainAdd || !quietReLU(relu) || isCapturing()) return relu.forward(add.forward(a, b));
  const out = addReluOp(a, b);
  add.lastInputShapes = [[...a.shape], [...b.shape]];
  relu.lastInputShapes = [[...out.shape]];
  return out;
}
