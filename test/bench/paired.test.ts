/**
 * The side-by-side bench harness (bench/paired.ts) on fake cases with fixed "timings": the
 * order of the two sides alternates between rounds, ratios are peer time / our time per round,
 * a refusing peer is asked once and footnoted with the GFLOP/s it reported, and the table shows
 * medians and ranges in the case's unit. No clock is read for any assertion.
 */
import { describe, expect, it } from "vitest";
import { display, median, pairedTable, runPaired, type PairedCase } from "../../bench/paired.js";
import { PeerRefused } from "../../bench/torch-peer.js";

describe("bench/paired", () => {
  it("converts seconds into the unit shown", () => {
    expect(display({ unit: "ms" }, 0.25)).toBe(250);
    expect(display({ unit: "µs" }, 2e-6)).toBeCloseTo(2, 9);
    expect(display({ unit: "img/s", work: 64 }, 0.5)).toBe(128);
    expect(display({ unit: "GFLOP/s", work: 2e9 }, 0.5)).toBe(4);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("alternates which side goes first and takes ratios round by round", async () => {
    const calls: string[] = [];
    const ours = [0.1, 0.2, 0.4];
    const peer = [0.2, 0.2, 0.2];
    let i = 0, j = 0;
    const c: PairedCase = {
      label: "step", threads: 1, unit: "ms",
      ours: () => { calls.push("ours"); return ours[i++]; },
      peer: async () => { calls.push("peer"); return peer[j++]; },
    };
    const run = await runPaired([c], 3);
    expect(calls).toEqual(["ours", "peer", "peer", "ours", "ours", "peer"]);
    expect(run.results[0].ratios).toEqual([2, 1, 0.5]);
    expect(run.load).toHaveLength(4);
    const table = pairedTable("Suite", "PyTorch", [c], run);
    expect(table).toContain("| step | 1 | ms | 200 (100–400) | 200 (200–200) | 1.00× (0.50–2.00) |");
    expect(table).toContain("3 interleaved rounds");
  });

  it("stops asking a peer that refused and footnotes the refusal", async () => {
    let asked = 0;
    const c: PairedCase = {
      label: "matmul", threads: 2, unit: "GFLOP/s", work: 2e9,
      ours: () => 1,
      peer: async () => { asked++; throw new PeerRefused(2, 41.5, "PyTorch refused: slow BLAS"); },
    };
    const run = await runPaired([c], 3);
    expect(asked).toBe(1);
    expect(run.results[0].peer).toEqual([]);
    const table = pairedTable("Suite", "PyTorch", [c], run);
    expect(table).toContain("| matmul | 2 | GFLOP/s | 2.00 (2.00–2.00) | — refused† | — |");
    expect(table).toContain("† At 2 thread(s) the PyTorch peer's 1024³ matmul ran below 50 GFLOP/s per thread (41.5–41.5 GFLOP/s");
  });

  it("times our side alone when a case has no peer", async () => {
    let calls = 0;
    const c: PairedCase = { label: "solo", threads: 2, unit: "img/s", work: 64, ours: () => { calls++; return 0.5; }, peer: null };
    const run = await runPaired([c], 3);
    expect(calls).toBe(3);
    expect(pairedTable("Suite", "PyTorch", [c], run)).toContain("| solo | 2 | img/s | 128 (128–128) | — | — |");
  });

  it("numbers other peer errors as notes", async () => {
    const c: PairedCase = { label: "x", threads: 1, unit: "ms", ours: () => 0.001, peer: async () => { throw new Error("boom"); } };
    const table = pairedTable("Suite", "PyTorch", [c], await runPaired([c], 3));
    expect(table).toContain("| x | 1 | ms | 1.00 (1.00–1.00) | — [1] | — |");
    expect(table).toContain("[1] boom");
  });
});
