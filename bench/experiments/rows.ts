/**
 * Shared pieces of the issue-18 experiment scripts (vit.ts, charlm.ts): command-line options,
 * result rows kept by variant in a JSON file rewritten atomically as each row finishes (a run
 * can be resumed or extended with --variants), running each variant without letting one
 * failure stop the others, the schemes by variant name and their conversion.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../../src/nn/fs.js";
import type { QConfig } from "../../src/quant/prepare.js";
import { qconfigs } from "../../src/quant/qconfig.js";
import { convertWithReport } from "../../src/quant/convert.js";
import type { QatModel } from "../../src/quant/stubs.js";
import type { Int8Model } from "../../src/int8/model.js";

/** The quantization scheme of a variant's first word. */
export const SCHEMES: Record<string, () => QConfig> = { int8: () => qconfigs.x86, "8da4w": () => qconfigs.int8DynActInt4Weight, int4wo: () => qconfigs.int4WeightOnly };

/**
 * Converts a calibrated / trained model for a variant: `<scheme>-<mode>-integer` with integer
 * softmax + LayerNorm, otherwise with float islands; returns the Int8Model and its islands' ops.
 */
export function convertVariant(qm: QatModel, integer: string | undefined): { int8: Int8Model; islands: string[] } {
  const { model, report } = convertWithReport(qm, integer === "integer" ? { integerOps: ["softmax", "layerNorm"] } : {});
  return { int8: model, islands: [...new Set(report.islands.map((i) => i.fn))] };
}

/** The value after `--name` on the command line, or `def`. */
export const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};

/** Rows by variant, loaded from `file` when it exists; `record` replaces or appends one and rewrites the file. */
export function resultRows<R extends { variant: string }>(file: string, describe: (r: R) => string): { rows: R[]; record(r: R): void } {
  const rows: R[] = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as R[]) : [];
  return {
    rows,
    record(r: R): void {
      const i = rows.findIndex((x) => x.variant === r.variant);
      if (i >= 0) rows[i] = r;
      else rows.push(r);
      writeFileAtomic(file, JSON.stringify(rows, null, 2));
      console.log(describe(r));
    },
  };
}

/** Runs each variant but "float" (trained first by the script); a failure is printed and the next variant runs. */
export function runVariants(variants: readonly string[], run: (v: string) => void, label: string): void {
  for (const v of variants) {
    if (v === "float") continue;
    try {
      run(v);
    } catch (e) {
      console.error(`[${label}] ${v} failed: ${(e as Error).stack ?? String(e)}`);
    }
  }
}
