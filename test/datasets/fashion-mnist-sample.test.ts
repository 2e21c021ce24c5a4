/**
 * The `qat-ts/datasets/fashion-mnist-sample` entry: fetchFashionMnistSample (fetch +
 * DecompressionStream, the browser loader) decodes exactly what fashionMnistSample (node:fs)
 * reads, from a local HTTP server; a missing file is a FormatError naming the URL.
 */
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SAMPLE_FILES, embeddedSampleDir, fashionMnistSample, fetchFashionMnistSample } from "../../src/datasets/fashion-mnist-sample.js";
import { FormatError } from "../../src/tensor/errors.js";

let server: Server;
let base = "";

beforeAll(async () => {
  const dir = embeddedSampleDir();
  server = createServer((req, res) => {
    const name = path.basename(req.url ?? "");
    try {
      if (!req.url?.startsWith("/sample/")) throw new Error("not found");
      const body = readFileSync(path.join(dir, name));
      res.writeHead(200, { "content-type": "application/gzip" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}/sample`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("fetchFashionMnistSample", () => {
  it("decodes the same images and labels as the node:fs loader", async () => {
    const fetched = await fetchFashionMnistSample(base);
    const local = fashionMnistSample();
    for (const split of ["train", "test"] as const) {
      expect(fetched[split].length).toBe(local[split].length);
      // Byte comparison (toEqual on millions of elements is very slow).
      expect(Buffer.compare(fetched[split].images, local[split].images)).toBe(0);
      expect(Buffer.compare(fetched[split].labels as Uint8Array, local[split].labels as Uint8Array)).toBe(0);
      expect(fetched[split].classes).toEqual(local[split].classes);
    }
    expect(Object.values(SAMPLE_FILES)).toHaveLength(4);
  });

  it("names the URL when a file is missing", async () => {
    const err = await fetchFashionMnistSample(`${base}/../nowhere/x/`).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/nowhere\/x\/(train|t10k)-.*answered HTTP 404/);
  });
});
