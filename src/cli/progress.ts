/**
 * Progress of the long `qat` verbs (train, qat, calibrate, eval, inspect, bench, demo). Human
 * output goes to stdout, so progress does too; with `--json` stdout carries only the JSON
 * document and progress moves to stderr. On a TTY a cli-progress bar runs while a stage works
 * and is replaced by the stage's line when it ends; elsewhere (pipes, logs, CI) only the lines
 * are written, Keras-style: one per epoch or stage. `--no-progress` silences both.
 * The Trainer gets `trainerReporter()` injected (src/train never loads cli-progress).
 * Called by src/cli/main.ts (one Progress per invocation) and src/cli/commands/*.
 */
import cliProgress from "cli-progress";
import type { ProgressReporter } from "../train/progress.js";
import type { EpochRecord } from "../train/trainer.js";

const pct = (x: number | undefined) => (x === undefined ? "-" : `${(x * 100).toFixed(2)} %`);
const secs = (ms: number) => `${(ms / 1e3).toFixed(1)} s`;

/** A stream as cli-progress and the line writer need it. */
interface OutStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

export interface ProgressOptions {
  json?: boolean;
  progress?: boolean;
}

/** The progress channel of one command invocation. */
export class Progress {
  readonly enabled: boolean;
  readonly stream: OutStream;
  /** A bar is drawn only on an interactive terminal. */
  readonly tty: boolean;

  constructor(o: ProgressOptions, stream?: OutStream) {
    this.stream = stream ?? (o.json ? process.stderr : process.stdout);
    this.enabled = o.progress !== false;
    this.tty = this.enabled && Boolean(this.stream.isTTY);
  }

  /** One finished-stage line (the Keras-style record). */
  line(text: string): void {
    if (this.enabled) this.stream.write(`${text}\n`);
  }

  private bar(label: string, total: number, unit: string, extra: string, payload: Record<string, string> = {}): cliProgress.SingleBar | null {
    if (!this.tty) return null;
    const bar = new cliProgress.SingleBar({
      format: `${label.padEnd(16)} |{bar}| {value}/{total} ${unit}${extra} · ETA {eta_formatted}`,
      stream: this.stream as NodeJS.WriteStream, hideCursor: true, clearOnComplete: true, etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, payload);
    return bar;
  }

  /**
   * Iterates `items` (at most `total` of them are expected) with a bar; when the loop ends —
   * also when the consumer stops early (`break`) — the line
   * `label  done/total unit · time[ · summary()]` is written (not after an error).
   */
  *iterate<T>(label: string, items: Iterable<T>, total: number, unit = "batches", summary?: () => string): Generator<T> {
    const t0 = performance.now();
    const bar = this.bar(label, total, unit, "");
    let done = 0;
    let failed = false;
    try {
      for (const item of items) {
        done++; // counted when handed out: a consumer that breaks after using it has still used it
        yield item;
        bar?.update(Math.min(done, total));
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      bar?.stop();
      if (!failed) {
        const tail = summary?.();
        this.line(`${label.padEnd(16)} ${done}/${total} ${unit} · ${secs(performance.now() - t0)}${tail ? ` · ${tail}` : ""}`);
      }
    }
  }

  /** Runs one stage without inner steps: `label … time[ · summary(result)]` when it ends. */
  stage<T>(label: string, fn: () => T, summary?: (r: T) => string): T {
    const t0 = performance.now();
    const r = fn();
    const tail = summary?.(r);
    this.line(`${label.padEnd(16)} ${secs(performance.now() - t0)}${tail ? ` · ${tail}` : ""}`);
    return r;
  }

  /** The same, for an async stage. */
  async stageAsync<T>(label: string, fn: () => Promise<T>, summary?: (r: T) => string): Promise<T> {
    const t0 = performance.now();
    const r = await fn();
    const tail = summary?.(r);
    this.line(`${label.padEnd(16)} ${secs(performance.now() - t0)}${tail ? ` · ${tail}` : ""}`);
    return r;
  }

  /**
   * The reporter the Trainer is given: a bar over the epoch's steps on a TTY (loss, images/s),
   * nothing elsewhere; the epoch's line comes from `epoch()` once its test metrics are known.
   */
  trainerReporter(): ProgressReporter {
    let bar: cliProgress.SingleBar | null = null;
    return {
      start: (label, total) => {
        bar = this.bar(label, total, "steps", " · loss {loss} · {ips} img/s", { loss: "-", ips: "-" });
      },
      update: (done, info) => {
        bar?.update(done, { loss: info.loss.toFixed(4), ips: Math.round(info.imagesPerSec).toLocaleString("en-US") });
      },
      stop: () => {
        bar?.stop();
        bar = null;
      },
    };
  }

  /** The Keras-style line of one finished epoch: `qat epoch 2/3 · 94 steps · 12.3 s · loss … · test acc …`. */
  epoch(label: string, rec: EpochRecord, epochs: number, steps: number): void {
    const test = rec.testAccuracy === undefined ? "" : ` · test loss ${rec.testLoss?.toFixed(4)} · test acc ${pct(rec.testAccuracy)}`;
    this.line(`${`${label} epoch ${rec.epoch}/${epochs}`.padEnd(20)} ${steps} steps · ${rec.seconds.toFixed(1)} s · loss ${rec.trainLoss.toFixed(4)} · acc ${pct(rec.trainAccuracy)}${test} · ${Math.round(rec.imagesPerSec).toLocaleString("en-US")} img/s`);
  }
}
