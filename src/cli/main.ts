#!/usr/bin/env node
/**
 * The `qat` command line (package bin). Each verb lives in ./commands; this file declares
 * the options (commander), merges `--config` files, prints `--json` or text, and turns any
 * failure into one line on stderr with a non-zero exit code.
 */
import { Command, CommanderError } from "commander";
import "../index.js";
import { describeError, emit, num, setSubset, withConfig } from "./common.js";
import { ValueError } from "../tensor/errors.js";
import { configureWasmMemory, listBackends, setBackend, setNumThreads } from "../backend/index.js";
import { qatCommand, trainCommand, type QatOptions, type TrainOptions } from "./commands/train.js";
import { calibrateCommand, convertCommand, evalCommand, formatLayers, inspectCommand } from "./commands/model-ops.js";
import { exportArtifact, importCommand } from "./commands/onnx.js";
import { reportCommand } from "./commands/report.js";
import { demoCommand, type DemoOptions } from "./commands/demo.js";
import { benchCommand } from "./commands/bench.js";
import { registerTorchCommands } from "./commands/torch.js";

type Action = (opts: Record<string, unknown>, cmd: Command) => Promise<void>;

/** Wraps an action: config merging, output, error policy. */
function run(fn: (o: never) => unknown, human: (r: never) => string = (r) => JSON.stringify(r, null, 2)): Action {
  return async (opts, cmd) => {
    const given = new Set(Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) === "cli"));
    const o = withConfig(opts, {}, given, cmd.options.map((op) => op.attributeName()));
    checkChoices(o);
    setSubset(o.subset as string | undefined);
    if (o.backend !== undefined) setBackend(String(o.backend));
    // The qat command owns its process: it opts in to synchronous wasm memory reclamation
    // (two V8 flags), which a library import never sets (src/backend/wasm/host.ts).
    if (listBackends().includes("wasm")) configureWasmMemory({ syncReclaim: true });
    if (o.threads !== undefined) setNumThreads(num(o.threads, "threads", { int: true, min: 1 }));
    if (o.memory !== undefined) {
      // Cap on the wasm backend's collection threshold: less memory, more forced collections.
      const mib = num(o.memory, "memory", { int: true, min: 16 });
      if (listBackends().includes("wasm")) configureWasmMemory({ gcThresholdBytes: Math.min(256, mib) * 2 ** 20, gcThresholdMaxBytes: mib * 2 ** 20 });
    }
    const r = await (fn as (o: unknown) => unknown)(o);
    if (r !== undefined) emit(o, r, human(r as never));
  };
}

/** Flags whose value is one of a fixed set (checked after the config file is merged, so both are covered). */
const CHOICES: Record<string, readonly string[]> = {
  schedule: ["none", "cosine"], format: ["float", "qdq", "qoperator"], backend: ["wasm", "ref"],
};

function checkChoices(o: Record<string, unknown>): void {
  for (const [key, valid] of Object.entries(CHOICES)) {
    const v = o[key];
    if (v !== undefined && !(typeof v === "string" && valid.includes(v))) {
      throw new ValueError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: expected one of ${valid.join(", ")}, got '${String(v)}'`);
    }
  }
}

const data = ["--data <spec>", "embedded | fashion-mnist:<dir> | mnist:<dir> | idx:<dir>", "embedded"] as const;
const common = (c: Command) =>
  c.option("--json", "print machine-readable JSON").option("--config <file>", "JSON or YAML file with the same options (flags override)")
    .option("--subset <n>", "use only the first n training (n/2 test) images, for quick tries")
    .option("--threads <n>", "kernel threads (default: all cores)").option("--backend <name>", "wasm | ref (default: the fastest available)")
    .option("--memory <MiB>", "wasm backend: collect dead tensors past this many MiB (default self-tunes 256–1024; lower = less RAM, slower)");

export function buildProgram(): Command {
  const p = new Command("qat").description("Quantization-aware training in TypeScript: train, fake-quantize, convert to int8, export to ONNX.")
    .version("0.1.0").showHelpAfterError(false).exitOverride();
  p.addHelpText("after", "\nMain job:  qat demo            (float → QAT → int8 → ONNX → report, on the embedded dataset)\nEvery command: --help, --json, --config <file>.");

  common(p.command("train").description("train a float model from the zoo"))
    .option("--model <name>", "mlp | smallCnn | resnet20 | mobilenetV2Small", "smallCnn").option(...data)
    .option("--epochs <n>", "epochs", "3").option("--batch-size <n>", "batch size", "64").option("--lr <x>", "learning rate", "0.05")
    .option("--momentum <x>", "SGD momentum", "0.9").option("--weight-decay <x>", "weight decay", "0").option("--schedule <s>", "none | cosine", "none")
    .option("--seed <n>", "random seed", "0").option("--out <dir>", "run directory", "runs/train").option("--no-progress", "no progress bar")
    .addHelpText("after", "\nExample:  qat train --model smallCnn --data fashion-mnist:/usr/share/datasets/fashion-mnist --epochs 3 --out runs/fm")
    .action(run((o: TrainOptions) => trainCommand(o), (r: { testAccuracy: number; checkpoint: string }) => `test accuracy ${(r.testAccuracy * 100).toFixed(2)} % → ${r.checkpoint}`));

  common(p.command("qat").description("quantization-aware fine-tuning of a trained float model"))
    .requiredOption("--from <ckpt|dir>", "float checkpoint or run directory").option(...data)
    .option("--qconfig <name>", "x86 | onednn | onnxruntime | tflite | w4a8 | w<b>a<b>[-lsq]", "x86")
    .option("--epochs <n>", "epochs", "1").option("--batch-size <n>", "batch size", "64").option("--lr <x>", "learning rate", "0.005").option("--momentum <x>", "momentum", "0.9")
    .option("--freeze-bn <x>", "freeze BN statistics at this fraction of the run (≤ 1) or step (> 1)", "0.6")
    .option("--freeze-observer <x>", "freeze observers at this fraction or step; auto = 0.3 with LSQ quantizers, else 0.8", "auto").option("--act-delay <steps>", "steps before activations are fake-quantized", "0")
    .option("--calibrate-batches <n>", "PTQ calibration batches before training", "16").option("--percentile <q>", "clip calibrated activation ranges to this percentile, e.g. 99.99 (default: full range)").option("--seed <n>", "random seed", "0").option("--out <dir>", "run directory", "runs/train").option("--no-progress", "no progress bar")
    .addHelpText("after", "\nExample:  qat qat --from runs/fm --qconfig x86 --epochs 1 --out runs/fm")
    .action(run((o: QatOptions) => qatCommand(o), (r: { testAccuracy: number; checkpoint: string }) => `fake-quant test accuracy ${(r.testAccuracy * 100).toFixed(2)} % → ${r.checkpoint}`));

  common(p.command("calibrate").description("post-training quantization: calibrate observers, no training"))
    .requiredOption("--from <ckpt|dir>", "float checkpoint or run directory").option(...data).option("--qconfig <name>", "qconfig preset", "x86")
    .option("--batches <n>", "calibration batches", "16").option("--percentile <q>", "clip activation ranges to this percentile, e.g. 99.99 (default: full range)")
    .option("--out <dir>", "run directory", "runs/train")
    .action(run(calibrateCommand as never));

  common(p.command("convert").description("convert a QAT checkpoint to an integer-only Int8Model file"))
    .requiredOption("--from <ckpt|dir>", "QAT checkpoint or run directory").option("--out <path>", "output file or directory", "runs/train")
    .action(run(convertCommand as never, (r: { model: string; bytes: number }) => `Int8Model (${(r.bytes / 1024).toFixed(1)} KiB) → ${r.model}`));

  common(p.command("eval").description("accuracy of a checkpoint or Int8Model on the test split").argument("<file>", "artifact"))
    .option(...data).action(async (file: string, opts: Record<string, unknown>, cmd: Command): Promise<void> => run(evalCommand as never, (r: { accuracy: number; kind: string }) => `${r.kind}: accuracy ${(r.accuracy * 100).toFixed(2)} %`)({ ...opts, file }, cmd));

  common(p.command("export").description("export a checkpoint to ONNX (float, qdq, qoperator)"))
    .requiredOption("--from <ckpt>", "float or QAT checkpoint").option("--format <f>", "float | qdq | qoperator", "qdq").option("--opset <n>", "opset", "13")
    .option("--out <file>", "output .onnx", "model.onnx")
    .action(run((o: { from: string; format: string; opset: string; out: string }) => exportArtifact(o.from, o.format, Number(o.opset), o.out)));

  common(p.command("import").description("import an ONNX model (float → trainable module, quantized → Int8Model)").argument("<file>", ".onnx file"))
    .option("--out <file>", "save weights / Int8Model here").option("--data <spec>", "evaluate on this dataset")
    .action(async (file: string, opts: Record<string, unknown>, cmd: Command): Promise<void> => run(importCommand as never)({ ...opts, file }, cmd));

  common(p.command("inspect").description("per-layer ranges, scales, zero-points and SQNR of a QAT checkpoint"))
    .requiredOption("--from <ckpt|dir>", "QAT checkpoint or run directory").option(...data).option("--samples <n>", "test images to run", "64")
    .action(run(inspectCommand as never, formatLayers as never));

  common(p.command("report").description("write the HTML report of a run directory").argument("<run-dir>", "directory"))
    .option("--out <file>", "output HTML").action(async (dir: string, opts: Record<string, unknown>, cmd: Command): Promise<void> => run(reportCommand as never, (r: { report: string }) => `report → ${r.report}`)({ ...opts, dir }, cmd));

  common(p.command("bench").description("inference latency of the float vs Int8Model at batch 1 and 256"))
    .option("--from <dir>", "run directory with float and int8 artifacts", "runs/demo").option(...data).action(run(benchCommand as never));

  common(p.command("demo").description("the main job: float → QAT → int8 → ONNX → report, end to end"))
    .option("--out <dir>", "run directory (re-running resumes)", "runs/demo").option(...data).option("--model <name>", "zoo model", "smallCnn")
    .option("--epochs <n>", "float epochs", "3").option("--qat-epochs <n>", "QAT epochs", "1").option("--qconfig <name>", "qconfig", "x86")
    .option("--seed <n>", "seed", "0").option("--no-progress", "no progress bars")
    .action(run((o: DemoOptions) => demoCommand(o), () => ""));
  registerTorchCommands(p); // export-torch, import-torch (src/cli/commands/torch.ts)
  return p;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 || e.code === "commander.helpDisplayed" || e.code === "commander.version" ? 0 : 2;
    console.error(`qat: ${describeError(e)}`);
    return 1;
  }
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.argv[1]?.endsWith("/qat")) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(`qat: ${describeError(e)}`);
    process.exit(1);
  });
}
