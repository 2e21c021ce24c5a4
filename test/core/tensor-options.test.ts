/**
 * tensor()'s options argument is validated (issue 19): `tensor(data, [2, 3])` — a PyTorch
 * habit in JavaScript — used to be taken as options and return a flat tensor silently; now it
 * is a ValueError that says what to write. Unknown keys (`requires_grad`) and non-objects too.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { tensor } from "../../src/tensor/creation.js";
import { ValueError } from "../../src/tensor/errors.js";

const call = (data: unknown, opts: unknown) => () => tensor(data as number[], opts as never);

describe("tensor() options", () => {
  it("an array as the second argument is a ValueError suggesting { shape } or reshape", () => {
    expect(call([1, 2, 3, 4, 5, 6], [2, 3])).toThrow(ValueError);
    expect(call([1, 2, 3, 4, 5, 6], [2, 3])).toThrow(
      "tensor: the second argument is an options object, got the array [2,3]; for a shape write tensor(data, { shape: [2,3] }) or tensor(data).reshape([2,3])",
    );
    expect(call(new Float32Array(6), Int32Array.of(3, 2))).toThrow("got the array [3, 2]");
  });

  it("unknown keys and non-objects are ValueErrors naming them", () => {
    expect(call([1, 2], { requires_grad: true })).toThrow("tensor: unknown option 'requires_grad' (did you mean requiresGrad?); known options: dtype, requiresGrad, shape");
    expect(call([1, 2], { shap: [2] })).toThrow("tensor: unknown option 'shap'");
    expect(call([1, 2], "float32")).toThrow("tensor: the second argument must be an options object ({ dtype, requiresGrad, shape }), got string float32");
    expect(call([1, 2], null)).toThrow("got null");
    expect(call([1, 2], 3)).toThrow(ValueError);
  });

  it("the documented forms still work", () => {
    const t = tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3] });
    expect(t.shape).toEqual([2, 3]);
    expect(tensor([1, 2, 3, 4, 5, 6]).reshape([2, 3]).shape).toEqual([2, 3]);
    expect(tensor([[1, 2]], { dtype: "int32", requiresGrad: false }).dtype).toBe("int32");
    expect(tensor([1, 2], undefined).shape).toEqual([2]);
    expect(tensor(Float32Array.of(1, 2, 3, 4), { shape: [2, 2], requiresGrad: true }).requiresGrad).toBe(true);
  });
});
