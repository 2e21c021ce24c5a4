/**
 * FusedMovingAvgObsFakeQuantize (PyTorch 1.13): moving-average min/max observation, qparams
 * and fake quantization in one op (torch.fused_moving_avg_obs_fake_quant). This is what
 * PyTorch 1.13's default QAT qconfigs use (get_default_qat_qconfig('x86' | 'onednn' | …),
 * version 1), and its numerics differ from FakeQuantize + MovingAverageMinMaxObserver:
 *
 *   running min/max: m ← x_min if m is ±inf, else m + c·(x_min − m)     (float32)
 *   qparams: ATen's ChooseQuantizationParams (chooseQParamsFused: float64 scale, scale
 *            floor 6.1e-5, zero point nudged), recomputed on every forward that fake-quantizes
 *   when fake_quant_enabled = 0: output = input, scale/zero_point are not updated
 *   a batch holding NaN / ±Infinity: counted by the observer, running min/max unchanged
 *
 * State-dict keys are FakeQuantize's (the switches are int64 in PyTorch, int32 here).
 * Called by the qconfig presets and prepareQat.
 */
import { Tensor } from "../tensor/tensor.js";
import { fakeQuantizePerChannel, fakeQuantizePerTensor, FakeQuantize, type FakeQuantizeOptions } from "./fake-quantize.js";
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, aminmax, aminmaxPerChannel, channelAxis } from "./observer.js";
import { chooseQParamsFused } from "./qparams.js";
import { ValueError } from "../tensor/errors.js";
import { isSymmetric } from "./quant-spec.js";

const f32 = Math.fround;

/** m ← x if m is ±inf else m + c·(x − m), in float32 (ATen calculate_moving_average). */
function movingAverage(running: Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array, current: ArrayLike<number>, c: number): void {
  for (let i = 0; i < current.length; i++) {
    const r = running[i];
    running[i] = r === Infinity || r === -Infinity ? current[i] : r + f32(c * f32(current[i] - r));
  }
}

export class FusedMovingAvgObsFakeQuantize extends FakeQuantize {
  readonly isSymmetricQuant: boolean;

  constructor(opts: FakeQuantizeOptions = {}) {
    super({ quantMin: 0, quantMax: 255, ...opts }, "FusedMovingAvgObsFakeQuantize");
    const obs = this.activation_post_process;
    if (!(obs instanceof MovingAverageMinMaxObserver || obs instanceof MovingAveragePerChannelMinMaxObserver)) {
      throw new ValueError(`FusedMovingAvgObsFakeQuantize: the observer must be a moving-average min/max observer, got ${obs.typeName}`);
    }
    this.registerBuffer("fake_quant_enabled", new Tensor(Int32Array.of(1), [1]));
    this.registerBuffer("observer_enabled", new Tensor(Int32Array.of(1), [1]));
    this.isSymmetricQuant = isSymmetric(obs.qscheme);
  }

  private get movingObserver(): MovingAverageMinMaxObserver | MovingAveragePerChannelMinMaxObserver {
    return this.activation_post_process as MovingAverageMinMaxObserver | MovingAveragePerChannelMinMaxObserver;
  }

  /** Per-channel: sizes running min/max (±inf) and scale/zero point to C on first use. */
  private ensureChannels(x: Tensor): number {
    const obs = this.movingObserver;
    const axis = channelAxis(this.chAxis, x, this.typeName);
    const C = x.shape[axis];
    if (obs.min_val.size === 0) {
      obs.min_val = new Tensor(new Float32Array(C).fill(Infinity), [C]);
      obs.max_val = new Tensor(new Float32Array(C).fill(-Infinity), [C]);
      this.scale = new Tensor(new Float32Array(C), [C]);
      this.zero_point = new Tensor(new Int32Array(C), [C]);
    }
    return axis;
  }

  private observe(x: Tensor, axis: number): void {
    const obs = this.movingObserver;
    const c = f32(obs.averagingConstant);
    if (this.isPerChannel) {
      const [mins, maxs] = aminmaxPerChannel(x, axis);
      if (obs.skipNonFinite(x, mins, maxs)) return;
      movingAverage(obs.min_val.data, mins, c);
      movingAverage(obs.max_val.data, maxs, c);
    } else {
      const [mn, mx] = aminmax(x.data);
      if (obs.skipNonFinite(x, [mn, mx])) return;
      movingAverage(obs.min_val.data, [mn], c);
      movingAverage(obs.max_val.data, [mx], c);
    }
  }

  /** Recomputes scale / zero point from the running range with ChooseQuantizationParams. */
  private chooseQParams(): void {
    const obs = this.movingObserver;
    const { quantMin, quantMax } = this;
    const mins = obs.min_val.data;
    const maxs = obs.max_val.data;
    for (let i = 0; i < mins.length; i++) {
      const q = chooseQParamsFused(mins[i], maxs[i], quantMin, quantMax, this.isSymmetricQuant);
      this.scale.data[i] = q.scale;
      this.zero_point.data[i] = q.zeroPoint;
    }
  }

  override forward(x: Tensor): Tensor {
    if (x.dtype !== "float32" && x.dtype !== "float64") throw new ValueError(`${this.typeName}: input must be float32 or float64, got ${x.dtype}`);
    const axis = this.isPerChannel ? this.ensureChannels(x) : -1;
    if (this.observer_enabled.data[0] !== 0) this.observe(x, axis);
    if (this.fake_quant_enabled.data[0] === 0) return x;
    this.chooseQParams();
    const { quantMin, quantMax } = this;
    if (this.isPerChannel) return fakeQuantizePerChannel(x, this.scale, this.zero_point, axis, quantMin, quantMax);
    return fakeQuantizePerTensor(x, this.scale.data[0], this.zero_point.data[0], quantMin, quantMax, false);
  }
}
