/**
 * Shared by the Quantizer API tests (quantizer*.test.ts, reference*.test.ts): user models with
 * a functional residual add → relu, a concat and a sigmoid; a few float steps so BN statistics
 * and weights are not at their initial values; calibration + QAT steps; ±1-quantum agreement.
 */
import "../../src/autograd/backward.js";
import * as ops from "../../src/ops/index.js";
import { Linear } from "../../src/nn/layers/linear.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { SGD } from "../../src/optim/sgd.js";
import { calibrate, type QatModel } from "../../src/quant/index.js";
import { ResidualConcatNet, images, trainedFloat } from "../graph/models.js";

export { ResidualConcatNet, images, trainedFloat };

/** ResidualConcatNet with a functional sigmoid gate on its logits (a table after convert). */
export class SigmoidHead extends ResidualConcatNet {
  head = this.registerModule("head", new Linear(10, 10));
  override forward(x: Tensor): Tensor {
    return this.head.forward(ops.sigmoid(super.forward(x)));
  }
}

/** Calibration on 3 batches, then 3 QAT steps; leaves the model in eval mode. */
export function qatSteps(qm: QatModel, input: (n: number, seed: number) => Tensor = images): void {
  qm.train();
  calibrate(qm, [0, 1, 2].map((s) => ({ x: input(16, 10 + s) })), { batches: 3 });
  const opt = new SGD(qm.parameters(), { lr: 0.005, momentum: 0.9 });
  for (let s = 0; s < 3; s++) {
    opt.zeroGrad();
    qm.forward(input(16, 20 + s)).square().mean().backward();
    opt.step();
  }
  qm.eval();
}

/** Fraction of values within ±1 quantum (`scale`), and the largest difference in quanta. */
export function withinOne(a: Tensor, b: Tensor, scale: number): { within: number; maxQuanta: number } {
  let within = 0;
  let worst = 0;
  for (let i = 0; i < a.size; i++) {
    const d = Math.abs(a.data[i] - b.data[i]) / scale;
    worst = Math.max(worst, d);
    if (d <= 1.0001) within++;
  }
  return { within: within / a.size, maxQuanta: worst };
}

export const sameBits = (a: Tensor, b: Tensor): boolean => a.size === b.size && a.data.every((v, i) => Object.is(v, b.data[i]));
