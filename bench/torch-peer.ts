/**
 * The PyTorch side of the paired bench suites: starts bench/peers/torch_peer.py once under
 * Debian's /usr/bin/python3 (python3-torch 1.13) with OMP_WAIT_POLICY=PASSIVE, reads its hello
 * line (BLAS library, 1024³ matmul GFLOP/s per thread count, thread counts it refuses), then
 * answers one request at a time with the median seconds of one call. Also writes the batches
 * both sides train on (raw float32 / int32 files) so the peer reads exactly ours.
 * Used by bench/paired.ts suites (smallcnn, resnet20, wasm, core) through bench/run.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = "/usr/bin/python3";

export interface PeerHello {
  torch: string;
  blas: Record<string, unknown>;
  /** 1024³ matmul GFLOP/s by thread count, measured by the peer at start. */
  gflops: Record<string, number>;
  allowed_threads: number[];
  refused: Record<string, string>;
}

/** The peer's refusal to time a case: its BLAS ran below 50 GFLOP/s per thread at that thread count. */
export class PeerRefused extends Error {
  constructor(readonly threads: number, readonly gflops: number | null, message: string) {
    super(message);
  }
}

export type PeerRequest = Record<string, unknown> & { op: string; threads: number; min_time?: number };

export class TorchPeer {
  private readonly pending: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "qat-bench-"));
  private files = 0;
  private stderr = "";

  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly lines: Interface, readonly hello: PeerHello) {
    this.lines.on("line", (line) => this.pending.shift()?.resolve(line));
    child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
    child.once("exit", () => {
      const e = new Error(`PyTorch peer exited: ${this.stderr.trim().split("\n").pop() ?? ""}`);
      for (const p of this.pending.splice(0)) p.reject(e);
    });
  }

  /** Starts the peer for the given thread counts; null (with the reason on stderr) when torch is absent. */
  static async start(threads: number[]): Promise<TorchPeer | null> {
    if (!existsSync(PY)) return null;
    const child = spawn(PY, [path.join(HERE, "peers", "torch_peer.py"), ...threads.map(String)], {
      env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" },
    });
    let err = "";
    const onErr = (d: Buffer) => (err += d.toString());
    child.stderr.on("data", onErr);
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string | null>((resolve) => {
      lines.once("line", resolve);
      child.once("exit", () => resolve(null));
    });
    child.stderr.off("data", onErr);
    if (first === null) {
      console.error(`(PyTorch peer unavailable: ${err.trim().split("\n").pop() ?? "exited"})`);
      return null;
    }
    return new TorchPeer(child, lines, JSON.parse(first) as PeerHello);
  }

  /** Median seconds of one call of the request, or the peer's refusal / error as a thrown Error. */
  async seconds(req: PeerRequest): Promise<number> {
    const line = await new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(req) + "\n", (e) => e && reject(e));
    });
    const r = JSON.parse(line) as { seconds?: number; refused?: string; gflops?: number | null; error?: string };
    if (r.seconds !== undefined) return r.seconds;
    if (r.refused) throw new PeerRefused(req.threads, r.gflops ?? null, `PyTorch refused: ${r.refused}`);
    throw new Error(`PyTorch peer error on ${req.op}: ${r.error ?? line}`);
  }

  /** Writes an array as a raw little-endian file the peer reads with numpy.fromfile. */
  writeArray(data: Float32Array | Int32Array): string {
    const file = path.join(this.dir, `t${this.files++}.bin`);
    writeFileSync(file + ".tmp", new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    renameSync(file + ".tmp", file);
    return file;
  }

  /** One line for a results header: version, BLAS, matmul GFLOP/s by threads, refusals. */
  describe(): string {
    const blas = this.hello.blas as { libraries?: string[]; openblas_core?: string; OPENBLAS_CORETYPE?: string | null };
    const lib = (blas.libraries ?? []).map((l) => path.basename(l)).find((l) => /openblas/i.test(l)) ?? (blas.libraries ?? []).join(", ");
    const gf = Object.entries(this.hello.gflops).map(([t, g]) => `${g.toFixed(0)} GFLOP/s on ${t} thread(s)`).join(", ");
    const low = Object.keys(this.hello.refused);
    const refused = low.length ? ` (below 50 GFLOP/s per thread at ${low.join(", ")} thread(s): checked again when a case asks)` : "";
    return `PyTorch ${this.hello.torch}, BLAS ${lib || "unknown"}${blas.openblas_core ? ` (${blas.openblas_core} kernels${blas.OPENBLAS_CORETYPE ? `, OPENBLAS_CORETYPE=${blas.OPENBLAS_CORETYPE}` : ""})` : ""}, 1024³ matmul at start-up ${gf}${refused}, OMP_WAIT_POLICY=PASSIVE`;
  }

  close(): void {
    this.child.stdin.end();
    this.lines.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
