/**
 * Bounded decompression in readIdxFile (src/data/fs.ts): a gzipped IDX file inflates only up to
 * the size its header declares, a header declaring more than the limit (or more than the gzip
 * bytes can hold) is refused before inflating, and the errors are FormatErrors naming the file.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readIdxFile } from "../../src/data/fs.js";
import { encodeIdx } from "../../src/data/idx.js";
import { FormatError, ValueError } from "../../src/tensor/errors.js";
import { withTempDir } from "./helpers.js";

/** IDX uint8 header for `shape` followed by `bodyBytes` zero bytes. */
function idxWithBody(shape: number[], bodyBytes: number): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + bodyBytes);
  out[2] = 0x08;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  return out;
}

describe("readIdxFile bounded gzip", () => {
  it("stops a decompression bomb at the header's declared size", () => {
    withTempDir((dir) => {
      const path = join(dir, "bomb.gz");
      writeFileSync(path, gzipSync(idxWithBody([10, 28, 28], 64 << 20), { level: 9 })); // 64 MiB of zeros, ~65 KB gzipped
      expect(() => readIdxFile(path)).toThrow(FormatError);
      expect(() => readIdxFile(path)).toThrow(`${path}: has trailing bytes: the gzip data inflates past the 7856 bytes`);
    });
  });

  it("refuses a header that declares more than the limit, or more than the gzip bytes can hold", () => {
    withTempDir((dir) => {
      const path = join(dir, "big.gz");
      writeFileSync(path, gzipSync(idxWithBody([3_000_000, 28, 28], 1024)));
      expect(() => readIdxFile(path)).toThrow(/exceeds the limit of 536870912 bytes/);
      expect(() => readIdxFile(path, { maxBytes: 2 ** 40 })).toThrow(/truncated: its IDX header declares 2352000016 bytes, more than \d+ gzip bytes can hold/);
      const ok = join(dir, "ok.gz");
      writeFileSync(ok, gzipSync(encodeIdx({ shape: [4, 4], data: new Uint8Array(16).fill(7) })));
      expect(() => readIdxFile(ok, { maxBytes: 10 })).toThrow(FormatError);
      expect(readIdxFile(ok, { maxBytes: 28 }).shape).toEqual([4, 4]);
      expect(() => readIdxFile(ok, { maxBytes: 0 })).toThrow(ValueError);
    });
  });

  it("reads a header split across many gzip blocks and still reports a bad magic", () => {
    withTempDir((dir) => {
      const bytes = encodeIdx({ shape: [2, 1, 1, 1, 1, 1, 1, 3], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
      const path = join(dir, "slow.gz");
      writeFileSync(path, gzipSync(bytes, { level: 0, chunkSize: 64 }));
      expect(Array.from(readIdxFile(path).data)).toEqual([1, 2, 3, 4, 5, 6]);
      const bad = join(dir, "bad.gz");
      writeFileSync(bad, gzipSync(Uint8Array.from([7, 7, 7, 7, 7])));
      expect(() => readIdxFile(bad)).toThrow(`${bad}: not an IDX file`);
      const tiny = join(dir, "tiny.gz");
      writeFileSync(tiny, gzipSync(Uint8Array.from([0, 0])));
      expect(() => readIdxFile(tiny)).toThrow(FormatError);
    });
  });
});
