/**
 * INT64 values beyond int32 (our int64 storage): tensor-proto.ts reads raw_data as BigInt and,
 * when asked (`int64: "saturate"`, as the float importer does for initializers and Constant
 * values), clamps them exactly — INT64_MAX / INT64_MIN, 2^53 + 1, 2^40; without it they are a
 * FormatError naming the tensor. Attrs.saturatedInt(s) clamp attributes the same way. End to
 * end: Slice with ends = INT64_MAX (an initializer, opset 13) and with an INT64_MAX `ends`
 * attribute (opset 9), and Shape with end = INT64_MAX, import and compute the right values.
 * INT16 / UINT16 widen to int32; UINT32 / UINT64 too, range-checked.
 */
import { describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { arange } from "../../src/tensor/creation.js";
import { FormatError } from "../../src/tensor/errors.js";
import {
  Attrs, DataType, attr, encodeModel, importModel, makeModel, makeNode, makeValueInfo, readTensorProto, type OnnxModule,
} from "../../src/onnx/index.js";
import { AttrType, type AttributeProto, type TensorProto } from "../../src/onnx/proto.js";

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

function rawInt64(name: string, values: bigint[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: raw };
}

describe("INT64 saturation", () => {
  it("raw_data beyond int32: FormatError by default, exact clamp when saturating", () => {
    const tp = rawInt64("ends", [I64_MAX, I64_MIN, 2n ** 53n + 1n, -(2n ** 40n), 7n, -3n]);
    expect(() => readTensorProto(tp)).toThrow(FormatError);
    expect(() => readTensorProto(tp)).toThrow(/ends/);
    expect(readTensorProto(tp, "ends", { int64: "saturate" }).toList()).toEqual([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31), 7, -3]);
  });

  it("int64_data (numbers from the decoder) clamp too; NaN stays an error", () => {
    const tp: TensorProto = { name: "t", dims: [3], dataType: DataType.INT64, int64Data: [2 ** 60, -(2 ** 62), 12] };
    expect(readTensorProto(tp, "t", { int64: "saturate" }).toList()).toEqual([2 ** 31 - 1, -(2 ** 31), 12]);
    expect(() => readTensorProto({ ...tp, int64Data: [Number.NaN, 1, 2] }, "t", { int64: "saturate" })).toThrow(FormatError);
  });

  it("INT16 / UINT16 widen to int32; UINT32 / UINT64 too, range-checked", () => {
    const raw = (bytes: number[]) => Uint8Array.from(bytes);
    expect(readTensorProto({ name: "a", dims: [2], dataType: DataType.INT16, rawData: raw([0x00, 0x80, 0xff, 0x7f]) }).toList()).toEqual([-32768, 32767]);
    expect(readTensorProto({ name: "b", dims: [1], dataType: DataType.UINT16, rawData: raw([0xff, 0xff]) }).toList()).toEqual([65535]);
    expect(readTensorProto({ name: "c", dims: [2], dataType: DataType.UINT32, uint64Data: [7, 2 ** 31 - 1] }).dtype).toBe("int32");
    expect(() => readTensorProto({ name: "d", dims: [1], dataType: DataType.UINT32, uint64Data: [2 ** 31] })).toThrow(/'d'|d:/);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(() => readTensorProto({ name: "e", dims: [1], dataType: DataType.UINT64, rawData: big })).toThrow(FormatError);
    new DataView(big.buffer).setBigUint64(0, 12n, true);
    expect(readTensorProto({ name: "f", dims: [1], dataType: DataType.UINT64, rawData: big }).toList()).toEqual([12]);
  });

  it("Attrs.saturatedInt(s) clamp; Attrs.int(s) reject unsafe values", () => {
    const protos: AttributeProto[] = [
      { name: "ends", type: AttrType.INTS, ints: [2 ** 63, -(2 ** 63), 5] },
      { name: "end", type: AttrType.INT, i: 2 ** 63 },
    ];
    const a = new Attrs(protos, "Slice node 's'");
    expect(a.saturatedInts("ends")).toEqual([2 ** 31 - 1, -(2 ** 31), 5]);
    expect(a.saturatedInt("end", 0)).toBe(2 ** 31 - 1);
    expect(a.saturatedInt("start", 4)).toBe(4);
    expect(() => a.ints("ends")).toThrow(/Slice node 's'.*ends/);
    expect(() => new Attrs([{ name: "ends", type: AttrType.INTS, ints: [1.5] }], "n").saturatedInts("ends")).toThrow(FormatError);
  });

  const run = (nodes: ReturnType<typeof makeNode>[], inits: TensorProto[], opset: number, out: string) => {
    const model = makeModel({
      name: "g", node: nodes, initializer: inits,
      input: [makeValueInfo("x", DataType.FLOAT, [2, 6])], output: [{ name: out, type: { tensorType: { elemType: DataType.FLOAT } } }],
    }, { opset });
    const m = importModel(encodeModel(model)) as OnnxModule;
    return m.forward(arange(12).reshape([2, 6]));
  };

  it("Slice with ends = INT64_MAX as an initializer (opset 13) runs to the end", () => {
    const y = run([makeNode("Slice", ["x", "starts", "ends", "axes"], ["y"])], [rawInt64("starts", [2n]), rawInt64("ends", [I64_MAX]), rawInt64("axes", [1n])], 13, "y");
    expect(y.shape).toEqual([2, 4]);
    expect(y.toList()).toEqual([2, 3, 4, 5, 8, 9, 10, 11]);
  });

  it("Slice with an INT64_MAX ends attribute (opset 9) and Shape with end = INT64_MAX", () => {
    const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: v });
    const y = run([makeNode("Slice", ["x"], ["y"], { attributes: [ints("starts", [-3]), ints("ends", [2 ** 63]), ints("axes", [1])] })], [], 9, "y");
    expect(y.toList()).toEqual([3, 4, 5, 9, 10, 11]);
    const shape = [makeNode("Shape", ["x"], ["s"], { attributes: [attr.int("start", 1), { name: "end", type: AttrType.INT, i: 2 ** 63 }] }), makeNode("Cast", ["s"], ["f"], { attributes: [attr.int("to", DataType.FLOAT)] }), makeNode("Add", ["x", "f"], ["y"])];
    expect(run(shape, [], 15, "y").toList().slice(0, 2)).toEqual([6, 7]);
  });
});
