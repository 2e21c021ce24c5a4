/**
 * Progress reporting for training loops. The Trainer talks to a `ProgressReporter` it is
 * given (`progress` option); this module is browser-safe and holds the interface, the silent
 * reporter and `lineProgress` (one Keras-style line per epoch through a `write` function,
 * console.log by default). The terminal bar (cli-progress) is Node-only and lives in
 * ./progress-node.ts (exported from `qat-ts/node`), so importing `train` never loads it.
 * Called by src/train/trainer.ts, ./progress-node.ts, the CLI and user code.
 */

/** What the Trainer reports: `start` once per epoch, `update` after every step, `stop` at the end. */
export interface ProgressReporter {
  /** An epoch (or phase) of `total` steps begins; `label` names it ("epoch 3", "qat"). */
  start(label: string, total: number): void;
  /** `done` steps of `total` are finished; `loss` is the last mini-batch loss. */
  update(done: number, info: { loss: number; imagesPerSec: number }): void;
  stop(): void;
}

/** A reporter that does nothing. */
export const silentProgress: ProgressReporter = { start() {}, update() {}, stop() {} };

/** True when running in Node with an interactive stdout. */
export function isTty(): boolean {
  const p = (globalThis as { process?: { stdout?: { isTTY?: boolean } } }).process;
  return Boolean(p?.stdout?.isTTY);
}

/**
 * One line per epoch when it stops, Keras-style:
 * `epoch 1      938/938 · loss 0.4312 · 5,100 img/s · 12.3s`. For logs, pipes and web pages.
 */
export function lineProgress(write: (line: string) => void = (l) => console.log(l)): ProgressReporter {
  let label = "";
  let total = 0;
  let done = 0;
  let last = { loss: NaN, imagesPerSec: NaN };
  let t0 = 0;
  return {
    start(l, t) {
      label = l;
      total = t;
      done = 0;
      last = { loss: NaN, imagesPerSec: NaN };
      t0 = performance.now();
    },
    update(d, info) {
      done = d;
      last = info;
    },
    stop() {
      const secs = (performance.now() - t0) / 1e3;
      const ips = Number.isFinite(last.imagesPerSec) ? Math.round(last.imagesPerSec).toLocaleString("en-US") : "-";
      write(`${label.padEnd(12)} ${done}/${total} · loss ${Number.isFinite(last.loss) ? last.loss.toFixed(4) : "-"} · ${ips} img/s · ${secs.toFixed(1)}s`);
    },
  };
}
