/**
 * Fuzz runner, one child process per loader (spawned by test/fuzz/loaders.test.ts and
 * `npm run fuzz`, with a V8 heap cap): `node --max-old-space-size=512 --import tsx
 * test/fuzz/runner.ts <target> <cases> <seed>` loads `cases` seeded mutations of the
 * target's valid inputs and prints one JSON line: outcome counts by error class, every
 * untyped error (not a QatError) with its case number, and the peak RSS in MB.
 */
import { QatError } from "../../src/tensor/errors.js";
import { rng } from "./mutate.js";
import { TARGETS } from "./targets.js";

const [name, casesArg, seedArg] = process.argv.slice(2);
const target = TARGETS[name];
if (!target) throw new Error(`unknown fuzz target '${name}' (${Object.keys(TARGETS).join(", ")})`);
const cases = Number(casesArg ?? 200);
const seed = Number(seedArg ?? 1);
const r = rng(seed);
process.removeAllListeners("warning"); // YAML's notes on odd keys are expected here; errors are what is judged
const seeds = target.seeds();
for (const s of seeds) target.load(s); // the valid inputs load

const outcomes: Record<string, number> = {};
const untyped: { case: number; error: string }[] = [];
let peak = process.memoryUsage.rss();
for (let i = 0; i < cases; i++) {
  const input = target.mutate(r, seeds[i % seeds.length]);
  let outcome = "ok";
  try {
    target.load(input);
  } catch (e) {
    if (e instanceof QatError) outcome = e.name;
    else {
      outcome = "UNTYPED";
      untyped.push({ case: i, error: `${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 300)}` });
    }
  }
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  peak = Math.max(peak, process.memoryUsage.rss());
}
console.log(JSON.stringify({ target: name, cases, seed, outcomes, untyped, peakRssMB: Math.round(peak / 2 ** 20) }));
