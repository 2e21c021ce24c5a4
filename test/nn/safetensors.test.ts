/** safetensors: round trips, PyTorch-written files into smallCnn, malformed files, atomic writes. */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import "../../src/ops/index.js";
import { arange, randn, tensor, zeros } from "../../src/tensor/creation.js";
import { FormatError, NotSupportedError } from "../../src/tensor/errors.js";
import { noGrad } from "../../src/tensor/grad-mode.js";
import * as nn from "../../src/nn/index.js";
import { expectClose } from "../core/helpers.js";
import { fromGolden, goldenPath, readGolden } from "./golden.js";

const dir = mkdtempSync(join(tmpdir(), "qat-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors buffer from a raw header object and data bytes. */
function craft(header: unknown, data: Uint8Array, headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): Record<string, any> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

describe("safetensors encode/decode", () => {
  it("round-trips every dtype, scalars, empty tensors and metadata, keeping order", () => {
    const sd: nn.StateDict = {
      w: randn([3, 4]),
      d: tensor([1.5, -2.25], { dtype: "float64" }),
      i: tensor([-7, 2147483647], { dtype: "int32" }),
      q: tensor([-128, 127], { dtype: "int8" }),
      u: tensor([0, 255], { dtype: "uint8" }),
      s: tensor(3),
      e: zeros([0, 2]),
      "bn.num_batches_tracked": tensor(5, { dtype: "int32" }),
    };
    const bytes = nn.encodeSafetensors(sd, { metadata: { format: "pt" } });
    const h = headerOf(bytes);
    expect(h.__metadata__).toEqual({ format: "pt" });
    expect(h["bn.num_batches_tracked"]).toEqual({ dtype: "I64", shape: [], data_offsets: [h.e.data_offsets[1], h.e.data_offsets[1] + 8] });
    expect(h.i.dtype).toBe("I32");
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const { tensors, metadata } = nn.decodeSafetensorsWithMetadata(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect(Object.keys(tensors)).toEqual(Object.keys(sd));
    for (const [k, t] of Object.entries(sd)) {
      expect(tensors[k].dtype, k).toBe(t.dtype);
      expect(tensors[k].shape, k).toEqual(t.shape);
      expect(tensors[k].toList(), k).toEqual(t.toList());
    }
  });

  it("decodes F16, BF16, BOOL, I16 and unaligned offsets", () => {
    const data = new Uint8Array(2 * 3 + 2 * 2 + 1 + 2 * 2);
    const v = new DataView(data.buffer);
    [0x3c00, 0xc000, 0x0001].forEach((h, i) => v.setUint16(2 * i, h, true)); // 1, -2, 2^-24
    [0x3f80, 0x4049].forEach((h, i) => v.setUint16(6 + 2 * i, h, true)); // 1, 3.140625
    v.setUint8(10, 7);
    v.setInt16(11, -300, true); // offset 11: unaligned
    v.setInt16(13, 300, true);
    const bytes = craft({
      h: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
      b: { dtype: "BF16", shape: [2], data_offsets: [6, 10] },
      m: { dtype: "BOOL", shape: [1], data_offsets: [10, 11] },
      s: { dtype: "I16", shape: [2], data_offsets: [11, 15] },
    }, data);
    const t = nn.decodeSafetensors(bytes);
    expect(t.h.toList()).toEqual([1, -2, 2 ** -24]);
    expect(t.b.toList()).toEqual([1, 3.140625]);
    expect(t.m.toList()).toEqual([1]);
    expect(t.s.toList()).toEqual([-300, 300]);
    expect(t.s.dtype).toBe("int32");
  });

  it("rejects malformed buffers with FormatErrors naming the source and tensor", () => {
    const good = nn.encodeSafetensors({ a: arange(0, 4, 1, { dtype: "float32" }), b: zeros([2]) });
    expect(() => nn.decodeSafetensors(good.subarray(0, 5), "x.st")).toThrow(/safetensors x\.st: 5 bytes is too short/);
    expect(() => nn.decodeSafetensors(good.subarray(0, 20), "x.st")).toThrow(/exceeds the file/);
    expect(() => nn.decodeSafetensors(good.subarray(0, good.length - 4), "x.st")).toThrow(/tensor 'b'.*runs past/);
    const trailing = new Uint8Array(good.length + 4);
    trailing.set(good);
    expect(() => nn.decodeSafetensors(trailing)).toThrow(/trailing bytes/);
    const bad = (header: unknown, data = new Uint8Array(8)) => () => nn.decodeSafetensors(craft(header, data), "f");
    expect(bad({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } })).toThrow(/tensor 'a': data_offsets span 8 bytes, but shape \[3\] of F32 needs 12/);
    expect(bad({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [2, 6] } })).toThrow(/tensor 'b'.*overlap or leave a gap/);
    expect(bad({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } })).toThrow(/tensor 'a': shape/);
    expect(bad({ a: { dtype: "C64", shape: [1], data_offsets: [0, 8] } })).toThrow(NotSupportedError);
    expect(bad({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, __metadata__: { n: 1 } })).toThrow(/__metadata__ 'n' is not a string/);
    expect(bad([1, 2])).toThrow(/header must be a JSON object/);
    const notJson = craft({}, new Uint8Array(0));
    notJson[8] = 0x7b + 1;
    expect(() => nn.decodeSafetensors(notJson)).toThrow(FormatError);
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigInt64(0, 3_000_000_000n, true);
    expect(() => nn.decodeSafetensors(craft({ n: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, big))).toThrow(/I64 value 3000000000 at index 0 does not fit int32/);
    expect(() => nn.encodeSafetensors({ __metadata__: zeros([1]) })).toThrow(/reserved/);
  });
});

interface TorchState {
  torch_version: string;
  metadata: Record<string, string>;
  keys: string[];
  tensors: Record<string, { dtype: string; shape: number[]; sum: number; first: number[] }>;
  input: { shape: number[]; data: number[] };
  logits: { shape: number[]; data: number[] };
}

describe("PyTorch-written checkpoints", () => {
  const info = readGolden<TorchState>("nn/torch_state.json");
  const files = ["nn/torch_state.safetensors", "nn/torch_state_lib.safetensors"].filter((f) => existsSync(goldenPath(f)));

  for (const file of files) {
    it(`${file} (torch ${info.torch_version}) loads into smallCnn and reproduces PyTorch's logits`, () => {
      const { tensors, metadata } = nn.loadSafetensorsWithMetadata(goldenPath(file));
      expect(metadata).toEqual(info.metadata);
      expect(Object.keys(tensors).sort()).toEqual([...info.keys].sort());
      for (const [k, t] of Object.entries(info.tensors)) {
        expect(tensors[k].shape, k).toEqual(t.shape);
        expect(tensors[k].dtype, k).toBe(t.dtype === "int64" ? "int32" : "float32");
        expect(tensors[k].toList().reduce((a, b) => a + b, 0)).toBeCloseTo(t.sum, 3);
      }
      expect(tensors["bn1.num_batches_tracked"].item()).toBe(3);
      const model = nn.models.smallCnn();
      model.loadStateDict(tensors);
      const y = noGrad(() => model.eval().forward(fromGolden(info.input)));
      expectClose(y.data, info.logits.data, 1e-4, 1e-4);
    });
  }

  it("our smallCnn checkpoint has PyTorch's keys and int64 num_batches_tracked", () => {
    const path = join(dir, "small.safetensors");
    const model = nn.models.smallCnn();
    nn.saveSafetensors(path, model.stateDict(), { format: "pt" });
    const h = headerOf(new Uint8Array(readFileSync(path)));
    expect(Object.keys(h).filter((k) => k !== "__metadata__")).toEqual(info.keys);
    expect(h["bn2.num_batches_tracked"].dtype).toBe("I64");
    const back = nn.models.smallCnn();
    back.loadStateDict(nn.loadSafetensors(path));
    expect(back.fc1.weight.toList()).toEqual(model.fc1.weight.toList());
  });
});

describe("writeFileAtomic", () => {
  it("replaces the file and leaves no temporary files", () => {
    const path = join(dir, "ckpt.bin");
    nn.writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    nn.writeFileAtomic(path, "hello");
    expect(readFileSync(path, "utf8")).toBe("hello");
    expect(readdirSync(dir).filter((f) => f.includes("ckpt.bin"))).toEqual(["ckpt.bin"]);
  });

  it("leaves the old file intact and removes the temporary file when the write fails", () => {
    const path = join(dir, "keep.safetensors");
    writeFileSync(path, "old contents");
    let tempSeen = "";
    expect(() =>
      nn.writeFileAtomic(path, new Uint8Array(1024), {
        beforeRename: (temp) => {
          tempSeen = temp;
          expect(readFileSync(temp).length).toBe(1024);
          throw new Error("simulated crash before rename");
        },
      }),
    ).toThrow("simulated crash before rename");
    expect(readFileSync(path, "utf8")).toBe("old contents");
    expect(existsSync(tempSeen)).toBe(false);
    expect(() => nn.writeFileAtomic(join(dir, "missing-dir", "x.bin"), "x")).toThrow(/ENOENT/);
    expect(() => nn.saveSafetensors(path, { a: zeros([1]) }, { n: 1 as unknown as string })).toThrow(/metadata 'n' must be a string/);
    expect(readFileSync(path, "utf8")).toBe("old contents");
  });
});
