/**
 * nn.LSTM / nn.GRU against PyTorch 1.13 (test/golden/rnn/rnn.json, made by
 * scripts/golden/rnn.py): state-dict keys and order, outputs y / h_n / c_n, and gradients of
 * sum(y·gy) + sum(h_n·gh) (+ sum(c_n·gc)) for the input, the initial state and every
 * parameter — one to several layers, bidirectional, batch_first, no bias, unbatched, zero
 * initial state. Also float64 central differences through the recurrence (both GRU forms,
 * LSTM peepholes and clip, as ONNX import uses them) and bad-input errors.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { backward } from "../../src/autograd/backward.js";
import { add, mul, sum } from "../../src/ops/index.js";
import { gruSequence, lstmSequence } from "../../src/ops/rnn.js";
import { zeros } from "../../src/tensor/creation.js";
import { ShapeError, ValueError } from "../../src/tensor/errors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import * as nn from "../../src/nn/index.js";
import { prepareQat } from "../../src/quant/prepare.js";
import { convertWithReport } from "../../src/quant/convert.js";
import { qconfigs } from "../../src/quant/index.js";
import { randn } from "../../src/tensor/creation.js";
import { expectClose, expectGrad, leaf } from "../core/helpers.js";
import { type GoldenTensor, fromGolden, readGolden } from "./golden.js";

interface Case {
  name: string;
  kind: "LSTM" | "GRU";
  inputSize: number;
  hiddenSize: number;
  options: nn.RnnOptions;
  keys: string[];
  params: Record<string, GoldenTensor>;
  grads: Record<string, GoldenTensor>;
  x: GoldenTensor; dx: GoldenTensor; y: GoldenTensor; hn: GoldenTensor; gy: GoldenTensor; gh: GoldenTensor;
  h0?: GoldenTensor; dh0?: GoldenTensor; c0?: GoldenTensor; dc0?: GoldenTensor; cn?: GoldenTensor; gc?: GoldenTensor;
}

const doc = readGolden<{ cases: Case[] }>("rnn/rnn.json");
const close = (t: Tensor | null | undefined, g: GoldenTensor | undefined, what: string) => {
  expect(t, `${what} present`).toBeTruthy();
  expect(t!.shape, `${what} shape`).toEqual(g!.shape);
  expectClose(t!.data, g!.data, 2e-5, 1e-4);
};

describe("nn.LSTM / nn.GRU vs PyTorch 1.13", () => {
  for (const c of doc.cases) {
    it(c.name, () => {
      const m = c.kind === "LSTM" ? new nn.LSTM(c.inputSize, c.hiddenSize, c.options) : new nn.GRU(c.inputSize, c.hiddenSize, c.options);
      expect(Object.keys(m.stateDict())).toEqual(c.keys);
      const sd = new Map(Object.entries(c.params).map(([k, v]) => [k, fromGolden(v)]));
      m.loadStateDict(sd, { strict: true });
      const x = fromGolden(c.x, true);
      const h0 = c.h0 ? fromGolden(c.h0, true) : null;
      const c0 = c.c0 ? fromGolden(c.c0, true) : null;
      let y: Tensor, hn: Tensor, cn: Tensor | null = null;
      if (m instanceof nn.LSTM) [y, [hn, cn]] = m.forwardWithState(x, h0 && c0 ? [h0, c0] : null);
      else [y, hn] = (m as nn.GRU).forwardWithState(x, h0);
      close(y, c.y, "y");
      close(hn, c.hn, "h_n");
      if (c.cn) close(cn, c.cn, "c_n");
      let loss = add(sum(mul(y, fromGolden(c.gy))), sum(mul(hn, fromGolden(c.gh))));
      if (c.gc && cn) loss = add(loss, sum(mul(cn, fromGolden(c.gc))));
      backward(loss);
      close(x.grad, c.dx, "dx");
      if (c.dh0) close(h0!.grad, c.dh0, "dh0");
      if (c.dc0) close(c0!.grad, c.dc0, "dc0");
      for (const [k, g] of Object.entries(c.grads)) close(m.getParameter(k).grad, g, `d${k}`);
    });
  }

  it("forward returns the output sequence; repr as PyTorch", () => {
    const m = new nn.GRU(3, 4, { numLayers: 2, batchFirst: true, bidirectional: true });
    expect(m.forward(zeros([2, 5, 3])).shape).toEqual([2, 5, 8]);
    expect(m.toString()).toBe("GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)");
    expect(new nn.LSTM(2, 3).forward(zeros([4, 3, 2])).shape).toEqual([4, 3, 3]);
  });

  it("bad sizes and shapes are typed errors naming the layer", () => {
    expect(() => new nn.LSTM(0, 3)).toThrow(ValueError);
    expect(() => new nn.GRU(3, 3, { dropout: 1 })).toThrow(/dropout/);
    expect(() => new nn.LSTM(3, 4).forward(zeros([2, 2, 5]))).toThrow(ShapeError);
    expect(() => new nn.GRU(3, 4).forward(zeros([2, 2, 3]), zeros([2, 2, 4]))).toThrow(/h_0 must be \[1, 2, 4\]/);
  });
});

describe("LSTM / GRU in QAT", () => {
  for (const make of [() => new nn.LSTM(3, 4), () => new nn.GRU(3, 4, { bidirectional: true })]) {
    it(`${make().constructor.name}: prepare keeps it float, convert makes it a float island, Int8Model ≡ fake-quant`, () => {
      const rnn = make();
      const m = new nn.Sequential(new nn.Linear(3, 3), rnn, new nn.Linear(rnn.bidirectional ? 8 : 4, 2));
      const x = randn([5, 2, 3]);
      const q = prepareQat(m, { qconfig: qconfigs.x86, example: x });
      q.forward(x);
      const { model, report } = convertWithReport(q);
      expect(report.islands.map((i) => i.fn)).toEqual([rnn.constructor.name]);
      const [a, b] = [q.forward(x), model.run(x)];
      expect(b.shape).toEqual(a.shape);
      expectClose(b.data, a.data, 1e-6, 0);
    });
  }
});

describe("recurrence gradients (float64 central differences)", () => {
  const [T, B, I, H] = [3, 2, 3, 2];
  it("LSTM with peepholes and clip: input, state, weights, peepholes", () => {
    expectGrad((x, h, c, wih, whh, b, p) => {
      const r = lstmSequence(x, h, c, { wih, whh, bih: b, bhh: null }, false, { peepholes: { i: p, f: mul(p, 0.5), o: mul(p, -1) }, clip: 2.5 });
      return add(sum(mul(r.y, r.y)), sum(r.c));
    }, [leaf([T, B, I]), leaf([B, H]), leaf([B, H]), leaf([4 * H, I], 0.5), leaf([4 * H, H], 0.5), leaf([4 * H]), leaf([H])]);
  });
  it("LSTM and GRU with per-element lengths (reversed): state and outputs masked, gradients exact", () => {
    expectGrad((x, h, c, wih, whh) => {
      const r = lstmSequence(x, h, c, { wih, whh }, true, { lengths: [3, 1] });
      return add(sum(mul(r.y, r.y)), sum(r.h));
    }, [leaf([T, B, I]), leaf([B, H]), leaf([B, H]), leaf([4 * H, I], 0.5), leaf([4 * H, H], 0.5)]);
    expectGrad((x, h, wih, whh) => sum(mul(gruSequence(x, h, { wih, whh }, false, { lengths: [2, 0] }).y, 1.5)),
      [leaf([T, B, I]), leaf([B, H]), leaf([3 * H, I], 0.5), leaf([3 * H, H], 0.5)]);
  });
  for (const lbr of [true, false]) {
    it(`GRU (linearBeforeReset ${lbr}), reversed`, () => {
      expectGrad((x, h, wih, whh, bi, bh) => sum(mul(gruSequence(x, h, { wih, whh, bih: bi, bhh: bh }, true, { linearBeforeReset: lbr }).y, 1.5)),
        [leaf([T, B, I]), leaf([B, H]), leaf([3 * H, I], 0.5), leaf([3 * H, H], 0.5), leaf([3 * H]), leaf([3 * H])]);
    });
  }
});
