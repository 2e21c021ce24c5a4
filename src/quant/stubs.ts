/**
 * Model entry and exit for quantization, and output quantizers on modules:
 * - `QuantStub` marks where float input becomes quantized (its `activation_post_process`
 *   observes the input range; convert turns it into the input QuantizeLinear).
 * - `DeQuantStub` marks where quantized values become float again.
 * - `QatModel` is PyTorch's QuantWrapper: children `quant`, `module`, `dequant` (so state
 *   dict keys are `module.conv1.weight`, `quant.activation_post_process.scale`, …) plus the
 *   qconfig description prepare used.
 * - `attachOutputQuantizer(m, fq)` adds fq as child `activation_post_process` of m and a
 *   forward hook applying it to m's output — what torch.ao's add_observer_ does.
 * Called by src/quant/prepare.ts; read by convert and the ONNX exporter.
 */
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";
import { ValueError } from "../tensor/errors.js";

export const OUTPUT_QUANTIZER = "activation_post_process";

/** Identity whose output quantizer (attached by prepare) quantizes the model input. */
export class QuantStub extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Identity marking the return to float. */
export class DeQuantStub extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Which quantizer put each live tensor on its grid (weakly held). QAT layers look their input
 * up here to learn S_x, so they can fake-quantize their bias to the int32 grid S_x·S_w exactly
 * as convert() will (see qat-modules.ts). Pass-through modules (MaxPool, Flatten, …) forward
 * the entry from input to output.
 */
const gridOf = new WeakMap<Tensor, Module>();

/** The quantizer whose grid `t` lies on, if known. */
export function quantizerOfTensor(t: Tensor): Module | null {
  return gridOf.get(t) ?? null;
}

/** A hook that works on clones too: it looks the quantizer up on the module it is given. */
function applyOutputQuantizer(m: Module, _inputs: unknown[], out: Tensor): Tensor {
  const fq = (m as unknown as Record<string, Module | null>)[OUTPUT_QUANTIZER];
  if (!fq) return out;
  const y = fq.forward(out);
  if ((fq as unknown as { fake_quant_enabled?: Tensor }).fake_quant_enabled?.data[0] === 1) gridOf.set(y, fq);
  return y;
}

/** Records that `t` lies on fq's grid (when fq is fake-quantizing). */
export function markGrid(t: Tensor, fq: Module): void {
  if ((fq as unknown as { fake_quant_enabled?: Tensor }).fake_quant_enabled?.data[0] === 1) gridOf.set(t, fq);
}

/** Gives `out` the grid of `input`, if it has one (ops that keep their input's parameters). */
export function inheritGrid(input: unknown, out: Tensor): void {
  const q = gridOf.get(input as Tensor);
  if (q) gridOf.set(out, q);
}

function passGrid(_m: Module, inputs: unknown[], out: Tensor): void {
  const q = gridOf.get(inputs[0] as Tensor);
  if (q) gridOf.set(out, q);
}

/** Marks m as keeping its input's quantization grid (max-pool, flatten, identity, dropout). */
export function attachGridPassThrough(m: Module): void {
  m.registerForwardHook(passGrid);
}

/** Quantizes m's output with fq from now on. */
export function attachOutputQuantizer(m: Module, fq: Module): void {
  m.registerModule(OUTPUT_QUANTIZER, fq);
  m.registerForwardHook(applyOutputQuantizer);
}

/**
 * The output quantizer attached to m, if any. (A fake-quantizer's own observer is also named
 * activation_post_process, PyTorch's naming; it is not an output quantizer: it has no
 * fake_quant_enabled switch.)
 */
export function outputQuantizerOf(m: Module): Module | null {
  if (!m.namedChildren().some(([n]) => n === OUTPUT_QUANTIZER)) return null;
  const q = (m as unknown as Record<string, Module>)[OUTPUT_QUANTIZER];
  return (q as unknown as { fake_quant_enabled?: unknown }).fake_quant_enabled !== undefined ? q : null;
}

/** Serializable description of how a model was prepared (stored in QAT checkpoints). */
export interface PrepareDescription {
  qconfig: string;
  overrides: { name?: string; regex?: string; type?: string; qconfig: string | null }[];
  fusionGroups: string[][];
  /** Add → ReLU pairs fused on request (DefaultQuantizer's addRelu); absent = false. */
  addRelu?: boolean;
}

export class QatModel extends Module {
  quant: QuantStub;
  module: Module;
  dequant: DeQuantStub;
  readonly description: PrepareDescription;
  /** Shape of the last input seen by forward (convert traces with it). */
  inputShape: number[] | null = null;

  constructor(module: Module, description: PrepareDescription) {
    super();
    this.quant = this.registerModule("quant", new QuantStub());
    this.module = this.registerModule("module", module);
    this.dequant = this.registerModule("dequant", new DeQuantStub());
    this.description = description;
  }

  /** Input quantizers of the inputs after the first (`quant_1`, `quant_2`, … for multi-input graphs). */
  readonly extraInputStubs: QuantStub[] = [];

  /** Adds a QuantStub for one more model input (prepareQat, for multi-input graphs). */
  addInputStub(): QuantStub {
    const stub = this.registerModule(`quant_${this.extraInputStubs.length + 1}`, new QuantStub());
    this.extraInputStubs.push(stub);
    return stub;
  }

  forward(x: Tensor, ...rest: Tensor[]): Tensor {
    this.inputShape = [...x.shape];
    if (rest.length !== this.extraInputStubs.length) throw new ValueError(`QatModel: the model takes ${this.extraInputStubs.length + 1} input(s), got ${rest.length + 1}`);
    const more = rest.map((t, i) => this.extraInputStubs[i].forward(t));
    return this.dequant.forward(this.module.forward(this.quant.forward(x), ...more));
  }
}
