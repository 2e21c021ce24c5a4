/**
 * The terminal progress bar (cli-progress, Node only): `terminalProgress()` draws
 * `label |████░░| 120/938 · loss 0.4312 · 5,100 img/s · ETA 12s`; `autoProgress()` is the bar
 * on a TTY and silence elsewhere (CI logs, pipes). Exported from `qat-ts/node` (src/node.ts),
 * never from the package root, so browser bundles do not pull cli-progress (events,
 * readline) in. The CLI passes one of these to `new Trainer({ progress })`.
 */
import cliProgress from "cli-progress";
import { type ProgressReporter, isTty, silentProgress } from "./progress.js";

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

/** A bar on a TTY, silence elsewhere (the CLI's default before issue 19). */
export function autoProgress(): ProgressReporter {
  return isTty() ? terminalProgress() : silentProgress;
}
