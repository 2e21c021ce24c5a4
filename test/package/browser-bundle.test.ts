/**
 * The package root is browser-safe: esbuild bundles src/index.ts for the browser platform
 * with no shims, the bundle imports no Node built-in (`node:*`, events, readline, …), and
 * neither the terminal progress bar (cli-progress) nor the embedded dataset is reachable
 * from it. Control: the Node entry (src/node.ts) does NOT bundle for browsers, so the check
 * can fail. Issue 19.
 */
import { builtinModules } from "node:module";
import { build, type BuildFailure, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

async function bundle(entry: string): Promise<{ text: string; metafile: Metafile }> {
  const r = await build({ entryPoints: [entry], bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent", outfile: "out.js" });
  return { text: r.outputFiles[0].text, metafile: r.metafile };
}

describe("browser bundle of the package root", () => {
  it("bundles src/index.ts for the browser with no Node built-in and no Node-only module", async () => {
    const { text, metafile } = await bundle("src/index.ts");
    const inputs = Object.keys(metafile.inputs);
    const imported = Object.values(metafile.inputs).flatMap((i) => i.imports.map((im) => im.path));
    expect(imported.filter((p) => builtins.has(p))).toEqual([]);
    expect(inputs.filter((p) => /cli-progress|progress-node|src\/datasets\/|src\/node\.ts|src\/cli\//.test(p))).toEqual([]);
    // No static import or require of a built-in survives in the output (lazy lookups by a
    // variable name, as in src/backend/wasm/host.ts, are allowed).
    expect(text.match(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["'](?:node:[\w/]+|events|readline|fs|path|zlib|url)["']/g)).toBeNull();
    expect(text).not.toContain("fashion-mnist-sample");
    expect(text.length).toBeGreaterThan(100_000); // the whole library is in it
  });

  it("control: the Node entry does not bundle for the browser (the check above can fail)", async () => {
    const err = (await bundle("src/node.ts").then(() => null, (e: unknown) => e)) as BuildFailure | null;
    expect(err).not.toBeNull();
    const texts = err!.errors.map((e) => e.text).join("\n");
    expect(texts).toMatch(/Could not resolve "(events|readline|tty|node:\w+)"/);
  });
});
