/**
 * The one CLI grammar (issue #19), in process through main(): every verb's `--help` has an
 * `Example:` and the common options where they apply (--from, --out with its runs/<verb>
 * default, --json, --config), data/compute options only on the verbs that use them; the
 * human number formats; the progress channel (bar only on a TTY, Keras-style lines
 * elsewhere, stderr under --json, nothing with --no-progress).
 */
import { describe, expect, it, vi } from "vitest";
import { buildProgram, main } from "../../src/cli/main.js";
import { sig, table } from "../../src/cli/format.js";
import { Progress } from "../../src/cli/progress.js";
import { formatBench } from "../../src/cli/commands/bench.js";

/** stdout of `qat <args>` (help goes through process.stdout.write). */
async function helpOf(...args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  try {
    expect(await main([...args, "--help"])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out.join("");
}

const VERBS = ["train", "qat", "calibrate", "convert", "export", "eval", "import", "inspect", "report", "bench", "demo", "export-torch", "import-torch"];
/** Verbs that read an input (all but the two that start from nothing). */
const READS = VERBS.filter((v) => v !== "train" && v !== "demo");
/** Verbs that compute over data (and so take --data/--subset/--threads/--backend/--memory/--no-progress). */
const COMPUTE = ["train", "qat", "calibrate", "eval", "import", "inspect", "bench", "demo"];

describe("qat: one grammar", () => {
  it("the program lists exactly these verbs", () => {
    expect(buildProgram().commands.map((c) => c.name()).sort()).toEqual([...VERBS].sort());
  });

  for (const verb of VERBS) {
    it(`${verb} --help: an example, and the options that apply`, async () => {
      const h = await helpOf(verb);
      expect(h).toMatch(new RegExp(`Example:\\n  qat ${verb} `));
      for (const o of ["--json", "--config <file>", "--out <dir>"]) expect(h, o).toContain(o);
      expect(/--from <\w+>/.test(h), "--from").toBe(READS.includes(verb));
      if (verb !== "report") expect(h.replace(/\s+/g, " ")).toContain(`(default: "runs/${verb}")`); // help wraps long lines
      for (const o of ["--subset", "--threads", "--backend", "--memory", "--no-progress"]) expect(h.includes(o), `${verb} ${o}`).toBe(COMPUTE.includes(verb));
    });
  }

  it("the top-level help states the grammar and has an example", async () => {
    const h = await helpOf();
    expect(h).toContain("--from <run dir | file>");
    expect(h).toContain("Example:");
  });
});

describe("human formats", () => {
  it("sig rounds to 3 significant digits without exponents", () => {
    expect([1234.5, 99.96, 2.2134, 0.012345, 0.000123456, 27.06, 0, -3.14159].map((x) => sig(x))).toEqual(["1230", "100", "2.21", "0.0123", "0.000123", "27.1", "0", "-3.14"]);
    expect([null, undefined, NaN, Infinity].map((x) => sig(x))).toEqual(["-", "-", "-", "∞"]);
    expect(sig(1.23456, 4)).toBe("1.235");
  });

  it("bench's table shows its figures to 3 significant digits (JSON keeps them whole)", () => {
    const t = formatBench({ from: "d", models: [{ file: "d/model.int8.safetensors", kind: "int8", latencyMs: { batch1: 0.70213456, batch256: 94.24987 } }, { file: "d/float.ckpt.safetensors", kind: "float", latencyMs: { batch1: 2.2134, batch256: 1275.4321 } }], int8SpeedupB256: 13.532 });
    expect(t.split("\n")).toEqual([
      "model                   kind   batch 1 (ms)  batch 256 (ms)",
      "----------------------  -----  ------------  --------------",
      "model.int8.safetensors  int8   0.702         94.2",
      "float.ckpt.safetensors  float  2.21          1280",
      "",
      "int8 speed-up over float at batch 256: 13.5×",
    ]);
  });

  it("table aligns columns under a rule", () => {
    expect(table(["a", "bb"], [["ccc", "d"], ["e", "ffff"]])).toBe("a    bb\n---  ----\nccc  d\ne    ffff");
  });
});

describe("progress channel", () => {
  const sink = (isTTY: boolean) => {
    const lines: string[] = [];
    return { stream: { isTTY, write: (s: string) => lines.push(s) }, lines };
  };

  it("not a TTY: one line per finished stage (also when the consumer breaks early), no bar", () => {
    const { stream, lines } = sink(false);
    const p = new Progress({}, stream);
    const seen: number[] = [];
    for (const x of p.iterate("calibrate", [1, 2, 3, 4], 4)) {
      seen.push(x);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(p.stage("inspect", () => 5, (r) => `${r} layers`)).toBe(5);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^calibrate\s+2\/4 batches · \d+\.\d s\n$/);
    expect(lines[1]).toMatch(/^inspect\s+\d+\.\d s · 5 layers\n$/);
  });

  it("an epoch line is Keras-style: steps, time, loss, accuracy, test metrics, throughput", () => {
    const { stream, lines } = sink(false);
    new Progress({}, stream).epoch("qat", { kind: "epoch", epoch: 2, step: 20, lr: 0.1, trainLoss: 0.51234, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy: 0.75, seconds: 3.21, imagesPerSec: 1234.4 }, 3, 10);
    expect(lines).toEqual(["qat epoch 2/3        10 steps · 3.2 s · loss 0.5123 · acc 80.00 % · test loss 0.6000 · test acc 75.00 % · 1,234 img/s\n"]);
  });

  it("--no-progress writes nothing; an iterable that fails writes no line", () => {
    const { stream, lines } = sink(false);
    const p = new Progress({ progress: false }, stream);
    for (const _ of p.iterate("x", [1], 1)) void _;
    p.line("y");
    const q = new Progress({}, stream);
    function* failing() {
      yield 1;
      throw new Error("boom");
    }
    expect(() => {
      for (const _ of q.iterate("z", failing(), 2)) void _;
    }).toThrow("boom");
    expect(lines).toEqual([]);
  });

  it("a TTY gets a bar that is replaced by the line; --json sends progress to stderr", () => {
    const { stream, lines } = sink(true);
    const p = new Progress({}, stream);
    expect(p.tty).toBe(true);
    for (const _ of p.iterate("eval", [1, 2], 2)) void _;
    expect(lines.at(-1)).toMatch(/^eval\s+2\/2 batches/);
    expect(lines.length).toBeGreaterThan(1); // the bar's frames came first
    expect(new Progress({ json: true }).stream).toBe(process.stderr);
    expect(new Progress({}).stream).toBe(process.stdout);
  });
});
