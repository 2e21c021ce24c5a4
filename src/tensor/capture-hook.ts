/**
 * The hook through which graph capture (src/graph/capture.ts) sees ops: every public op is
 * wrapped by `capturable(name, fn)` (src/ops/captured.ts), and while a listener is installed
 * the outermost op call reports its name, arguments and result. Calls made inside another
 * op, or inside a module that capture treats as one node (`enterOpaque`/`exitOpaque`), are
 * not reported, so each user-visible call becomes exactly one graph node.
 * Lives below ops (like grad-mode.ts) so that ops can be wrapped without importing the graph.
 */

/** Receives one outermost op call: op name, the arguments as passed, the result. */
export type OpListener = (op: string, args: readonly unknown[], out: unknown) => void;

let listener: OpListener | null = null;
let depth = 0;

/** Installs `l` (or removes the listener with null); returns the previous one. Resets nesting. */
export function setOpListener(l: OpListener | null): OpListener | null {
  const prev = listener;
  listener = l;
  depth = 0;
  return prev;
}

/** True while a capture is listening (ops may then refuse value-dependent shortcuts). */
export function isCapturing(): boolean {
  return listener !== null;
}

/** True when an op called now would be reported (a listener, and not nested). */
export function atCaptureTop(): boolean {
  return listener !== null && depth === 0;
}

/** Marks the start of a region whose ops are not reported (an op body, an atomic module). */
export function enterOpaque(): void {
  depth++;
}

export function exitOpaque(): void {
  if (depth > 0) depth--;
}

/** Wraps an op so that captures see it as one call named `name`. */
export function capturable<A extends unknown[], R>(name: string, fn: (...args: A) => R): (...args: A) => R {
  const wrapped = (...args: A): R => {
    if (listener === null || depth > 0) return fn(...args);
    depth++;
    let out: R;
    try {
      out = fn(...args);
    } finally {
      depth--;
    }
    listener(name, args, out);
    return out;
  };
  Object.defineProperty(wrapped, "name", { value: name });
  return wrapped;
}
