/** Every ```ts block of README.md runs (with "qat-ts" resolved to src/index.ts) and exits 0. */
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
      writeFileSync(file, code.replaceAll('from "qat-ts"', `from ${JSON.stringify(path.join(ROOT, "src/index.ts"))}`));
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }, 300_000);
  });
});
