/** Every ```ts block of README.md runs (with "qat-ts" and its subpaths resolved to src/) and exits 0. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const blocks = [...readFileSync(path.join(ROOT, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

describe("README code blocks", () => {
  it("has at least one TypeScript block", () => expect(blocks.length).toBeGreaterThan(0));
  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs`, () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "qat-readme-"));
      const file = path.join(dir, `block${i}.mts`);
      const entry = (sub: string) => `from ${JSON.stringify(path.join(ROOT, "src", `${sub}.ts`))}`;
      const resolved = code
        .replaceAll('from "qat-ts/node"', entry("node"))
        .replaceAll('from "qat-ts/datasets/fashion-mnist-sample"', entry("datasets/fashion-mnist-sample"))
        .replaceAll('from "qat-ts"', entry("index"));
      writeFileSync(file, resolved);
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }, 300_000);
  });
});
