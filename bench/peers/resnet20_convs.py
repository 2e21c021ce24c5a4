"""PyTorch 1.13's side of bench/experiments/resnet20-convs.ts: each distinct convolution of ResNet-20
(3×32×32, batch 32, width 16) timed at one thread, forward (no_grad) and forward + backward
(autograd.grad for input and weight; the forward subtracted), process CPU ms per training step
(× the layers with that geometry), median of 7 after one warm-up.
Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet20_convs.py"""
import resource

import torch

torch.set_num_threads(1)
LAYERS = [("conv1 3→16 3×3 @32", 1, 3, 32, 16, 3, 1, 1), ("16→16 3×3 @32", 6, 16, 32, 16, 3, 1, 1),
          ("16→32 3×3 s2 @32", 1, 16, 32, 32, 3, 2, 1), ("ds 16→32 1×1 s2", 1, 16, 32, 32, 1, 2, 0),
          ("32→32 3×3 @16", 5, 32, 16, 32, 3, 1, 1), ("32→64 3×3 s2 @16", 1, 32, 16, 64, 3, 2, 1),
          ("ds 32→64 1×1 s2", 1, 32, 16, 64, 1, 2, 0), ("64→64 3×3 @8", 5, 64, 8, 64, 3, 1, 1)]


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median_ms(f):
    f()
    ts = []
    for _ in range(7):
        t0 = cpu()
        f()
        ts.append(cpu() - t0)
    return sorted(ts)[3] * 1000


total = [0.0, 0.0]
print(f"{'layer':22s} ×  fwd ms  bwd (input + weight) ms")
for name, count, c, h, oc, k, s, p in LAYERS:
    x = torch.randn(32, c, h, h, requires_grad=True)
    conv = torch.nn.Conv2d(c, oc, k, s, p, bias=False)
    dy = torch.randn_like(conv(x))

    def fwd():
        with torch.no_grad():
            conv(x)

    def fwd_bwd():
        torch.autograd.grad(conv(x), [x, conv.weight], dy)
    f = median_ms(fwd)
    b = median_ms(fwd_bwd) - f
    total[0] += count * f
    total[1] += count * b
    print(f"{name:22s} {count} {count * f:7.2f}  {count * b:7.2f}")
print(f"{'total':22s}   {total[0]:7.2f}  {total[1]:7.2f}   sum {total[0] + total[1]:.1f} ms")
