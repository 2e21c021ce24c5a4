#!/usr/bin/env node
/**
 * The `qat` command line (package bin). Each verb lives in ./commands; this file declares
 * the one grammar (docs/CLI.md): `--from <run dir | file>`, `--out <dir>` (default
 * `runs/<verb>`), `--json`, `--config`, and per verb only the option groups it uses; merges
 * `--config` files, prints `--json` or a human table, and turns any failure into one line on
 * stderr with a non-zero exit code.
 */
import { Command, CommanderError } from "commander";
import "../index.js";
import { describeError, emit, num, positionalAsFrom, setSubset, withConfig } from "./common.js";
import { ValueError } from "../tensor/errors.js";
import { configureWasmMemory, listBackends, setBackend, setNumThreads } from "../backend/index.js";
import type { LayerReport } from "../quant/inspect.js";
import { qatCommand, trainCommand, type QatOptions, type TrainOptions, type TrainResult } from "./commands/train.js";
import { calibrateCommand, convertCommand, evalCommand, formatEval, formatLayers, inspectCommand, type CalibrateOptions } from "./commands/model-ops.js";
import { exportCommand, importCommand } from "./commands/onnx.js";
import { reportCommand } from "./commands/report.js";
import { demoCommand, formatDemo, type DemoOptions } from "./commands/demo.js";
import { benchCommand, formatBench } from "./commands/bench.js";
import { registerTorchCommands } from "./commands/torch.js";
import { keyValues, kib, percent, sig } from "./format.js";
import { Progress } from "./progress.js";

type Action = (...args: unknown[]) => Promise<void>;
type Fn = (o: never, p: Progress) => unknown;

/**
 * Wraps a verb: config merging, the deprecated positional (as --from), backend flags, one
 * Progress per invocation, output (`--json`: one JSON document on stdout; else the human
 * text), error policy (in main()).
 */
function run(verb: string, fn: Fn, human: (r: never) => string, { requireFrom = false } = {}): Action {
  return async (...args) => {
    const cmd = args.at(-1) as Command;
    const opts = args.at(-2) as Record<string, unknown>;
    const positional = args.length > 2 ? (args[0] as string | undefined) : undefined;
    const given = new Set(Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) === "cli"));
    const o = withConfig(opts, {}, given, cmd.options.map((op) => op.attributeName()));
    positionalAsFrom(verb, positional, o, given.has("from") || (requireFrom && o.from !== undefined));
    if (requireFrom && o.from === undefined) throw new ValueError(`${verb}: --from <file> is required`);
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
    const r = await (fn as (o: unknown, p: Progress) => unknown)(o, new Progress(o));
    if (r !== undefined) emit(o, r, human(r as never));
  };
}

/** Flags whose value is one of a fixed set (checked after the config file is merged, so both are covered). */
const CHOICES: Record<string, readonly string[]> = {
  schedule: ["none", "cosine"], format: ["float", "qdq", "qoperator"], backend: ["native", "wasm", "ref"], weightType: ["auto", "int8", "uint8"],
};

function checkChoices(o: Record<string, unknown>): void {
  for (const [key, valid] of Object.entries(CHOICES)) {
    const v = o[key];
    if (v !== undefined && !(typeof v === "string" && valid.includes(v))) {
      throw new ValueError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: expected one of ${valid.join(", ")}, got '${String(v)}'`);
    }
  }
}

const DATA_SPECS = "embedded | fashion-mnist:<dir> | mnist:<dir> | idx:<dir>";

/** The option groups; each verb takes the ones it uses. */
const opt = {
  /** Every verb. */
  base: (c: Command) => c.option("--json", "print one JSON document on stdout, nothing else (progress goes to stderr)")
    .option("--config <file>", "JSON or YAML file with the same options (flags override)"),
  from: (what: string, def?: string) => (c: Command) => (def === undefined ? c.option("--from <path>", what) : c.option("--from <path>", what, def)),
  out: (what: string, def: string) => (c: Command) => c.option("--out <dir>", what, def),
  data: (c: Command) => opt.dataOptional(c.option("--data <spec>", DATA_SPECS, "embedded")),
  /** --data without a default (import evaluates only when it is given). */
  dataOptional: (c: Command) => (c.options.some((o) => o.long === "--data") ? c : c.option("--data <spec>", `evaluate on this dataset: ${DATA_SPECS}`))
    .option("--subset <n>", "use only the first n training (n/2 test) images, for quick tries"),
  compute: (c: Command) => c.option("--threads <n>", "kernel threads (default: all cores)").option("--backend <name>", "native | wasm | ref (default: the fastest available)")
    .option("--memory <MiB>", "wasm backend: collect dead tensors past this many MiB (default self-tunes 256–1024; lower = less RAM, slower)"),
  progress: (c: Command) => c.option("--no-progress", "no progress bar or progress lines"),
};

/** A verb with its option groups and its `Example:` help text. */
function verb(p: Command, name: string, description: string, groups: ((c: Command) => Command)[], example: string): Command {
  const c = p.command(name).description(description);
  for (const g of [opt.base, ...groups]) g(c);
  return c.addHelpText("after", `\nExample:\n  ${example}\n`);
}

const trained = (r: { testAccuracy: number; epochs: number; checkpoint: string; seconds: number; resumedFrom: number | null }, what: string) => keyValues([
  [what, percent(r.testAccuracy)], ["epochs", String(r.epochs) + (r.resumedFrom === null ? "" : ` (resumed after epoch ${r.resumedFrom})`)], ["seconds", sig(r.seconds)], ["checkpoint", r.checkpoint],
]);

export function buildProgram(): Command {
  const p = new Command("qat").description("Quantization-aware training in TypeScript: train, fake-quantize, convert to int8, export to ONNX.")
    .version("0.1.0").showHelpAfterError(false).exitOverride();
  p.addHelpText("after", `
One grammar: a verb reads --from <run dir | file> (a run directory gives the artifact the verb needs)
and writes into --out <dir> (default runs/<verb>); --json prints one JSON document on stdout;
--config <file> supplies options; <verb> --help shows its options and an example.

Example:
  qat demo                                   # float → QAT → int8 → ONNX → report, on the embedded dataset
  qat train --out runs/train && qat qat --from runs/train --out runs/qat && qat convert --from runs/qat --out runs/convert
`);

  verb(p, "train", "train a float model from the zoo", [opt.out("run directory (re-running resumes)", "runs/train"), opt.data, opt.compute, opt.progress],
    "qat train --model smallCnn --data fashion-mnist:/usr/share/datasets/fashion-mnist --epochs 3 --out runs/train")
    .option("--model <name>", "mlp | smallCnn | resnet20 | mobilenetV2Small", "smallCnn")
    .option("--epochs <n>", "epochs", "3").option("--batch-size <n>", "batch size", "64").option("--lr <x>", "learning rate", "0.05")
    .option("--momentum <x>", "SGD momentum", "0.9").option("--weight-decay <x>", "weight decay", "0").option("--schedule <s>", "none | cosine", "none")
    .option("--seed <n>", "random seed", "0")
    .action(run("train", (o: TrainOptions, pr) => trainCommand(o, pr), (r: TrainResult) => trained(r, "test accuracy")));

  verb(p, "qat", "quantization-aware fine-tuning of a trained float model", [opt.from("float checkpoint or run directory", "runs/train"), opt.out("run directory (re-running resumes)", "runs/qat"), opt.data, opt.compute, opt.progress],
    "qat qat --from runs/train --qconfig x86 --epochs 1 --out runs/qat")
    .option("--qconfig <name>", "x86 | onednn | onnxruntime | tflite | w4a8 | w<b>a<b>[-lsq]", "x86")
    .option("--epochs <n>", "epochs", "1").option("--batch-size <n>", "batch size", "64").option("--lr <x>", "learning rate", "0.005").option("--momentum <x>", "momentum", "0.9")
    .option("--freeze-bn <x>", "freeze BN statistics at this fraction of the run (≤ 1) or step (> 1)", "0.6")
    .option("--freeze-observer <x>", "freeze observers at this fraction or step; auto = 0.3 with LSQ quantizers, else 0.8", "auto").option("--act-delay <steps>", "steps before activations are fake-quantized", "0")
    .option("--calibrate-batches <n>", "PTQ calibration batches before training", "16").option("--percentile <q>", "clip calibrated activation ranges to this percentile, e.g. 99.99 (default: full range)").option("--seed <n>", "random seed", "0")
    .action(run("qat", (o: QatOptions, pr) => qatCommand(o, "epochs", pr), (r: TrainResult) => trained(r, "fake-quant test accuracy")));

  verb(p, "calibrate", "post-training quantization: calibrate observers, no training (writes ptq.ckpt.safetensors)", [opt.from("float checkpoint or run directory", "runs/train"), opt.out("run directory", "runs/calibrate"), opt.data, opt.compute, opt.progress],
    "qat calibrate --from runs/train --batches 16 --out runs/calibrate && qat convert --from runs/calibrate")
    .option("--qconfig <name>", "qconfig preset", "x86").option("--batches <n>", "calibration batches", "16")
    .option("--percentile <q>", "clip activation ranges to this percentile, e.g. 99.99 (default: full range)")
    .action(run("calibrate", (o: CalibrateOptions, pr) => calibrateCommand(o, pr), (r: { fakeQuantAccuracy: number; samples: number; checkpoint: string; rangeWarnings: string[] }) => keyValues([
      ["fake-quant test accuracy", percent(r.fakeQuantAccuracy)], ["calibration images", String(r.samples)], ["range warnings", String(r.rangeWarnings.length)], ["checkpoint", r.checkpoint],
    ])));

  verb(p, "convert", "convert a QAT or PTQ checkpoint to an integer-only Int8Model file", [opt.from("QAT/PTQ checkpoint or run directory (qat or calibrate)", "runs/qat"), opt.out("run directory (or a .safetensors file)", "runs/convert")],
    "qat convert --from runs/qat --out runs/convert")
    .action(run("convert", convertCommand as Fn, (r: { model: string; bytes: number; layers: number; floatIslands: unknown[] }) => keyValues([
      ["Int8Model", kib(r.bytes)], ["graph nodes", String(r.layers)], ["float islands", String(r.floatIslands.length)], ["model", r.model],
    ])));

  verb(p, "export", "export to ONNX (float, qdq, qoperator) from an Int8Model or a checkpoint", [opt.from("run directory (convert, qat, calibrate, train) or model file", "runs/convert"), opt.out("run directory (or a .onnx file)", "runs/export")],
    "qat export --from runs/convert --format qdq --out runs/export")
    .option("--format <f>", "float | qdq | qoperator", "qdq").option("--opset <n>", "opset", "13")
    .option("--weight-type <t>", "quantized formats: conv/linear weights as auto | int8 | uint8 (auto: uint8 where onnxruntime's u8×s8 AVX2 kernels could saturate)", "auto")
    .option("--integer-ops <list>", "from a QAT/PTQ checkpoint: softmax and/or layerNorm as integer-only nodes (comma-separated: softmax,layerNorm)")
    .action(run("export", exportCommand as Fn, (r: { file: string; bytes: number; format: string; source: string }) => keyValues([
      ["ONNX", `${r.format}, ${kib(r.bytes)}`], ["from", r.source], ["file", r.file],
    ])));

  verb(p, "eval", "accuracy on the test split of a model file, or of every model in a run directory", [opt.from("model file or run directory (required)"), opt.out("run directory for eval.json", "runs/eval"), opt.data, opt.compute, opt.progress],
    "qat eval --from runs/convert/model.int8.safetensors")
    .argument("[file]", "deprecated: use --from").action(run("eval", evalCommand as Fn, formatEval as never, { requireFrom: true }));

  verb(p, "import", "import an ONNX model (float → weights, quantized → Int8Model), optionally evaluate it", [opt.from(".onnx file (required)"), opt.out("run directory (or a .safetensors file)", "runs/import"), opt.dataOptional, opt.compute, opt.progress],
    "qat import --from model.qdq.onnx --data embedded --out runs/import")
    .argument("[file]", "deprecated: use --from").action(run("import", importCommand as Fn, (r: { kind: string; saved: string; accuracy?: number }) => keyValues([
      ["imported", r.kind === "int8" ? "quantized graph → Int8Model" : "float graph"], ["accuracy", percent(r.accuracy)], ["saved", r.saved],
    ]), { requireFrom: true }));

  verb(p, "inspect", "per-layer ranges, scales, zero-points and SQNR of a QAT/PTQ checkpoint (writes layers.json)", [opt.from("QAT/PTQ checkpoint or run directory", "runs/qat"), opt.out("run directory for layers.json", "runs/inspect"), opt.data, opt.compute, opt.progress],
    "qat inspect --from runs/qat --samples 64 --out runs/inspect")
    .option("--samples <n>", "test images to run", "64")
    .action(run("inspect", inspectCommand as Fn, (r: { layers: LayerReport[]; layersFile: string }) => `${formatLayers(r)}\n\nlayers → ${r.layersFile}`));

  verb(p, "report", "write the HTML report of any run directory (following each verb's --from back along the chain)", [opt.from("run directory", "runs/demo"), (c) => c.option("--out <dir>", "directory for report.html (default: the --from directory)")],
    "qat report --from runs/export")
    .argument("[run-dir]", "deprecated: use --from").action(run("report", reportCommand as Fn, (r: { report: string; stages: string[] }) => `report → ${r.report} (${r.stages.join(", ") || "no stages"})`));

  verb(p, "bench", "inference latency (batch 1 and 256) of every model in a run directory, or of one model file", [opt.from("run directory or model file", "runs/demo"), opt.out("run directory for bench.json", "runs/bench"), opt.data, opt.compute, opt.progress],
    "qat bench --from runs/demo")
    .action(run("bench", benchCommand as Fn, formatBench as never));

  verb(p, "demo", "the main job: float → QAT → int8 → ONNX → report, end to end", [opt.out("run directory (re-running resumes)", "runs/demo"), opt.data, opt.compute, opt.progress],
    "qat demo --out runs/demo --epochs 3")
    .option("--model <name>", "zoo model", "smallCnn").option("--epochs <n>", "float epochs", "3").option("--qat-epochs <n>", "QAT epochs", "1")
    .option("--qconfig <name>", "qconfig", "x86").option("--seed <n>", "seed", "0")
    .action(run("demo", (o: DemoOptions, pr) => demoCommand(o, pr), formatDemo as never));
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
