/**
 * The SGD step on float32 parameters (src/optim/sgd.ts's sgdUpdate is the definition): every
 * intermediate in f64 lanes from float32 inputs, rounded to float32 only where the reference
 * stores (the momentum buffer, the parameter), so the results are bit-identical to it.
 *   d = ±g (+ wd·p);  buf = first ? d : μ·buf + (1 − dampening)·d;  d = nesterov ? d + μ·buf : buf;  p −= lr·d
 * flags: 1 = maximize, 2 = momentum buffer present, 4 = first step, 8 = nesterov.
 */
export function sgdStepF32(p: usize, g: usize, buf: usize, n: i32, lr: f64, mu: f64, keep: f64, wd: f64, flags: i32): void {
  const maximize = (flags & 1) != 0, hasBuf = (flags & 2) != 0, first = (flags & 4) != 0, nesterov = (flags & 8) != 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const pv = <f64>load<f32>(p + o);
    let d = <f64>load<f32>(g + o);
    if (maximize) d = -d;
    if (wd != 0) d += wd * pv;
    if (hasBuf) {
      const b = <f32>(first ? d : mu * <f64>load<f32>(buf + o) + keep * d);
      store<f32>(buf + o, b);
      d = nesterov ? d + mu * <f64>b : <f64>b;
    }
    store<f32>(p + o, <f32>(pv - lr * d));
  }
}
