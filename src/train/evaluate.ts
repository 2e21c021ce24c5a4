/**
 * Evaluation: mean loss and top-1 accuracy of a Module (`evaluate`, eval mode, no gradients)
 * or of any predictor function such as an Int8Model's run (`evaluatePredictor`). Browser-safe.
 * Called by ./trainer.ts (test metrics after each epoch), the CLI and user code.
 */
import { noGrad } from "../tensor/grad-mode.js";
import type { Tensor } from "../tensor/tensor.js";
import { crossEntropy } from "../ops/loss.js";
import type { Module } from "../nn/module.js";
import { RunningMetrics, countCorrect } from "./metrics.js";
import type { LossFn } from "./trainer.js";

export interface EvalResult {
  loss: number;
  accuracy: number;
  count: number;
}

/** Mean loss and top-1 accuracy of `model` over `loader`, in eval mode, without gradients. */
export function evaluate(model: Module, loader: Iterable<{ x: Tensor; y: Tensor }>, lossFn: LossFn = crossEntropy): EvalResult {
  const wasTraining = model.training;
  model.eval();
  const m = new RunningMetrics();
  try {
    noGrad(() => {
      for (const { x, y } of loader) {
        const logits = model.forward(x);
        m.add(lossFn(logits, y).item(), countCorrect(logits, y), y.shape[0]);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { loss: m.loss, accuracy: m.accuracy, count: m.count };
}

/** Mean loss and top-1 accuracy of any predictor (e.g. an Int8Model's run) over `loader`. */
export function evaluatePredictor(run: (x: Tensor) => Tensor, loader: Iterable<{ x: Tensor; y: Tensor }>, lossFn: LossFn = crossEntropy): EvalResult {
  const m = new RunningMetrics();
  noGrad(() => {
    for (const { x, y } of loader) {
      const logits = run(x);
      m.add(lossFn(logits, y).item(), countCorrect(logits, y), y.shape[0]);
    }
  });
  return { loss: m.loss, accuracy: m.accuracy, count: m.count };
}
