/**
 * Our quantizer modules as Python constructor expressions of the exported runtime
 * (py/qat_runtime.py): FakeQuantize and FusedMovingAvgObsFakeQuantize over moving-average
 * (per-tensor or per-channel) min/max observers, and LearnableFakeQuantize (LSQ / LSQ+) — the
 * quantizers of every preset. Anything else is refused with a NotSupportedError naming the
 * quantizer's path.
 * Called by ./codegen.ts.
 */
import { NotSupportedError } from "../../tensor/errors.js";
import type { Module } from "../../nn/module.js";
import { FakeQuantize, FixedQParamsFakeQuantize } from "../../quant/fake-quantize.js";
import { FusedMovingAvgObsFakeQuantize } from "../../quant/fake-quantize-fused.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver } from "../../quant/observer.js";
import { LearnableFakeQuantize } from "../../quant/lsq.js";

/** A JS number as a Python literal (inf, nan spelled as Python spells them). */
export function pyNum(v: number): string {
  if (v === Infinity) return "math.inf";
  if (v === -Infinity) return "-math.inf";
  if (Number.isNaN(v)) return "math.nan";
  return String(v); // JS's shortest round-trip form; Python parses it to the same double
}

/** A JSON-like value as a Python literal. */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return pyNum(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `(${v.map(pyLiteral).join(", ")}${v.length === 1 ? "," : ""})`;
  throw new NotSupportedError(`exportTorch: cannot write ${typeof v} as a Python literal`);
}

function observerExpr(obs: Module, path: string): string {
  if (obs instanceof MovingAverageMinMaxObserver || obs instanceof MovingAveragePerChannelMinMaxObserver) {
    const s = obs.spec;
    const chAxis = obs instanceof MovingAveragePerChannelMinMaxObserver ? obs.chAxis : 0;
    return (
      `MovingAverageMinMaxObserver(${s.qmin}, ${s.qmax}, ${JSON.stringify(s.dtype)}, ${JSON.stringify(s.qscheme)}, ${pyNum(s.eps)}, ` +
      `custom_range=${pyLiteral(s.customRange)}, averaging_constant=${pyNum(obs.averagingConstant)}, ch_axis=${chAxis})`
    );
  }
  throw new NotSupportedError(`exportTorch: quantizer '${path}' uses observer ${obs.typeName}; the PyTorch export supports moving-average min/max observers (those of every preset)`);
}

/** True for the quantizer modules the export knows (the fake-quantize family). */
export function isQuantizer(m: Module): boolean {
  return m instanceof FakeQuantize || (m as { fake_quant_enabled?: unknown }).fake_quant_enabled !== undefined;
}

/** The Python expression building quantizer `q` (found at `path`). */
export function quantizerExpr(q: Module, path: string): string {
  if (q instanceof FixedQParamsFakeQuantize) {
    throw new NotSupportedError(`exportTorch: quantizer '${path}' is a FixedQParamsFakeQuantize; not supported by the PyTorch export yet`);
  }
  if (q instanceof FusedMovingAvgObsFakeQuantize) return `FusedMovingAvgObsFakeQuantize(${observerExpr(q.activation_post_process, `${path}.activation_post_process`)})`;
  if (q instanceof FakeQuantize) return `FakeQuantize(${observerExpr(q.activation_post_process, `${path}.activation_post_process`)})`;
  if (q instanceof LearnableFakeQuantize) {
    const obs = observerExpr(q.activation_post_process, `${path}.activation_post_process`);
    return `LearnableFakeQuantize(${obs}, ${q.quantMin}, ${q.quantMax}, channels=${q.scale.size}, use_grad_scaling=${pyLiteral(q.useGradScaling)}, init_mode=${JSON.stringify(q.initMode)})`;
  }
  throw new NotSupportedError(
    `exportTorch: quantizer '${path}' is a ${q.typeName}; the PyTorch export supports FakeQuantize, FusedMovingAvgObsFakeQuantize and LearnableFakeQuantize`,
  );
}
