/**
 * Running metrics for training and evaluation: mean loss (weighted by batch size) and top-1
 * accuracy. Browser-safe. Used by the Trainer, `evaluate`, quant experiments and the CLI.
 */
import type { Tensor } from "../tensor/tensor.js";

/** Number of rows of `logits` [B, C] whose argmax equals the int label in `y` [B]. */
export function countCorrect(logits: Tensor, y: Tensor): number {
  const [b, c] = logits.shape;
  const d = logits.data;
  let correct = 0;
  for (let i = 0; i < b; i++) {
    let best = 0;
    let bestV = d[i * c];
    for (let j = 1; j < c; j++) {
      if (d[i * c + j] > bestV) {
        bestV = d[i * c + j];
        best = j;
      }
    }
    if (best === y.data[i]) correct++;
  }
  return correct;
}

/** Accumulates loss sums and correct counts over batches. */
export class RunningMetrics {
  private lossSum = 0;
  private correct = 0;
  count = 0;

  add(loss: number, correct: number, batchSize: number): void {
    this.lossSum += loss * batchSize;
    this.correct += correct;
    this.count += batchSize;
  }

  get loss(): number {
    return this.count ? this.lossSum / this.count : NaN;
  }

  /** Top-1 accuracy in [0, 1]. */
  get accuracy(): number {
    return this.count ? this.correct / this.count : NaN;
  }
}
