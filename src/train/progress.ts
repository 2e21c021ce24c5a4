/**
 * Progress reporting for training loops. The Trainer talks to a `ProgressReporter`; the
 * default one draws a cli-progress bar (images/s, ETA, loss) only when stdout is a TTY, and is
 * silent otherwise (CI logs, pipes, browsers). Called by src/train/trainer.ts and the CLI.
 */
import cliProgress from "cli-progress";

export interface ProgressReporter {
  start(label: string, total: number): void;
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

/** A terminal progress bar: `label |████░░| 120/938 · loss 0.4312 · 5,100 img/s · ETA 12s`. */
export function terminalProgress(): ProgressReporter {
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(label, total) {
      bar = new cliProgress.SingleBar(
        {
          format: `${label.padEnd(12)} |{bar}| {value}/{total} · loss {loss} · {ips} img/s · ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { loss: "-", ips: "-" });
    },
    update(done, info) {
      bar?.update(done, { loss: info.loss.toFixed(4), ips: Math.round(info.imagesPerSec).toLocaleString("en-US") });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

/** The default: a bar on a TTY, silence elsewhere. */
export function autoProgress(): ProgressReporter {
  return isTty() ? terminalProgress() : silentProgress;
}
