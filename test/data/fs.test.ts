import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FASHION_MNIST_CLASSES, MNIST_CLASSES } from "../../src/data/dataset.js";
import { fashionMnist, mnist, readIdxFile } from "../../src/data/fs.js";
import { embeddedSampleDir, fashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { encodeIdx } from "../../src/data/idx.js";
import * as data from "../../src/data/index.js";
import { FormatError, ValueError } from "../../src/tensor/errors.js";
import { withTempDir } from "./helpers.js";

const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";

/** Writes the four MNIST files (n train, m test, 2×3 images) into dir, gzipped or raw. */
function writeMini(dir: string, opts: { gz: boolean; n?: number; m?: number; labelCount?: number }): void {
  const n = opts.n ?? 5;
  const m = opts.m ?? 3;
  const files: [string, Uint8Array][] = [
    ["train-images-idx3-ubyte", encodeIdx({ shape: [n, 2, 3], data: Uint8Array.from({ length: n * 6 }, (_, k) => k) })],
    ["train-labels-idx1-ubyte", encodeIdx({ shape: [opts.labelCount ?? n], data: Uint8Array.from({ length: opts.labelCount ?? n }, (_, k) => k % 10) })],
    ["t10k-images-idx3-ubyte", encodeIdx({ shape: [m, 2, 3], data: new Uint8Array(m * 6).fill(255) })],
    ["t10k-labels-idx1-ubyte", encodeIdx({ shape: [m], data: new Uint8Array(m).fill(9) })],
  ];
  for (const [name, bytes] of files) {
    writeFileSync(join(dir, opts.gz ? `${name}.gz` : name), opts.gz ? gzipSync(bytes) : bytes);
  }
}

describe("readIdxFile", () => {
  it("reads raw and gzipped files alike", () => {
    withTempDir((dir) => {
      const bytes = encodeIdx({ shape: [2, 2], data: Int32Array.from([1, -2, 3, -4]) });
      writeFileSync(join(dir, "a.idx"), bytes);
      writeFileSync(join(dir, "a.idx.gz"), gzipSync(bytes));
      for (const name of ["a.idx", "a.idx.gz"]) {
        const arr = readIdxFile(join(dir, name));
        expect(arr.dtype).toBe("int32");
        expect(arr.shape).toEqual([2, 2]);
        expect(Array.from(arr.data)).toEqual([1, -2, 3, -4]);
      }
    });
  });

  it("names the file in format errors, after decompression too", () => {
    withTempDir((dir) => {
      const bytes = encodeIdx({ shape: [4], data: new Uint8Array(4) });
      const path = join(dir, "short.gz");
      writeFileSync(path, gzipSync(bytes.subarray(0, 10)));
      expect(() => readIdxFile(path)).toThrow(FormatError);
      expect(() => readIdxFile(path)).toThrow(`${path}: truncated`);
      const corrupt = join(dir, "corrupt.gz");
      writeFileSync(corrupt, Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
      expect(() => readIdxFile(corrupt)).toThrow(`${corrupt}: corrupt gzip data`);
      expect(() => readIdxFile(join(dir, "missing"))).toThrow(ValueError);
    });
  });
});

describe("fashionMnist / mnist directory loaders", () => {
  for (const gz of [false, true]) {
    it(`loads the four ${gz ? "gzipped" : "raw"} files`, () => {
      withTempDir((dir) => {
        writeMini(dir, { gz });
        const { train, test } = fashionMnist(dir);
        expect([train.length, test.length]).toEqual([5, 3]);
        expect(train.itemShape).toEqual([1, 2, 3]);
        expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4]);
        expect(train.classes).toEqual(FASHION_MNIST_CLASSES);
        expect(test.get(0).x.data[0]).toBeCloseTo((1 - 0.286) / 0.353, 6);
        const digits = mnist(dir);
        expect(digits.train.classes).toEqual(MNIST_CLASSES);
        expect(digits.test.get(0).x.data[0]).toBeCloseTo((1 - 0.1307) / 0.3081, 6);
        const custom = fashionMnist(dir, { mean: 0.5, std: 0.5 });
        expect(custom.test.get(0).x.data[0]).toBeCloseTo(1, 6);
      });
    });
  }

  it("lists every name it looked for when a file is missing", () => {
    withTempDir((dir) => {
      expect(() => fashionMnist(join(dir, "nope"))).toThrow(/does not exist/);
      writeMini(dir, { gz: true });
      rmSync(join(dir, "t10k-labels-idx1-ubyte.gz"));
      expect(() => mnist(dir)).toThrow(/mnist: no t10k-labels-idx1-ubyte file .*t10k-labels\.idx1-ubyte\.gz$/);
    });
    withTempDir((dir) => {
      expect(() => fashionMnist(dir)).toThrow(ValueError);
      expect(() => fashionMnist(dir)).toThrow(
        `no train-images-idx3-ubyte file in ${dir}; looked for train-images-idx3-ubyte, train-images-idx3-ubyte.gz, ` +
          "train-images.idx3-ubyte, train-images.idx3-ubyte.gz",
      );
    });
  });

  it("rejects mismatched counts, wrong ranks and labels outside the classes", () => {
    withTempDir((dir) => {
      writeMini(dir, { gz: false, labelCount: 4 });
      expect(() => fashionMnist(dir)).toThrow(/has 5 images but .*train-labels-idx1-ubyte has 4 labels/);
    });
    withTempDir((dir) => {
      writeMini(dir, { gz: false });
      const labelsPath = join(dir, "t10k-labels-idx1-ubyte");
      writeFileSync(labelsPath, encodeIdx({ shape: [3, 1], data: new Uint8Array(3) }));
      expect(() => fashionMnist(dir)).toThrow(FormatError);
      expect(() => fashionMnist(dir)).toThrow(`${labelsPath}: expected IDX uint8 with 1 dim, got uint8 of shape [3, 1]`);
      writeFileSync(labelsPath, encodeIdx({ shape: [3], data: Uint8Array.from([0, 10, 1]) }));
      expect(() => fashionMnist(dir)).toThrow(`${labelsPath}: label 10 at index 1 is not a class (0..9)`);
    });
  });
});

describe("embedded Fashion-MNIST sample", () => {
  it("loads 6000 train / 1000 test, class-balanced, 28×28, normalised", () => {
    const { train, test } = fashionMnistSample();
    expect((data as Record<string, unknown>).fashionMnistSample).toBeUndefined(); // its own entry, not the root
    expect([train.length, test.length]).toEqual([6000, 1000]);
    expect(train.itemShape).toEqual([1, 28, 28]);
    expect(test.itemShape).toEqual([1, 28, 28]);
    expect(train.classCounts()).toEqual(new Array(10).fill(600));
    expect(test.classCounts()).toEqual(new Array(10).fill(100));
    expect(train.classes[9]).toBe("Ankle boot");
    const { x, y } = train.getBatch(Int32Array.from({ length: 6000 }, (_, i) => i));
    expect(x.shape).toEqual([6000, 1, 28, 28]);
    expect(y.dtype).toBe("int32");
    let sum = 0;
    let sumSq = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of x.data) {
      sum += v;
      sumSq += v * v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const mean = sum / x.size;
    const std = Math.sqrt(sumSq / x.size - mean * mean);
    expect(min).toBeCloseTo(-0.286 / 0.353, 5);
    expect(max).toBeCloseTo((1 - 0.286) / 0.353, 5);
    expect(Math.abs(mean)).toBeLessThan(0.05); // normalised with the full-set statistics
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
  });

  it("matches the sha256 sums recorded in its README", () => {
    const dir = embeddedSampleDir();
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    for (const name of ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
      const sum = createHash("sha256").update(readFileSync(join(dir, name))).digest("hex");
      expect(readme).toContain(`| ${name} |`);
      expect(readme).toContain(sum);
    }
  });
});

describe("full Fashion-MNIST (Debian dataset-fashion-mnist)", () => {
  const present = existsSync(join(DEBIAN_DIR, "train-images-idx3-ubyte.gz")) || existsSync(join(DEBIAN_DIR, "train-images-idx3-ubyte"));
  if (!present) console.log(`skipping full Fashion-MNIST test: ${DEBIAN_DIR} not found (apt install dataset-fashion-mnist)`);
  it.skipIf(!present)("loads 60000 train / 10000 test images", () => {
    const { train, test } = fashionMnist(DEBIAN_DIR);
    expect([train.length, test.length]).toEqual([60000, 10000]);
    expect(train.itemShape).toEqual([1, 28, 28]);
    expect(train.classCounts()).toEqual(new Array(10).fill(6000));
    expect(test.classCounts()).toEqual(new Array(10).fill(1000));
  });
});
