/**
 * Builds and serves the example page (examples/browser): esbuild bundles ./main.ts (qat-ts +
 * onnxruntime-web) for the browser, and a small HTTP server serves it with the two headers
 * that make the page cross-origin isolated (so qat-ts can use its Web Worker pool on
 * SharedArrayBuffer), plus onnxruntime-web's .wasm files under /ort/ and the Fashion-MNIST
 * sample under /data/ — all local, nothing fetched from the network.
 *   node --import tsx examples/browser/serve.ts [--port 8080]     then open http://localhost:8080/
 * Also used by test/browser/browser.test.ts (buildPage, startServer).
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const ORT_DIST = path.join(ROOT, "node_modules/onnxruntime-web/dist");
const SAMPLE = path.join(ROOT, "assets/fashion-mnist-sample");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".gz": "application/octet-stream", // served as bytes: the page gunzips them itself
};

/** The page: index.html and the bundled main.js (built in memory). */
export async function buildPage(): Promise<Map<string, Uint8Array>> {
  const r = await build({
    entryPoints: [path.join(HERE, "main.ts")],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    outfile: "main.js",
    sourcemap: "inline",
    logLevel: "warning",
  });
  return new Map([
    ["/", readFileSync(path.join(HERE, "index.html"))],
    ["/main.js", r.outputFiles[0].contents],
  ]);
}

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the built page on 127.0.0.1:`port` (0: any free port) with COOP/COEP headers. */
export async function startServer(files: Map<string, Uint8Array>, port = 0): Promise<PageServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let body: Uint8Array | undefined = files.get(url.pathname);
    const name = path.basename(url.pathname);
    try {
      if (!body && url.pathname.startsWith("/ort/") && /^ort-wasm[\w.-]*\.(wasm|mjs)$/.test(name)) body = readFileSync(path.join(ORT_DIST, name));
      if (!body && url.pathname.startsWith("/data/") && /^[\w.-]+\.gz$/.test(name)) body = readFileSync(path.join(SAMPLE, name));
    } catch {
      body = undefined;
    }
    const headers = {
      // Cross-origin isolation: SharedArrayBuffer, shared WebAssembly memory, the worker pool.
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-store",
    };
    if (!body) {
      res.writeHead(404, headers).end("not found");
      return;
    }
    const ext = url.pathname === "/" ? ".html" : path.extname(name);
    res.writeHead(200, { ...headers, "Content-Type": TYPES[ext] ?? "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  const s = await startServer(await buildPage(), port);
  console.log(`qat-ts browser example: ${s.url.replace("127.0.0.1", "localhost")} (Ctrl-C to stop)`);
}
