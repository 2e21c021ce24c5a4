/**
 * Python-style value formatting for module reprs (`Conv2d(1, 16, kernel_size=(3, 3), …)`), so
 * that `module.toString()` prints what PyTorch's `repr(module)` prints. Called by nn layers.
 */

/** A float as Python's repr writes it: 0.1, 1.0, 1e-05, 1.5e-05, -inf. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  const ax = Math.abs(x);
  if (ax < 1e-4 || ax >= 1e16) {
    const [mant, exp] = x.toExponential().split("e");
    const e = Number(exp);
    const sign = e < 0 ? "-" : "+";
    return `${mant}e${sign}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(x);
}

/** Python bool literal. */
export function pyBool(b: boolean): string {
  return b ? "True" : "False";
}

/** A tuple of ints as Python writes it: (3, 3) or (1,). */
export function pyTuple(xs: readonly number[]): string {
  return xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(", ")})`;
}

/** An int or a tuple of ints, as given by the user (PyTorch keeps pool arguments unexpanded). */
export function pyIntOrTuple(v: number | readonly number[]): string {
  return typeof v === "number" ? String(v) : pyTuple(v);
}

/** Indents every line but the first by `spaces` (torch.nn.modules.module._addindent). */
export function addIndent(s: string, spaces: number): string {
  const lines = s.split("\n");
  if (lines.length === 1) return s;
  const pad = " ".repeat(spaces);
  return [lines[0], ...lines.slice(1).map((l) => pad + l)].join("\n");
}
