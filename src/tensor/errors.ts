/**
 * Typed errors thrown by qat-ts. Every error names the operation (or file, key, layer) at fault
 * and the offending shapes or values, so a user can fix the call without reading our source.
 * Called from everywhere: ops validate their inputs before any kernel runs.
 */

/** Base class of every error qat-ts throws on purpose. `code` is stable for programs. */
export class QatError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Shapes that do not fit the operation (mismatch, failed broadcast, bad reshape). */
export class ShapeError extends QatError {
  constructor(message: string) {
    super("E_SHAPE", message);
  }
}

/** A dtype the operation does not accept, or two dtypes that do not go together. */
export class DTypeError extends QatError {
  constructor(message: string) {
    super("E_DTYPE", message);
  }
}

/** An axis outside [-rank, rank). */
export class AxisError extends QatError {
  constructor(message: string) {
    super("E_AXIS", message);
  }
}

/** A value outside what the operation allows (negative size, non-finite input, bad option). */
export class ValueError extends QatError {
  constructor(message: string) {
    super("E_VALUE", message);
  }
}

/** A file or byte buffer that cannot be parsed (truncated, corrupt, wrong magic). */
export class FormatError extends QatError {
  constructor(message: string) {
    super("E_FORMAT", message);
  }
}

/** A feature the caller asked for that this build does not provide. */
export class NotSupportedError extends QatError {
  constructor(message: string) {
    super("E_NOT_SUPPORTED", message);
  }
}

/**
 * A model that graph capture cannot represent: its forward reads tensor values (control flow
 * on data), or passes an op an argument a graph cannot hold. Names the node and the op.
 */
export class CaptureError extends QatError {
  constructor(message: string) {
    super("E_CAPTURE", message);
  }
}

/** Formats a shape for messages: [2, 3, 4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
