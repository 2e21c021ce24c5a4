/**
 * `qat export-torch --from <run> --out <dir>` (a QAT run → a PyTorch project for torchrun/DDP)
 * and `qat import-torch --from <dir> --out <run>` (the trained PyTorch checkpoint → a QAT run
 * directory that convert / export / inspect / report read). `registerTorchCommands(program)`
 * adds both verbs with the CLI grammar (--from, --out, --json, --config, an Example in --help);
 * called by src/cli/main.ts. The work is src/interop/torch.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ValueError } from "../../tensor/errors.js";
import type { ModelSpec } from "../../nn/models/registry.js";
import { preparedConfig } from "../../quant/checkpoint.js";
import { saveCheckpoint } from "../../train/fs.js";
import { exportTorch, importTorch } from "../../interop/torch/index.js";
import { ARTIFACTS, type GlobalOptions, emit, loadQat, num, resolveArtifact, withConfig } from "../common.js";

export interface ExportTorchCliOptions extends GlobalOptions {
  from: string;
  out: string;
  step?: string | number;
  actDelay?: string | number;
  freezeBnStep?: string | number;
  freezeObserverStep?: string | number;
  lr: string | number;
  momentum: string | number;
  weightDecay: string | number;
  batchSize: string | number;
  sampleData?: boolean;
}

const optStep = (v: unknown, name: string) => (v === undefined ? undefined : num(v, name, { int: true, min: 0 }));

export function exportTorchCommand(o: ExportTorchCliOptions) {
  const file = resolveArtifact(o.from, ARTIFACTS.qat);
  const { model, ckpt } = loadQat(file);
  const spec = ((ckpt.config as { qat?: { model?: ModelSpec | null } } | undefined)?.qat?.model ?? null) as ModelSpec | null;
  const r = exportTorch(model, o.out, {
    model: spec,
    step: optStep(o.step, "step") ?? 0,
    schedule: {
      activationQuantDelaySteps: optStep(o.actDelay, "act-delay"),
      freezeBnStep: optStep(o.freezeBnStep, "freeze-bn-step"),
      freezeObserverStep: optStep(o.freezeObserverStep, "freeze-observer-step"),
    },
    train: { lr: num(o.lr, "lr", { min: 0 }), momentum: num(o.momentum, "momentum", { min: 0 }), weightDecay: num(o.weightDecay, "weight-decay", { min: 0 }), batchSize: num(o.batchSize, "batch-size", { int: true, min: 1 }) },
    sampleData: o.sampleData === true,
  });
  const data = o.sampleData ? "data" : "/usr/share/datasets/fashion-mnist";
  const args = `--data ${data} --steps 300`;
  // runLocal: train_ddp.py starts the ranks itself (torch 1.13's torchrun fails under Python 3.11 without --redirects/--tee, docs/SCALING.md)
  return { dir: r.dir, from: file, files: r.files, model: spec?.zoo ?? null, run: `cd ${r.dir} && torchrun --nproc_per_node 2 train_ddp.py ${args}`, runLocal: `cd ${r.dir} && python3 train_ddp.py --nproc 2 ${args}` };
}

export function importTorchCommand(o: GlobalOptions & { from: string; out: string }) {
  if (!o.from) throw new ValueError("import-torch: --from <dir> (a folder written by export-torch) is required");
  const r = importTorch(o.from);
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, ARTIFACTS.qat);
  saveCheckpoint(file, {
    model: r.model.stateDict(),
    config: { ...preparedConfig(r.model, r.recipe.prepared.model), qconfig: r.recipe.prepared.description.qconfig, importedFrom: { dir: o.from, checkpoint: r.checkpoint, step: r.step, frozenBn: r.training.frozenBn } },
  });
  return { checkpoint: file, from: r.checkpoint, step: r.step, frozenBn: r.training.frozenBn, world: r.training.world ?? null };
}

type Opts = Record<string, unknown>;

/** Wraps an action: --config merging, --json or text output (errors: main()'s one-line policy). */
function action(fn: (o: never) => object, human: (r: never) => string) {
  return async (opts: Opts, cmd: Command): Promise<void> => {
    const given = new Set(Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) === "cli"));
    const o = withConfig(opts, {}, given, cmd.options.map((op) => op.attributeName()));
    const r = fn(o as never);
    emit(o, r, human(r as never));
  };
}

const base = (c: Command) =>
  c.option("--json", "print one JSON document on stdout, nothing else").option("--config <file>", "JSON or YAML file with the same options (flags override)");

/** Adds `export-torch` and `import-torch` to the program. */
export function registerTorchCommands(p: Command): void {
  base(p.command("export-torch").description("write a QAT run as a PyTorch project: model.py, weights, recipe, train_ddp.py for torchrun (docs/SCALING.md)"))
    .option("--from <path>", "QAT checkpoint or run directory", "runs/qat").option("--out <dir>", "project directory", "runs/export-torch")
    .option("--step <n>", "the step the model is at (the schedule continues from it)", "0").option("--act-delay <steps>", "steps before activations are fake-quantized")
    .option("--freeze-bn-step <n>", "global step at which BN statistics freeze").option("--freeze-observer-step <n>", "global step at which observers freeze")
    .option("--lr <x>", "learning rate for --batch-size images a step (train_ddp.py scales it with the global batch)", "0.005").option("--momentum <x>", "SGD momentum", "0.9")
    .option("--weight-decay <x>", "weight decay", "0").option("--batch-size <n>", "global batch size the learning rate is for", "64")
    .option("--sample-data", "also write the embedded Fashion-MNIST sample as IDX files under <out>/data")
    .addHelpText("after", "\nExample:\n  qat export-torch --from runs/qat --out runs/torch --freeze-bn-step 200 --freeze-observer-step 250\n  cd runs/torch && torchrun --nproc_per_node 2 train_ddp.py --data /usr/share/datasets/fashion-mnist --steps 300\n")
    .action(action(exportTorchCommand, (r: { dir: string; files: string[]; run: string; runLocal: string }) => `PyTorch project → ${r.dir} (${r.files.length} files)\nnext: ${r.run}\n  or: ${r.runLocal}`));
  base(p.command("import-torch").description("read a trained export-torch project back into a QAT run directory (then convert, export, inspect, report)"))
    .option("--from <dir>", "project directory written by export-torch (its checkpoint.safetensors, else weights.safetensors)").option("--out <dir>", "run directory", "runs/import-torch")
    .addHelpText("after", "\nExample:\n  qat import-torch --from runs/torch --out runs/qat-torch && qat convert --from runs/qat-torch --out runs/convert\n")
    .action(action(importTorchCommand, (r: { checkpoint: string; step: number; from: string }) => `step ${r.step} from ${r.from} → ${r.checkpoint}`));
}
