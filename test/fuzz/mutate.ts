/**
 * Seeded mutators for the loader fuzz suite: byte-level (bit flips, truncation, inserted or
 * overwritten runs, duplicated chunks) and structure-aware (a random leaf of a JSON document
 * replaced by a hostile value, or deleted). Deterministic for a given seed.
 * Called by test/fuzz/targets.ts.
 */

/** mulberry32: a small seeded PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;
export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

/** One random byte-level mutation of `bytes` (a new array). */
export function mutateBytes(r: Rand, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  const at = int(r, Math.max(1, bytes.length));
  switch (int(r, 6)) {
    case 0: { // flip 1-8 bits
      for (let k = 1 + int(r, 8); k > 0; k--) out[int(r, out.length)] ^= 1 << int(r, 8);
      return out;
    }
    case 1: // truncate
      return out.subarray(0, at);
    case 2: { // insert a run of random bytes
      const run = Uint8Array.from({ length: 1 + int(r, 16) }, () => int(r, 256));
      return Uint8Array.from([...out.subarray(0, at), ...run, ...out.subarray(at)]);
    }
    case 3: // overwrite a run with 0x00 / 0xff / 0x7f
      out.fill(pick(r, [0, 0xff, 0x7f]), at, Math.min(out.length, at + 1 + int(r, 12)));
      return out;
    case 4: { // duplicate a chunk
      const len = 1 + int(r, 64);
      return Uint8Array.from([...out.subarray(0, at), ...out.subarray(at, at + len), ...out.subarray(at)]);
    }
    default: // set one byte to an extreme
      out[at] = pick(r, [0, 1, 0x7f, 0x80, 0xff]);
      return out;
  }
}

const HOSTILE: unknown[] = [null, -1, 0, 1, -5, 2 ** 31, -(2 ** 31), 1e30, -1e30, 1e308, 0.5, "x", "", [], {}, [0, 0], [-1, -1], [1e6, 1e6], true, "NaN", [null]];

/** All paths (arrays of keys) to the nodes of a JSON value. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

/** A copy of `doc` with one random node replaced by a hostile value (or deleted, or the whole thing replaced). */
export function mutateJson(r: Rand, doc: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const all = paths(copy);
  const path = pick(r, all);
  const value = pick(r, HOSTILE);
  if (path.length === 0) return value;
  let parent = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (r() < 0.15 && !Array.isArray(parent)) delete parent[last];
  else parent[last] = value;
  return copy;
}
