/**
 * Side-by-side measurement for the paired bench suites (smallcnn, resnet20, onnx, wasm, core):
 * each case is timed on our side and on the peer's (PyTorch through bench/torch-peer.ts, or
 * onnxruntime-node in process), interleaved — round r runs every case as ours then peer, the
 * next round peer then ours — for ≥ 3 rounds. Each timing is the median seconds of one call
 * over ≥ minTime; the table gives, per case, the median over rounds and the range (min–max) of
 * both sides and of the per-round ratio peer time / our time (> 1 = we are faster). The
 * machine's load average is sampled before every round and reported with the table, because
 * this 2-core machine is shared. Also `timeit`, the median timer every suite uses.
 * Called by bench/run.ts.
 */
import os from "node:os";
import { wasmPathsActive, setNumThreads } from "../src/backend/index.js";
import { workersReadySync } from "../src/backend/wasm/index.js";
import { PeerRefused } from "./torch-peer.js";

export type PairedUnit = "img/s" | "ms" | "µs" | "GFLOP/s";

export interface PairedCase {
  label: string;
  /** Threads on both sides (our setNumThreads, torch.set_num_threads, ORT intraOpNumThreads). */
  threads: number;
  unit: PairedUnit;
  /** Work per call for throughput units: images (img/s) or floating-point operations (GFLOP/s). */
  work?: number;
  /** Median seconds of one call on our side. */
  ours: () => number | Promise<number>;
  /** Median seconds of one call on the peer's side; null = no peer for this case. */
  peer: (() => Promise<number>) | null;
}

export interface PairedResult {
  label: string;
  threads: number;
  unit: PairedUnit;
  ours: number[];
  peer: number[];
  ratios: number[];
  /** Why the peer has no figure (refused, error), if so. */
  note?: string;
  /** The peer's BLAS GFLOP/s when it refused (below 50 per thread), if it said. */
  refusedGflops?: number | null;
}

export interface PairedRun {
  results: PairedResult[];
  /** 1-minute load averages sampled before each round and after the last. */
  load: number[];
}

/** Median seconds of fn over at least minReps runs and minTime seconds (after one warm-up). */
export function timeit(fn: () => void, minTime = 0.5, minReps = 3): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minTime * 1e3) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1e3);
  }
  return median(times);
}

/** timeit for an async fn (a peer's session.run): median seconds over at least minReps runs and minTime seconds. */
export async function timeitAsync(fn: () => Promise<unknown>, minTime = 0.5, minReps = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minTime * 1e3) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1e3);
  }
  return median(times);
}

/** Seconds → the unit shown (throughputs use the case's work per call). */
export function display(c: { unit: PairedUnit; work?: number }, seconds: number): number {
  switch (c.unit) {
    case "ms": return seconds * 1e3;
    case "µs": return seconds * 1e6;
    case "img/s": return (c.work ?? 1) / seconds;
    case "GFLOP/s": return (c.work ?? 0) / seconds / 1e9;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function setThreads(n: number): void {
  if (!wasmPathsActive()) return;
  setNumThreads(n);
  workersReadySync();
}

/** Runs the cases interleaved for `rounds` rounds (alternating which side goes first). */
export async function runPaired(cases: PairedCase[], rounds: number): Promise<PairedRun> {
  const results: PairedResult[] = cases.map((c) => ({ label: c.label, threads: c.threads, unit: c.unit, ours: [], peer: [], ratios: [] }));
  const load: number[] = [];
  for (let r = 0; r < rounds; r++) {
    load.push(os.loadavg()[0]);
    for (const [i, c] of cases.entries()) {
      const res = results[i];
      const peerActive = c.peer !== null && res.note === undefined;
      const timeOurs = async () => { setThreads(c.threads); return await c.ours(); };
      const timePeer = async () => {
        try {
          return await c.peer!();
        } catch (e) {
          res.note = (e as Error).message;
          if (e instanceof PeerRefused) res.refusedGflops = e.gflops;
          return undefined;
        }
      };
      let ours: number, peer: number | undefined;
      if (r % 2 === 0 || !peerActive) {
        ours = await timeOurs();
        peer = peerActive ? await timePeer() : undefined;
      } else {
        peer = await timePeer();
        ours = await timeOurs();
      }
      res.ours.push(ours);
      if (peer !== undefined) {
        res.peer.push(peer);
        res.ratios.push(peer / ours);
      }
      console.error(`  round ${r + 1}/${rounds} · ${c.label} (${c.threads} thr): ours ${(ours * 1e3).toFixed(2)} ms${peer !== undefined ? `, peer ${(peer * 1e3).toFixed(2)} ms, ratio ${(peer / ours).toFixed(2)}` : ""}`);
    }
  }
  load.push(os.loadavg()[0]);
  return { results, load };
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** "median (min–max)" of figures already in display units. */
function spread(xs: number[], suffix = ""): string {
  if (xs.length === 0) return "—";
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return `${fmt(median(xs))}${suffix} (${fmt(lo)}–${fmt(hi)})`;
}

/** Markdown table: medians over rounds with ranges; footnotes for refused / failed peer cases. */
export function pairedTable(title: string, peerName: string, cases: PairedCase[], run: PairedRun): string {
  const lines = [
    `| ${title} | threads | unit | qat-ts, median (range) | ${peerName}, median (range) | ratio ${peerName} time / ours (> 1 = we are faster) |`,
    "|---|---:|---|---:|---:|---:|",
  ];
  const notes: string[] = [];
  const refused = new Map<number, number[]>();
  for (const [i, c] of cases.entries()) {
    const r = run.results[i];
    const ours = r.ours.map((s) => display(c, s));
    const peer = r.peer.map((s) => display(c, s));
    let mark = "";
    if (r.refusedGflops !== undefined) {
      mark = " refused†";
      refused.set(c.threads, [...(refused.get(c.threads) ?? []), ...(r.refusedGflops === null ? [] : [r.refusedGflops])]);
    } else if (r.note !== undefined) {
      mark = ` [${(notes.indexOf(r.note) + 1 || notes.push(r.note))}]`;
    }
    lines.push(`| ${c.label} | ${c.threads} | ${c.unit} | ${spread(ours)} | ${spread(peer)}${mark} | ${spread(r.ratios, "×")} |`);
  }
  const rounds = run.results[0]?.ours.length ?? 0;
  lines.push("", `${rounds} interleaved rounds; 1-minute load average ${run.load.map((l) => l.toFixed(1)).join(" → ")} (${os.cpus().length} cores).`);
  for (const [t, g] of refused) {
    const seen = g.length ? ` (${fmt(Math.min(...g))}–${fmt(Math.max(...g))} GFLOP/s measured when asked)` : "";
    lines.push(`† At ${t} thread(s) the PyTorch peer's 1024³ matmul ran below 50 GFLOP/s per thread${seen}: it refuses to report there (with OpenBLAS, as the header line shows, that means other jobs held the cores).`);
  }
  for (const [i, n] of notes.entries()) lines.push(`[${i + 1}] ${n}`);
  return lines.join("\n");
}
